"""Load testing shared by ``underbid swarm`` and the Locust file (loadtests/).

Pure logic, no I/O except where said, so that both drivers (asyncio for the
swarm, gevent for Locust) play the same auctions the same way:

- :mod:`client.load.profile`: load profiles (how many auctions of each
  format, their bidders, watchers and slots), bundled ones by name;
- :mod:`client.load.day`: a procurement day's clock, compressed, and the
  load shape that follows it;
- :mod:`client.load.plan`: the deterministic plan of a profile's day:
  auction specs, bidder seats with their tactics, watcher windows;
- :mod:`client.load.book`: which seat or window a Locust user takes next;
- :mod:`client.load.players`: bidder bots for every format, sans I/O;
- :mod:`client.load.streams`: gaps and duplicates from sequence numbers;
- :mod:`client.load.nodes`: several node URLs and how the load spreads;
- :mod:`client.load.chaos`: killing nodes (this one does I/O) and the
  takeover figures;
- :mod:`client.load.figures`, :mod:`client.load.report`,
  :mod:`client.load.slo`: histograms over time, the report with its plots,
  and the pass/fail verdict.

Errors (each names what is wrong)::

    UnderbidError
    ├── ProfileError   client.load.profile: a profile that cannot be read or planned
    ├── SloError       client.load.slo: a threshold that cannot be parsed
    ├── NodesError     client.load.nodes: a node URL that cannot be used
    └── ChaosError     client.load.chaos: a chaos spec that cannot be used
"""
