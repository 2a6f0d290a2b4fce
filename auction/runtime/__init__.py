"""The durable runtime: hosts live auctions in one asyncio process.

- :mod:`auction.runtime.journal` — the journal interface and its errors;
- :mod:`auction.runtime.memory` — the in-process journal (tests, the demo);
- :mod:`auction.runtime.sqlite` — the SQLite journal (one machine, durable);
- :mod:`auction.runtime.redis` — the Redis Streams journal (leases, fencing,
  ``min_replicas``), on a server, a Sentinel master or a Cluster
  (:mod:`auction.runtime.redis_connect` builds the client from the URL);
- :mod:`auction.runtime.archive` — finished auctions read back from a journal;
- :mod:`auction.runtime.host` — the runtime: one writer per auction, group
  commit, deadlines from an injected clock, recovery.
"""
