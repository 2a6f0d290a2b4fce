"""Exporters: an auction's outcome as documents for other systems.

Exporters are pure, like importers: they take a decoded audit record and
return a mapping; reading, fetching and writing are the caller's job
(``underbid export-ocds``, ``GET /api/auctions/{id}/ocds``).
"""

from auction.exporters.ocds import OcdsExportError, encode, release_package

__all__ = ["OcdsExportError", "encode", "release_package"]
