"""``underbid bridge`` and ``underbid serve`` with ``bridge.enabled``: the
status of a state file, clear errors for a bridge that cannot run, one bridge
per state file, and the bridge that runs beside the server."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from auction.cli import EXIT_INPUT, main
from bridge.store import BridgeStore, LotRecord
from tests.bridge.world import iso_in, until
from tests.cdb import seed
from tests.cdb.double import API, AUCTION_TOKEN, DS_PASSWORD, DS_USER, CdbDouble
from tests.gateway.server_fixture import SECRET
from tests.http_server import free_socket, serve_app

Cap = pytest.CaptureFixture[str]


def test_status_of_a_state_file(tmp_path: Path, capsys: Cap) -> None:
    state = tmp_path / "b.sqlite3"
    assert main(["bridge", "--state", str(state), "--status"]) == 0
    assert capsys.readouterr().out == "feed offset: (none yet)\nlots: 0\n"
    store = BridgeStore(state)
    store.set_offset("42.0")
    store.put(LotRecord("t1_l1", "t1", "l1", "UA-1", 1_900_000_000_000, "linked"))
    store.put(LotRecord("t2", "t2", "", "UA-2", 1_900_000_000_000, "planned", error="HTTP 422: no"))
    store.close()
    assert main(["bridge", "--state", str(state), "--status"]) == 0
    out = capsys.readouterr().out
    assert "feed offset: 42.0" in out and "lots: 2" in out
    assert "t1_l1  linked" in out and "t2  planned  start 1900000000000  (HTTP 422: no)" in out


def test_a_bridge_that_cannot_run_says_why(tmp_path: Path, capsys: Cap) -> None:
    state = str(tmp_path / "b.sqlite3")
    assert main(["bridge", "--state", state]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "the bridge needs bridge.cdb_url (--cdb), bridge.ds_url (--ds)" in err
    assert "bridge.underbid_url (--underbid)" in err and "security.token_secret" in err
    assert main(["bridge", "--state", state, "--poll", "0"]) == EXIT_INPUT
    assert "--poll must be between 0 and 3600" in capsys.readouterr().err
    assert main(["bridge", "--config", str(tmp_path / "missing.toml")]) == EXIT_INPUT
    assert "cannot read the settings file" in capsys.readouterr().err
    held = BridgeStore(state)
    try:
        argv = [
            "bridge",
            "--state",
            state,
            "--cdb",
            "http://127.0.0.1:9/api",
            "--ds",
            "http://127.0.0.1:9/upload",
            "--underbid",
            "http://127.0.0.1:9",
            "--token",
            "t",
        ]
        assert main(argv) == EXIT_INPUT
        assert "another bridge is using this state file" in capsys.readouterr().err
    finally:
        held.close()


async def test_serve_runs_the_bridge_when_enabled(tmp_path: Path) -> None:
    cdb = CdbDouble()
    async with serve_app(cdb.app()) as base:
        cdb.base = base
        tender = cdb.add(seed.simple(iso_in(120)))
        sock = free_socket()
        port = sock.getsockname()[1]
        sock.close()
        config = tmp_path / "serve.toml"
        config.write_text(
            f"""
[server]
port = {port}
[security]
token_secret = "{SECRET}"
[bridge]
enabled = true
cdb_url = "{base}{API}"
ds_url = "{base}/upload"
ds_auth = "{DS_USER}:{DS_PASSWORD}"
state = "{tmp_path / "serve-bridge.sqlite3"}"
poll_ms = 100
procurement_method_types = ["belowThreshold"]
""",
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("UNDERBID_")}
        env["UNDERBID_BRIDGE_CDB_TOKEN"] = AUCTION_TOKEN
        log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "auction.cli",
            "serve",
            "--memory",  # not ./underbid-data in the working directory
            "--config",
            str(config),
            stdout=log,
            stderr=log,
            env=env,
        )
        try:
            await until(
                lambda: 200 in cdb.statuses("PATCH", rf"/tenders/{tender}/auction$"),
                timeout=20,
                what="the links from the bridge inside serve",
            )
            url = cdb.tenders[tender]["bids"][0]["participationUrl"]
            assert url.startswith(f"http://127.0.0.1:{port}/bid/{tender}#token=")
        finally:
            process.send_signal(signal.SIGINT)  # Ctrl-C: the server stops, the bridge with it
            code = await asyncio.wait_for(process.wait(), 15)
            log.close()
        output = (tmp_path / "serve.log").read_text()
        assert code in (0, 130), output
        assert "Traceback" not in output
