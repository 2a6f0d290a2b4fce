"""Running Locust for the tests: always in a subprocess, never in pytest's process.

Locust monkey-patches the standard library with gevent when it is imported,
which would break pytest's asyncio loop (and the live servers in it); the
project's pytest runs with ``-p no:locust`` for the same reason. So the tests
start ``locust`` as the CI smoke test does (loadtests/smoke.sh), wait for it
without blocking the loop (the servers under test keep serving), and read
what it wrote: the CSV stats, the Underbid report and its exit status.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "loadtests" / "locustfile.py"
DAY = ROOT / "loadtests" / "procurement_day.py"
TIMEOUT_S = 180.0


@dataclass
class LocustRun:
    status: int
    output: str
    rows: list[dict[str, str]]
    """The ``_stats.csv`` rows, the ``Aggregated`` one included."""
    report: dict[str, Any]
    """``figures.json`` of ``--ub-report``: metrics and counts."""
    folder: Path

    def count(self, kind: str, name: str) -> int:
        return sum(
            int(r["Request Count"]) for r in self.rows if r["Type"] == kind and r["Name"] == name
        )

    def failures(self) -> dict[tuple[str, str], int]:
        return {
            (r["Type"], r["Name"]): int(r["Failure Count"])
            for r in self.rows
            if r["Name"] != "Aggregated" and int(r["Failure Count"])
        }

    def names(self) -> set[tuple[str, str]]:
        return {(r["Type"], r["Name"]) for r in self.rows if r["Name"] != "Aggregated"}


def locust_binary() -> list[str]:
    found = shutil.which("locust", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "locust"]


async def run_locust(
    folder: Path,
    args: Sequence[str],
    *,
    token: str,
    locustfile: Path = LOCUSTFILE,
    env: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT_S,
) -> LocustRun:
    """``locust -f LOCUSTFILE --headless ARGS`` with the CSV and the report in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        *locust_binary(),
        "-f",
        str(locustfile),
        "--headless",
        "--only-summary",
        "--csv",
        str(folder / "run"),
        "--ub-report",
        str(folder / "report"),
        *args,
    ]
    environment = {**os.environ, "UNDERBID_OPERATOR_TOKEN": token, **(env or {})}
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=folder,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        out, _ = await process.communicate()
        why = f"locust did not end within {timeout} s:\n{out.decode()[-4000:]}"
        raise AssertionError(why) from None
    output = out.decode(errors="replace")
    stats = folder / "run_stats.csv"
    rows = list(csv.DictReader(stats.read_text().splitlines())) if stats.exists() else []
    figures = folder / "report" / "figures.json"
    report = json.loads(figures.read_text()) if figures.exists() else {}
    assert process.returncode is not None
    return LocustRun(process.returncode, output, rows, report, folder)


__all__ = ["DAY", "LOCUSTFILE", "LocustRun", "run_locust"]
