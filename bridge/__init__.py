"""The bridge: Underbid as the auction module of a ProZorro-style procurement system.

It is a client of two systems, and the only place that knows both:

- the procurement system's central database (the CDB, ``openprocurement.api``):
  its changes feed of tenders, each tender's auction view, and the writes the
  auction module makes back (links, results, the protocol document);
- Underbid's own HTTP API (it creates, reschedules and cancels auctions, issues
  bidder links, and reads results and records like any client).

Layout (arrows point down; nothing under ``gateway/`` or ``auction/`` imports this)::

    command.py   ``underbid bridge``: options, settings, the process
    service.py   the loops: follow the feed, plan lots, write back results
    cdb.py       the CDB's API and its document service (httpx)
    underbid.py  Underbid's API (httpx)
    http.py      retries with back-off through 409/412/429/5xx/timeouts
    store.py     the durable state: feed offset and every planned lot (SQLite)
    plan.py      pure: tender -> lot plans (the OCDS importer), links and results bodies
    protocol.py  pure: an audit record -> ProZorro's YAML audit protocol

docs/integration.md describes the whole exchange.
"""
