"""Pass/fail thresholds for a load test: ``ack_p99<=5ms,deliver_p99<=50ms,errors=0``.

A threshold is ``METRIC OP VALUE[UNIT]``; several are separated by commas.
The load tools compute every metric after the run (:func:`latency_figures`
and their counters), :func:`evaluate` compares, and the verdict decides the
exit status: 0 when every threshold holds, 1 when one does not.

- ``OP`` is ``<=``, ``<``, ``>=``, ``>`` or ``=`` (``==`` too).
- Latencies (``ack``, ``deliver``, ``connect``, ``reconnect``, ``takeover``
  with ``_p50``, ``_p90``, ``_p95``, ``_p99``, ``_p999`` or ``_max``) take
  ``ms`` or ``s``; a bare number is milliseconds. A format may prefix them:
  ``rounds.ack_p99<=5ms`` holds for the ``rounds`` lots alone.
- Counts (``errors``, ``gaps``, ``duplicates``, ``resyncs``,
  ``missed_turns``, ``reconnects``, ``requests``) take a bare integer;
  ``missed_turns`` may carry a format prefix too.
- ``error_rate`` is a percentage (``error_rate<0.1%``).

A metric without any sample (``takeover_max`` in a run where no node died)
fails its threshold: a threshold one asked about and could not check is not
met. Why our own code and not a Locust plugin: locust-plugins' checks know
Locust's own entries (average response time, failure ratio, RPS), not
percentiles of our series, sequence gaps or takeover times, and the swarm
must give the same verdicts without Locust.

Errors::

    UnderbidError
    └── SloError     a threshold that cannot be parsed (names it and says why)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from auction.core.errors import UnderbidError
from client.load.figures import Histogram

FORMATS = ("rounds", "open", "japanese", "dutch")
LATENCIES = ("ack", "deliver", "connect", "reconnect", "takeover")
"""Latency series: commands answered, events delivered, handshakes, reconnects, takeovers."""
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}
COUNTS = ("errors", "gaps", "duplicates", "resyncs", "missed_turns", "reconnects", "requests")
PER_FORMAT_COUNTS = ("missed_turns",)
MAX_THRESHOLDS = 50
"""Bound on the number of thresholds in one ``--slo``."""

_ITEM = re.compile(
    r"^\s*(?P<metric>[a-z_][a-z0-9_.]*)\s*(?P<op><=|>=|==|=|<|>)\s*"
    r"(?P<value>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>ms|s|%)?\s*$"
)
_OPS = {
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "=": lambda a, b: a == b,
    "==": lambda a, b: a == b,
}


class SloError(UnderbidError):
    """A threshold that cannot be parsed."""


@dataclass(frozen=True)
class Threshold:
    text: str
    """As written (trimmed)."""
    metric: str
    """``ack_p99``, ``rounds.ack_p99``, ``errors``..."""
    op: str
    value: float
    """In the metric's unit: ms for latencies, % for ``error_rate``, a count otherwise."""
    unit: str
    """``ms``, ``%`` or ``""``."""


@dataclass(frozen=True)
class Check:
    threshold: Threshold
    actual: float | None
    """``None``: the run had no sample of this metric."""
    passed: bool

    def describe(self) -> str:
        t = self.threshold
        if self.actual is None:
            return f"FAIL {t.text}: no data (the run measured no {t.metric})"
        shown = _show(self.actual, t.unit)
        return f"{'pass' if self.passed else 'FAIL'} {t.text}: {t.metric} = {shown}"


@dataclass(frozen=True)
class Verdict:
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def lines(self) -> list[str]:
        head = "SLO verdict: " + ("PASS" if self.passed else "FAIL")
        return [head, *(f"  {c.describe()}" for c in self.checks)]


def _show(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "%":
        return f"{value:.3f} %"
    return f"{value:g}"


def _kind(metric: str) -> str:
    """``ms``, ``%`` or ``""`` for a known metric; raises SloError for an unknown one."""
    name = metric
    if "." in metric:
        prefix, name = metric.split(".", 1)
        if prefix not in FORMATS:
            raise SloError(f"unknown format {prefix!r} in {metric!r}: one of {', '.join(FORMATS)}")
        if name in COUNTS and name not in PER_FORMAT_COUNTS:
            raise SloError(f"{name!r} is counted for the whole run, not per format")
    if name in COUNTS:
        return ""
    if name == "error_rate" and "." not in metric:
        return "%"
    series, _, stat = name.rpartition("_")
    if series in LATENCIES and (stat in PERCENTILES or stat == "max"):
        return "ms"
    known = ", ".join([*(f"{s}_p99" for s in LATENCIES), *COUNTS, "error_rate"])
    raise SloError(
        f"unknown metric {metric!r} (known: {known}; percentiles p50 p90 p95 p99 p999 max)"
    )


def parse_slo(text: str) -> tuple[Threshold, ...]:
    """``"ack_p99<=5ms,errors=0"`` -> thresholds; :class:`SloError` names a bad one."""
    items = [part for part in text.split(",") if part.strip()]
    if not items:
        raise SloError("no threshold given: write METRIC OP VALUE, e.g. ack_p99<=5ms")
    if len(items) > MAX_THRESHOLDS:
        raise SloError(f"at most {MAX_THRESHOLDS} thresholds")
    out: list[Threshold] = []
    for item in items:
        found = _ITEM.match(item)
        if found is None:
            raise SloError(
                f"cannot read threshold {item.strip()!r}: write METRIC OP VALUE[UNIT], "
                "e.g. ack_p99<=5ms, deliver_p99<50ms, errors=0, error_rate<0.1%"
            )
        metric, unit = found["metric"], found["unit"] or ""
        kind = _kind(metric)
        value = float(found["value"])
        if kind == "ms":
            if unit == "s":
                value *= 1000
            elif unit not in ("", "ms"):
                raise SloError(f"{item.strip()!r}: {metric} is a latency: ms or s")
            unit = "ms"
        elif kind == "%":
            if unit not in ("", "%"):
                raise SloError(f"{item.strip()!r}: error_rate is a percentage")
            unit = "%"
        elif unit:
            raise SloError(f"{item.strip()!r}: {metric} is a count: no unit")
        elif not value.is_integer():
            raise SloError(f"{item.strip()!r}: {metric} is a count: a whole number")
        out.append(Threshold(item.strip(), metric, found["op"], value, unit))
    return tuple(out)


def latency_figures(prefix: str, h: Histogram) -> dict[str, float]:
    """``{prefix}_p50`` ... ``{prefix}_max`` of a histogram (nothing when it is empty)."""
    if not h.count:
        return {}
    out = {f"{prefix}_{name}": h.percentile(q) for name, q in PERCENTILES.items()}
    out[f"{prefix}_max"] = h.max
    return out


def evaluate(thresholds: tuple[Threshold, ...], figures: Mapping[str, float]) -> Verdict:
    """Each threshold against the run's figures (missing or NaN: no data, failed)."""
    checks = []
    for t in thresholds:
        actual = figures.get(t.metric)
        if actual is None or math.isnan(actual):
            checks.append(Check(t, None, False))
            continue
        checks.append(Check(t, float(actual), bool(_OPS[t.op](float(actual), t.value))))
    return Verdict(tuple(checks))


__all__ = [
    "FORMATS",
    "LATENCIES",
    "Check",
    "SloError",
    "Threshold",
    "Verdict",
    "evaluate",
    "latency_figures",
    "parse_slo",
]
