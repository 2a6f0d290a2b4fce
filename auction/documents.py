"""Reading spec and script documents (TOML or JSON) from files.

The only file I/O on the engine's side; everything it returns is then
validated by :func:`auction.core.parse_spec` or
:func:`auction.sim.parse_script`. Syntax errors come back as a
:class:`DocumentError` with the file, line and column.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from auction.core.errors import UnderbidError


class DocumentError(UnderbidError):
    """A file could not be read or parsed as TOML/JSON."""


def load_document(path: str | Path) -> dict[str, Any]:
    """Parse a ``.toml`` or ``.json`` file (by suffix; JSON if it starts with ``{``)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DocumentError(f"{file}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DocumentError(f"{file}: cannot read: {exc}") from None
    as_json = file.suffix.lower() == ".json" or (
        file.suffix.lower() != ".toml" and text.lstrip().startswith("{")
    )
    if as_json:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DocumentError(
                f"{file}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}"
            ) from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise DocumentError(f"{file}: invalid TOML: {exc}") from None
    if not isinstance(data, dict):
        raise DocumentError(f"{file}: the document must be a table/object at the top level")
    return data
