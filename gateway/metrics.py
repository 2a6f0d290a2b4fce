"""``/metrics``: Prometheus metrics through ``prometheus-client``.

The library Prometheus users expect, in the text format they expect, with the
standard ``process_*`` metrics of the process that answers. Every metric
carries the ``node`` label (the node's id), so a cluster's scrapes stay
apart. Two kinds:

- **counters** (:meth:`Metrics.inc`, names ending in ``_total``): counted
  where things happen (bids by result, refused handshakes...);
- **gauges** read from the gateway (:meth:`Metrics.gauge`): connections,
  auctions owned and followed, follower lag, journal round trips... They are
  read when ``/metrics`` is scraped, and every second by :meth:`refresh`.

Under ``underbid serve --workers N`` every worker is a node of its own on the
same port, and a scrape reaches any one of them: ``prometheus-client``'s
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by the supervisor) keeps
every worker's values in shared files, and whichever worker answers reports
them all, each under its own ``node`` (gauges of a worker that died are
dropped: ``liveall``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

LabelledRead = Callable[[], dict[tuple[tuple[str, str], ...], float]]
"""A labelled gauge's reading: each label set's value."""

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

_HELP: Final[dict[str, str]] = {
    "bids_total": "bids, cancels and accepts answered, by result (accepted or the rejection code)",
    "ws_connections_total": "WebSocket connections welcomed, by role",
    "ws_refused_total": "WebSocket handshakes and hellos refused, by reason",
    "protocol_errors_total": "frames that broke the protocol, by error code",
    "rate_limited_total": "messages over the per-connection rate",
    "fanout_drops_total": "clients dropped for not reading (slow consumers)",
}
"""Help text of the counters (a name not listed gets a generic one)."""

_BUCKETS: Final = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 5)


class Metrics:
    """One gateway's metrics (a registry of its own: several gateways may share a process)."""

    def __init__(self, node: str = "") -> None:
        self.node = node
        """The ``node`` label on every metric."""
        self.multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        """Set by ``--workers``: values live in shared files, a scrape reports every worker."""
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, memory, fds...
        self._counters: dict[str, Counter] = {}
        self._histograms: dict[str, Histogram] = {}
        self._gauges: dict[str, tuple[Gauge, Callable[[], float]]] = {}
        self._labelled: dict[str, tuple[LabelledRead, str]] = {}
        self._labelled_gauges: dict[str, Gauge] = {}

    def inc(self, name: str, amount: int = 1, **labels: str) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = Counter(
                f"underbid_{name.removesuffix('_total')}",
                _HELP.get(name, name.replace("_", " ")),
                labelnames=("node", *sorted(labels)),
                registry=self.registry,
            )
            self._counters[name] = counter
        counter.labels(node=self.node, **labels).inc(amount)

    def observe(self, name: str, seconds: float, help_text: str) -> None:
        """One duration into the histogram ``name`` (seconds)."""
        histogram = self._histograms.get(name)
        if histogram is None:
            histogram = Histogram(
                f"underbid_{name}",
                help_text,
                labelnames=("node",),
                buckets=_BUCKETS,
                registry=self.registry,
            )
            self._histograms[name] = histogram
        histogram.labels(node=self.node).observe(seconds)

    def gauge(self, name: str, read: Callable[[], float], help_text: str) -> None:
        """A value read from the gateway at every scrape (and :meth:`refresh`)."""
        gauge = Gauge(
            f"underbid_{name}",
            help_text,
            labelnames=("node",),
            registry=self.registry,
            multiprocess_mode="liveall",
        )
        self._gauges[name] = (gauge, read)

    def labelled_gauge(
        self,
        name: str,
        read: Callable[[], dict[tuple[tuple[str, str], ...], float]],
        help_text: str,
    ) -> None:
        """A gauge per label set, e.g. ``{(("endpoint", "erp"),): 3}`` (the
        label names are the same in every set; a set no longer read is dropped)."""
        self._labelled[name] = (read, help_text)

    def refresh(self) -> None:
        """Read every gauge now (a worker's values must be fresh for a scrape
        answered by another worker)."""
        for gauge, read in self._gauges.values():
            try:
                value = float(read())
            except Exception:  # a gauge must never break a scrape
                continue
            gauge.labels(node=self.node).set(value)
        for name, (read_all, help_text) in self._labelled.items():
            try:
                readings = read_all()
            except Exception:  # as above
                continue
            if not readings:
                continue
            labelled = self._labelled_gauges.get(name)
            if labelled is None:
                labelled = Gauge(
                    f"underbid_{name}",
                    help_text,
                    labelnames=("node", *(key for key, _ in next(iter(readings)))),
                    registry=self.registry,
                    multiprocess_mode="liveall",
                )
                self._labelled_gauges[name] = labelled
            labelled.clear()
            for labels, value in readings.items():
                labelled.labels(node=self.node, **dict(labels)).set(float(value))

    def render(self) -> bytes:
        """The text format of every metric (every worker's, under ``--workers``)."""
        self.refresh()
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        ProcessCollector(registry=registry)  # of the worker answering
        return generate_latest(registry)
