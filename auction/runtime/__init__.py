"""The durable runtime: hosts live auctions in one asyncio process.

- :mod:`auction.runtime.journal` — the journal interface and its errors;
- :mod:`auction.runtime.memory` — the embedded journal;
- :mod:`auction.runtime.redis` — the Redis Streams journal (leases, fencing);
- :mod:`auction.runtime.host` — the runtime: one writer per auction, group
  commit, deadlines from an injected clock, recovery.
"""
