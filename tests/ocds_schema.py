"""The official OCDS 1.1.5 schemas with the bids, lots and techniques extensions,
from tests/data/ocds (never fetched), as a ``jsonschema`` validator.

Each extension's ``release-schema.json`` is a JSON Merge Patch (RFC 7386) of
the release schema; the release package's ``releases`` items then point at the
patched release schema through a local :mod:`referencing` registry. Formats
(``date-time``, ``uri``) are checked too.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from auction.exporters import encode

OCDS = Path(__file__).resolve().parent / "data" / "ocds"
EXTENSIONS = ("bids", "lots", "techniques")
RELEASE_ID = "https://standard.open-contracting.org/schema/1__1__5/release-schema.json"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@functools.cache
def validator() -> jsonschema.protocols.Validator:
    release = _load(OCDS / "release-schema.json")
    for name in EXTENSIONS:
        release = merge_patch(release, _load(OCDS / "extensions" / name / "release-schema.json"))
    package = _load(OCDS / "release-package-schema.json")
    registry: Registry[Any] = Registry().with_resource(
        RELEASE_ID, Resource.from_contents(release, default_specification=DRAFT4)
    )
    cls = jsonschema.Draft4Validator
    return cls(package, registry=registry, format_checker=cls.FORMAT_CHECKER)


def errors(package: Any) -> list[str]:
    """Every way ``package`` breaks the schema, as ``path: message`` lines."""
    found = sorted(validator().iter_errors(package), key=lambda e: list(e.absolute_path))
    return ["/".join(str(p) for p in e.absolute_path) + ": " + e.message for e in found]


def assert_valid(package: Any) -> None:
    """``package`` (exact decimals and all) as JSON is a valid release package."""
    problems = errors(json.loads(encode(package)))
    assert not problems, "\n".join(problems[:20])
