"""``kill -9`` of an ``underbid bridge`` process mid-way, again and again: each
time its writes had landed in the CDB but their answers had not reached it.
Restarted on the same state file, it goes on from where it was: nothing is
planned twice, no document is attached twice, nothing is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path
from typing import IO

from bridge.plan import auction_id_of
from tests.bridge.test_e2e import check_landed
from tests.bridge.world import World, iso_in, until, world
from tests.cdb import seed


class BridgeProcess:
    """``python -m auction.cli bridge`` against a world, its output in a file."""

    def __init__(self, w: World, tmp_path: Path) -> None:
        self.config = w.settings_file(tmp_path / "bridge.toml")
        self.log_path = tmp_path / "bridge.log"
        self.process: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0

    async def start(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        env = {k: v for k, v in os.environ.items() if not k.startswith("UNDERBID_")}
        env["UNDERBID_BRIDGE_CDB_TOKEN"] = "auction-role-token-for-the-bridge"
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "auction.cli",
            "bridge",
            "--config",
            str(self.config),
            stdout=self._log,
            stderr=self._log,
            env=env,
        )
        self.starts += 1

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(self.process.wait(), 10) == -signal.SIGKILL
        assert self._log is not None
        self._log.close()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.process.wait(), 10)
        if self._log is not None:
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def states(w: World) -> dict[str, str]:
    """The lots in the bridge's state file, read as another process would."""
    if not w.state.exists():
        return {}
    with sqlite3.connect(f"file:{w.state}?mode=ro", uri=True) as db:
        return dict(db.execute("SELECT auction_id, state FROM lots").fetchall())


def lost_answers(w: World, method: str, fragment: str) -> int:
    return sum(
        1 for r in w.cdb.requests if r.body == "lost" and r.method == method and fragment in r.path
    )


async def test_kill_9_mid_way_nothing_twice_nothing_lost(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        cdb = w.cdb
        simple = cdb.add(seed.simple(iso_in(12)))
        multi = cdb.add(seed.multilot(iso_in(12)))
        lots = [(simple, ""), (multi, seed.LOT), (multi, seed.LOT_2)]
        ids = [auction_id_of(t, lot) for t, lot in lots]
        bridge = BridgeProcess(w, tmp_path)
        try:
            # 1. the links of the simple tender land, their answer does not: kill
            cdb.fail("PATCH", rf"/tenders/{simple}/auction$", "lost", delay_s=30)
            await bridge.start()
            await until(
                lambda: lost_answers(w, "PATCH", simple) == 1, timeout=20, what="links written"
            )
            assert states(w).get(simple) == "planned"
            await bridge.kill()
            # 2. restarted: it links again (harmless) and plans the rest;
            #    a document lands, its answer does not: kill
            cdb.fail("POST", rf"/tenders/{simple}/documents$", "lost", delay_s=30)
            await bridge.start()
            await until(
                lambda: all(states(w).get(a) in ("linked", "protocol", "done") for a in ids),
                timeout=20,
                what="all linked",
            )
            await until(
                lambda: lost_answers(w, "POST", f"{simple}/documents") == 1,
                timeout=30,
                what="a document attached",
            )
            await bridge.kill()
            # 3. restarted: the results of the simple tender land, their answer does not: kill
            cdb.fail("POST", rf"/tenders/{simple}/auction$", "lost", delay_s=30)
            await bridge.start()
            await until(
                lambda: lost_answers(w, "POST", f"{simple}/auction") == 1,
                timeout=30,
                what="results written",
            )
            assert states(w).get(simple) == "protocol"
            await bridge.kill()
            # 4. and once more at an arbitrary moment, then let it finish
            await bridge.start()
            await until(
                lambda: sum(s == "done" for s in states(w).values()) >= 1,
                timeout=30,
                what="one lot done",
            )
            await bridge.kill()
            await bridge.start()
            await until(
                lambda: all(states(w).get(a) == "done" for a in ids),
                timeout=40,
                what="every lot done",
            )
        finally:
            await bridge.stop()
        for tender_id, lot_id in lots:
            await check_landed(w, tender_id, lot_id)
        for tender_id in (simple, multi):
            titles = [d["title"] for d in cdb.tenders[tender_id]["documents"]]
            assert len(titles) == len(set(titles)), f"a document attached twice: {titles}"
            assert cdb.tenders[tender_id]["status"] == "active.qualification"
        assert sorted(w.hosted()) == sorted(ids)
        log = bridge.log()
        assert bridge.starts == 5
        assert "the CDB already holds these results" in log
        assert log.count("planned for") == 3, "each auction created once"
