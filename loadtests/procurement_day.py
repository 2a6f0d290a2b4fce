"""Locust: a compressed procurement day of mixed formats, shaped like ProZorro's.

    locust -f loadtests/procurement_day.py --headless --host http://127.0.0.1:8000 \\
        --ub-profile prozorro-day --ub-compression 60 \\
        --ub-slo "ack_p99<=50ms,deliver_p99<=100ms,errors=0" --html results/day.html

The users are :class:`DayUser` only, as many as the day needs at each moment
(:class:`ProcurementDay`, the load shape; ``-u``, ``-r`` and ``-t`` do not
apply): they take the plan's bidder seats first and its watcher windows
next. Everything else (options, entries, the report) is the same as in
loadtests/locustfile.py; docs/loadtesting.md has the whole story.
"""

from __future__ import annotations

import underbid_locust.options  # noqa: F401  (registers the --ub-* options)
from underbid_locust import run  # noqa: F401  (registers the test's listeners)
from underbid_locust.shape import ProcurementDay
from underbid_locust.users import SeatUser


class DayUser(SeatUser):
    """A bidder seat when one is open, else a watcher window."""


class Day(ProcurementDay):
    """The day's shape (concrete here, so that this file uses it)."""


__all__ = ["Day", "DayUser"]
