"""Signed records of every format, made offline as a server would seal them."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

from auction.core.events import Event
from auction.core.record import audit_record
from auction.core.spec import parse_spec
from auction.documents import load_document
from auction.sim.bots import make_bots
from auction.sim.runner import Simulation
from auction.sim.script import parse_script
from auction.transparency.keys import SigningKey, TrustedKey, Window
from auction.transparency.notes import SignerKey
from auction.transparency.sealing import seal

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"
FORMATS = ["rounds", "rounds-features", "rounds-lifecycle", "open", "japanese", "dutch", "multilot"]
SECRET = b"record-test-secret-0123456789abcdef"
KEY = SigningKey(SignerKey.generate("test.example"), Window())


@functools.cache
def simulated(name: str) -> tuple[dict[str, Any], tuple[Event, ...]]:
    """The audit record (unsealed) and the journal of a bot-played example auction."""
    spec = parse_spec(load_document(EXAMPLES / f"{name}.toml"))
    actions = []
    if name == "rounds":
        actions = parse_script(load_document(EXAMPLES / "rounds-script.toml"), spec.start_at)
    sim = Simulation(spec, actions=actions, bots=make_bots(spec, seed=3))
    auction = sim.run()
    assert auction.finished, sim.stopped
    return audit_record(auction, sim.journal), tuple(sim.journal)


def signed(name: str, key: SigningKey = KEY) -> dict[str, Any]:
    """A fresh sealed record of an example, as JSON would carry it."""
    record, events = simulated(name)
    sealed = seal(copy.deepcopy(record), list(events), secret=SECRET, keys=[key])
    loaded: dict[str, Any] = json.loads(json.dumps(sealed))
    return loaded


def trusted(key: SigningKey = KEY) -> list[TrustedKey]:
    return [key.trusted]
