"""Server-to-client WebSocket frames, built once and written to many sockets.

A server frame is never masked (RFC 6455 §5.1), so the bytes of one frame are
the same for every connection: the fan-out frames each message once per view
and codec and writes those bytes to every socket of that view.

Compression (``limits.compression``, off by default) is permessage-deflate
with ``server_no_context_takeover`` (RFC 7692 §7.1.1.1): each message is
compressed on its own, so a compressed frame, too, is built once and shared.
"""

from __future__ import annotations

import zlib
from typing import Final

TEXT: Final = 0x1
BINARY: Final = 0x2
CLOSE: Final = 0x8
PING: Final = 0x9

_FIN: Final = 0x80
_RSV1: Final = 0x40
"""Set on the first frame of a compressed message."""
_DEFLATE_TAIL: Final = b"\x00\x00\xff\xff"


def header(opcode: int, length: int, *, compressed: bool = False) -> bytes:
    """The header of one unmasked, final frame of ``length`` payload bytes."""
    first = _FIN | opcode | (_RSV1 if compressed else 0)
    if length < 126:
        return bytes((first, length))
    if length < 1 << 16:
        return bytes((first, 126)) + length.to_bytes(2, "big")
    return bytes((first, 127)) + length.to_bytes(8, "big")


def deflate(payload: bytes) -> bytes:
    """``payload`` compressed for permessage-deflate, without context takeover."""
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return data[: -len(_DEFLATE_TAIL)] if data.endswith(_DEFLATE_TAIL) else data


def message(payload: bytes | str, *, compressed: bool = False) -> bytes:
    """One data frame: text for ``str`` (JSON), binary for ``bytes`` (MessagePack)."""
    if isinstance(payload, str):
        data, opcode = payload.encode(), TEXT
    else:
        data, opcode = payload, BINARY
    if compressed:
        data = deflate(data)
    return header(opcode, len(data), compressed=compressed) + data


def close(code: int, reason: str = "") -> bytes:
    """A close frame (the reason is cut to fit a control frame's 125 bytes)."""
    cut = reason.encode()[:123].decode(errors="ignore").encode()  # whole characters only
    data = code.to_bytes(2, "big") + cut
    return header(CLOSE, len(data)) + data


PING_FRAME: Final = header(PING, 0)
"""An empty ping: the keepalive; any pong (any data at all) counts as life."""
