"""``underbid serve``'s journal options: SQLite by default, --data, --memory,
--redis (server, Sentinel, Cluster), --min-replicas; bad values named; a
second server on the same --data refused with a clear message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from auction.cli import DEFAULT_DATA_DIR, _parser, _serve_settings
from auction.core.errors import UnderbidError
from gateway.server import journal_url
from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def settings_of(*argv: str) -> Settings:
    settings: Settings = _serve_settings(_parser().parse_args(["serve", *argv]))
    return settings


def test_with_no_journal_named_serve_keeps_sqlite_under_the_working_directory() -> None:
    journal = settings_of().journal
    assert journal.data_dir == DEFAULT_DATA_DIR and journal.redis_url == ""
    url = journal_url(journal)
    assert url == f"sqlite:{Path.cwd() / DEFAULT_DATA_DIR / 'journal.sqlite3'}"


def test_each_journal_option_selects_its_journal(tmp_path: Path) -> None:
    assert journal_url(settings_of("--data", str(tmp_path)).journal) == (
        f"sqlite:{tmp_path / 'journal.sqlite3'}"
    )
    assert journal_url(settings_of("--memory").journal) == "memory://"
    sentinel = "redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/main"
    journal = settings_of("--redis", sentinel, "--min-replicas", "1").journal
    assert (journal_url(journal), journal.min_replicas) == (sentinel, 1)
    cluster = "redis+cluster://127.0.0.1:7000"
    assert journal_url(settings_of("--redis", cluster).journal) == cluster


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--min-replicas", "17"], "invalid --min-replicas: Expected `int` <= 16"),
        (["--min-replicas", "-1"], "invalid --min-replicas: Expected `int` >= 0"),
        (["--redis", "postgres://x"], "invalid --redis: must be empty"),
    ],
)
def test_a_bad_option_is_named(argv: list[str], message: str) -> None:
    with pytest.raises(UnderbidError, match=message.replace("`", ".")):
        settings_of(*argv)


@pytest.mark.parametrize("other", [["--data", "x"], ["--redis", "redis://127.0.0.1:1/0"]])
def test_memory_data_and_redis_exclude_each_other(other: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _parser().parse_args(["serve", "--memory", *other])
    assert exited.value.code == 2


def test_a_second_server_on_the_same_data_is_refused(tmp_path: Path) -> None:
    env = {**os.environ, "UNDERBID_SECURITY_TOKEN_SECRET": "x" * 40}
    command = [sys.executable, "-m", "auction.cli", "serve", "--port", "0", "--data", str(tmp_path)]
    first = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert first.stdout is not None
        banner = [first.stdout.readline() for _ in range(2)]
        assert "journal: sqlite" in banner[1], banner
        assert str(tmp_path / "journal.sqlite3") in banner[1]
        second = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=30, check=False
        )
        assert second.returncode == 2
        assert f"in use by another process (pid {first.pid})" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
