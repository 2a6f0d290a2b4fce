"""Checkpoints: a signed statement "the log of this auction had this size and root".

The text follows C2SP's checkpoint format (https://c2sp.org/tlog-checkpoint):
origin, tree size, root hash (base64), then extension lines of our own::

    underbid/UA-2026-0001
    41
    kPYBuA3k8Aa0cVn1h6VmXxWd1sT1pJq0hVn2o0H1b7c=
    spec 8cW8bJ0Y6cAk0Jx3oZl2vB0m1t0a9oVb4QxAq2d7W4s=
    log-key 4M1mJ0yH3q9oZ6aB7c8d9e0f1g2h3i4j5k6l7m8n9o0=
    time 2026-12-01T10:21:00.000Z

- ``origin`` is the server's ``record.origin`` and the auction id;
- ``spec`` is the spec digest (:func:`auction.core.ledger.spec_digest`): the
  checkpoint vouches for the spec as well as for the events;
- ``log-key`` is the commitment to the log key (:func:`auction.core.ledger.key_commitment`),
  so a published log key can be checked before any leaf;
- ``time`` is the time of the last event in the tree (its ``at``), not the
  moment of signing: a checkpoint is a pure function of the journal and the
  keys, so every node of a cluster signs the very same bytes (Ed25519 is
  deterministic) and a record downloaded from any node carries the same notes.

Errors (the exception tree)::

    ValueError
    └── CheckpointError   malformed, unsigned, forged, or signed by a key not valid then
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from auction.core.record import iso
from auction.transparency.keys import KeyFileError, SigningKey, TrustedKey, describe, parse_time
from auction.transparency.notes import NoteError, parse, sign, signed_by


class CheckpointError(ValueError):
    """A checkpoint that cannot be trusted; the message says exactly why."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    spec: bytes
    """The spec digest."""
    log_key: bytes
    """The commitment to the auction's log key."""
    time: int
    """ms since the epoch: the ``at`` of the last event in the tree."""

    @property
    def auction_id(self) -> str:
        return self.origin.rsplit("/", 1)[-1]

    def text(self) -> str:
        b64 = base64.b64encode
        return (
            f"{self.origin}\n{self.size}\n{b64(self.root).decode()}\n"
            f"spec {b64(self.spec).decode()}\n"
            f"log-key {b64(self.log_key).decode()}\n"
            f"time {iso(self.time)}\n"
        )


def origin_of(prefix: str, auction_id: str) -> str:
    return f"{prefix}/{auction_id}"


def sign_checkpoint(checkpoint: Checkpoint, keys: Sequence[SigningKey]) -> str | None:
    """The signed note, by every key valid at the checkpoint's time (None: no key is)."""
    signers = [
        (k.key.name, k.trusted.key.id, k.private) for k in keys if k.window.covers(checkpoint.time)
    ]
    if not signers:
        return None
    return sign(checkpoint.text(), signers)


def _hash(text: str, what: str) -> bytes:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointError(f"the {what} is not base64") from None
    if len(data) != 32:
        raise CheckpointError(f"the {what} is not a SHA-256 hash")
    return data


def parse_checkpoint(text: str) -> Checkpoint:
    """The checkpoint in a note's text (syntax only)."""
    lines = text.split("\n")
    if len(lines) != 7 or lines[-1] != "":
        raise CheckpointError("a checkpoint has 6 lines: origin, size, root, spec, log-key, time")
    origin, size, root, *extensions = lines[:-1]
    if not origin or " " in origin:
        raise CheckpointError(f"bad origin line {origin!r}")
    if not size.isdigit() or (size != "0" and size.startswith("0")):
        raise CheckpointError(f"bad tree size {size!r}")
    values: dict[str, str] = {}
    for line, name in zip(extensions, ("spec", "log-key", "time"), strict=True):
        key, sep, value = line.partition(" ")
        if key != name or not sep:
            raise CheckpointError(f"expected a {name!r} line, got {line[:40]!r}")
        values[name] = value
    try:
        time = parse_time(values["time"], "time")
    except KeyFileError as exc:
        raise CheckpointError(str(exc)) from None
    checkpoint = Checkpoint(
        origin,
        int(size),
        _hash(root, "root hash"),
        _hash(values["spec"], "spec digest"),
        _hash(values["log-key"], "log-key commitment"),
        time,
    )
    if checkpoint.text() != text:
        raise CheckpointError("the checkpoint is not written in its canonical form")
    return checkpoint


def open_checkpoint(
    note: str, trusted: Sequence[TrustedKey]
) -> tuple[Checkpoint, list[TrustedKey]]:
    """Parse and verify a signed checkpoint; returns it with the trusted keys that signed.

    Raises :class:`CheckpointError` when it is malformed, when a trusted key's
    signature on it does not verify (forged or altered), when a trusted key
    signed it outside the key's window (expired or not yet valid), or when no
    trusted key signed it at all (stripped or foreign).
    """
    try:
        parsed = parse(note)
    except NoteError as exc:
        raise CheckpointError(f"not a signed note: {exc}") from None
    checkpoint = parse_checkpoint(parsed.text)
    signers: list[TrustedKey] = []
    for key in trusted:
        verdict = signed_by(parsed, key.key)
        if verdict is None:
            continue
        if not verdict:
            raise CheckpointError(
                f"the signature by {key.key.name}+{key.key.hex_id} does not verify: "
                "it was forged, or the checkpoint was altered after it was signed"
            )
        if not key.window.covers(checkpoint.time):
            raise CheckpointError(
                f"signed by {describe(key)}, but the checkpoint's time is "
                f"{iso(checkpoint.time)}: the key was not valid then"
            )
        signers.append(key)
    if not signers:
        names = ", ".join(f"{s.name}+{s.key_id.hex()}" for s in parsed.signatures)
        raise CheckpointError(
            f"no signature by a trusted key (it is signed by: {names or 'nobody'})"
        )
    return checkpoint, signers
