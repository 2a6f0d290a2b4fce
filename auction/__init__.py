"""Underbid: a real-time reverse-auction engine.

The package is layered; the folders are the architecture:

- :mod:`auction.core` — the pure, deterministic engine (rules, formats, views,
  scoring, the result and audit record). No I/O, no wall clock.
- :mod:`auction.sim` — running an auction on a virtual clock with scripted
  actions and bots (``underbid simulate``).
- :mod:`auction.importers` — turning outside documents (OCDS/ProZorro tenders)
  into auction specs.
- :mod:`auction.cli` — the ``underbid`` command line.
"""

__version__ = "0.1.0"
