"""Importers: turn documents from other systems into Underbid spec mappings.

Importers are pure: they take an already-decoded mapping and return a spec
mapping ready for :func:`auction.core.parse_spec`. Reading files is the
caller's job (the CLI's ``underbid import-ocds``).
"""

from auction.importers.ocds import OcdsImportError, tender_to_spec

__all__ = ["OcdsImportError", "tender_to_spec"]
