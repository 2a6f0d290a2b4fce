"""Clocks (auction.clock): the only way the outside world's time reaches an auction."""

from __future__ import annotations

import pytest

from auction.clock import Clock, FakeClock, SystemClock


def test_a_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(1_000)
    assert clock.now_ms() == 1_000
    assert clock.now_ms() == 1_000
    assert clock.advance(250) == 1_250
    assert clock.now_ms() == 1_250
    assert clock.advance(0) == 1_250
    clock.set(5_000)
    assert clock.now_ms() == 5_000
    clock.set(5_000)
    assert clock.now_ms() == 5_000


def test_a_fake_clock_starts_at_zero() -> None:
    assert FakeClock().now_ms() == 0


def test_a_fake_clock_never_goes_back() -> None:
    clock = FakeClock(1_000)
    with pytest.raises(ValueError, match="does not go back"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="does not go back"):
        clock.set(999)
    assert clock.now_ms() == 1_000


def test_the_system_clock_gives_integer_milliseconds_since_the_epoch() -> None:
    now = SystemClock().now_ms()
    assert isinstance(now, int)
    assert now > 1_700_000_000_000  # after November 2023: milliseconds, not seconds


def test_both_clocks_satisfy_the_protocol() -> None:
    clocks: list[Clock] = [SystemClock(), FakeClock(3)]
    assert all(isinstance(c.now_ms(), int) for c in clocks)
