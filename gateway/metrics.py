"""Counters for ``/metrics`` in the Prometheus text format."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable


class Metrics:
    """Labelled counters, plus gauges read at scrape time."""

    def __init__(self) -> None:
        self.counters: dict[tuple[str, tuple[tuple[str, str], ...]], int] = defaultdict(int)
        self.gauges: dict[str, Callable[[], float]] = {}
        self.labelled: dict[str, Callable[[], dict[tuple[tuple[str, str], ...], float]]] = {}
        """Gauges with labels: each read gives every label set's value."""
        self.help: dict[str, str] = {}

    def inc(self, name: str, amount: int = 1, **labels: str) -> None:
        self.counters[(name, tuple(sorted(labels.items())))] += amount

    def gauge(self, name: str, read: Callable[[], float], help_text: str) -> None:
        self.gauges[name] = read
        self.help[name] = help_text

    def labelled_gauge(
        self,
        name: str,
        read: Callable[[], dict[tuple[tuple[str, str], ...], float]],
        help_text: str,
    ) -> None:
        """A gauge per label set, e.g. ``{(("endpoint", "erp"),): 3}``."""
        self.labelled[name] = read
        self.help[name] = help_text

    def render(self) -> str:
        lines: list[str] = []
        seen: set[str] = set()
        for (name, labels), value in sorted(self.counters.items()):
            metric = f"underbid_{name}"
            if metric not in seen:
                seen.add(metric)
                lines.append(f"# TYPE {metric} counter")
            label_text = ",".join(f'{k}="{v}"' for k, v in labels)
            lines.append(f"{metric}{{{label_text}}} {value}" if label_text else f"{metric} {value}")
        for name, read in sorted(self.gauges.items()):
            metric = f"underbid_{name}"
            lines.append(f"# HELP {metric} {self.help[name]}")
            lines.append(f"# TYPE {metric} gauge")
            lines.append(f"{metric} {read():g}")
        for name, read_all in sorted(self.labelled.items()):
            metric = f"underbid_{name}"
            lines.append(f"# HELP {metric} {self.help[name]}")
            lines.append(f"# TYPE {metric} gauge")
            for labels, reading in sorted(read_all().items()):
                label_text = ",".join(f'{k}="{v}"' for k, v in labels)
                lines.append(f"{metric}{{{label_text}}} {reading:g}")
        return "\n".join(lines) + "\n"
