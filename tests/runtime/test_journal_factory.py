"""Choosing the journal from a URL."""

from __future__ import annotations

import pytest

from auction.runtime.journal import open_journal
from auction.runtime.memory import MemoryJournal
from auction.runtime.redis import RedisJournal


@pytest.mark.parametrize("url", [None, "", "memory", "memory://"])
def test_no_url_means_the_embedded_journal(url: str | None) -> None:
    assert isinstance(open_journal(url), MemoryJournal)


def test_a_redis_url_means_the_redis_journal() -> None:
    journal = open_journal("redis://127.0.0.1:1/0")
    assert isinstance(journal, RedisJournal)
    assert journal.name == "redis"


def test_an_unknown_scheme_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="redis://HOST:PORT/DB"):
        open_journal("postgres://x")
