"""The procurement day as a Locust ``LoadTestShape``.

Each tick asks the plan (:meth:`client.load.plan.LoadPlan.shape`) how many
users the day needs at this second of it: the bidders of the auctions live
now (from ``lead_s`` before each start to ``linger_s`` after its end) and the
public watching them, whose number peaks as each auction closes, plus a
little slack. The test ends when the last auction's watchers have left.
"""

from __future__ import annotations

import time
from typing import Any

from locust import LoadTestShape

from client.load.day import DayShape
from underbid_locust.run import prepare


class ProcurementDay(LoadTestShape):
    """Replays ``--ub-profile``'s day (default ``prozorro-day``), compressed."""

    abstract = True
    """Concrete in loadtests/procurement_day.py only: the plain locustfile keeps -u and -r."""

    def __init__(self) -> None:
        super().__init__()
        self.day: DayShape | None = None
        self.t0_ms = 0

    def reset_time(self) -> None:
        super().reset_time()
        self.day = None  # a new start plans a new day

    def tick(self) -> tuple[int, float] | None:
        if self.day is None:
            environment: Any = self.runner.environment if self.runner else None
            if environment is None:
                return 0, 1.0
            options = environment.parsed_options
            if options is not None and not options.ub_profile:
                options.ub_profile = "prozorro-day"
            st = prepare(environment)
            if st is None or st.plan is None:
                return None
            self.day = st.plan.shape()
            self.t0_ms = st.plan.t0_ms
        return self.day.tick((time.time() * 1000 - self.t0_ms) / 1000)


__all__ = ["ProcurementDay"]
