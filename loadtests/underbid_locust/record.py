"""Every figure a Locust user reports goes through one :class:`Recorder`.

It fires Locust's ``request`` event (so the entry shows in Locust's table,
CSV and HTML report) and files the same sample in this process's
:class:`~client.load.report.RunFigures` (the latency-over-time series per
format, the counters, the recoveries), which a worker sends to the master
with each of its reports and the master merges for the verdict and the
plots.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from locust.env import Environment

from client.load.report import RunFigures


class Recorder:
    def __init__(self, environment: Environment, figures: RunFigures) -> None:
        self.environment = environment
        self.figures = figures

    def fire(
        self,
        request_type: str,
        name: str,
        started: float,
        *,
        failure: BaseException | None = None,
        response_time: float | None = None,
        length: int = 0,
        series: str | None = None,
        counts: Iterable[str] = (),
    ) -> None:
        """One Locust entry (``started``: ``time.perf_counter()`` at the start)."""
        elapsed = (time.perf_counter() - started) * 1000 if response_time is None else response_time
        self.environment.events.request.fire(
            request_type=request_type,
            name=name,
            response_time=elapsed,
            response_length=length,
            exception=failure,
            context={},
        )
        figures = self.figures
        figures.count("requests")
        if failure is not None:
            figures.count("errors")
        elif series is not None:
            figures.sample(series, time.time() * 1000, elapsed)
        for name_ in counts:
            figures.count(name_)

    def count(self, name: str, n: int = 1) -> None:
        self.figures.count(name, n)

    def sample(self, series: str, ms: float) -> None:
        self.figures.sample(series, time.time() * 1000, ms)

    def protocol_error(self, role: str, message: dict[str, Any]) -> None:
        """An ``error`` (``rate_limited``...) or ``slow_consumer`` frame: always a failure."""
        if message.get("type") == "slow_consumer":
            name, why = "slow consumer", f"dropped {message.get('dropped')} frames"
        else:
            name, why = f"error {message.get('code')}", str(message.get("message", ""))
        kind = "bid" if role == "bidder" else "event"
        self.fire(kind, name, 0.0, failure=RuntimeError(why), response_time=0.0)


__all__ = ["Recorder"]
