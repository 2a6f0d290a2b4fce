"""Request bodies: read with a size limit, decoded as strict JSON, typed.

Every JSON body the HTTP API takes goes through :func:`read_json`:

- **Size, while reading.** A ``Content-Length`` over ``limits.max_body_bytes``
  is refused (413) before a byte of the body is read; a body sent without a
  length (chunked) is counted as it arrives and refused the moment it passes
  the limit. Nothing larger than the limit is ever held in memory.
- **Strict JSON.** Duplicate keys in an object are refused (JSON leaves them
  undefined and most parsers silently keep the last one, so ``{"amount":
  99900, "amount": 1}`` would bid 1); so are ``NaN`` and ``Infinity`` (not
  JSON), and nesting deeper than ``limits.max_json_depth``. The standard
  library's parser is used because it reports every key it sees (msgspec's
  does not); bodies are small and bounded, so its speed does not matter here.
- **Typed.** :func:`typed` converts the decoded object into a msgspec struct
  whose fields carry their bounds, so an absurd value (``"seconds": 1e20``,
  a 5,000-character id, a list where a number belongs) is refused with the
  field named, before it is used.

Errors are :class:`BodyError` with an HTTP status, a stable code and the field
(dotted path, empty for the body as a whole); the app turns them into problem
responses.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

import msgspec
from starlette.requests import ClientDisconnect, Request

from auction.core.limits import plain_bound

T = TypeVar("T")


class BodyError(Exception):
    """A request body was refused. ``status`` 400, 413 or 422; ``code`` stable."""

    def __init__(self, status: int, code: str, detail: str, field: str = "") -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The body, refused (413) as soon as it is known to pass ``max_bytes``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BodyError(400, "malformed_request", "Content-Length is not a number")
        if int(declared) > max_bytes:
            raise BodyError(
                413, "too_large", f"the body is {int(declared):,} bytes; at most {max_bytes:,}"
            )
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise BodyError(413, "too_large", f"the body is over {max_bytes:,} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise BodyError(400, "malformed_request", "the client went away mid-body") from None
    return b"".join(chunks)


def decode_json(body: bytes, max_depth: int) -> Any:
    """Strict JSON (see the module docstring); raises :class:`BodyError`."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError(400, "malformed_json", "the body is not UTF-8") from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _Duplicate as exc:
        raise BodyError(400, "duplicate_key", f"the key {_shown(str(exc))} appears twice") from None
    except RecursionError:
        raise BodyError(400, "too_deep", f"nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise BodyError(400, "malformed_json", f"not valid JSON: {exc}") from None
    if _depth(data) > max_depth:
        raise BodyError(400, "too_deep", f"nested deeper than {max_depth} levels")
    return data


async def read_json(request: Request, *, max_bytes: int, max_depth: int) -> dict[str, Any]:
    """A JSON object body (an empty body is ``{}``); raises :class:`BodyError`."""
    body = await read_body(request, max_bytes)
    if not body.strip():
        return {}
    data = decode_json(body, max_depth)
    if not isinstance(data, dict):
        raise BodyError(400, "malformed_json", "the body must be a JSON object")
    return data


def _depth(value: Any) -> int:
    """Nesting depth of decoded JSON, without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


_PATH = re.compile(r"`\$\.?(.*?)`")


def typed(data: Any, kind: type[T], code: str = "invalid_field") -> T:
    """``data`` as ``kind`` (a msgspec struct with bounded fields), or a 422
    :class:`BodyError` with ``code`` naming the field."""
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = _PATH.search(text)
        field = match.group(1) if match else ""
        detail = plain_bound(text.split(" - at ", 1)[0])
        missing = re.match(r"Object (?:contains unknown|missing required) field `([^`]*)`", detail)
        if missing:
            field = f"{field}.{missing.group(1)}" if field else missing.group(1)
        raise BodyError(422, code, detail, field) from None


def _shown(key: str) -> str:
    return repr(key) if len(key) <= 64 else repr(key[:64] + "...")
