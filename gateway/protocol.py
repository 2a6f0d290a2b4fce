"""The WebSocket wire protocol, version 1: a closed set of messages, two codecs.

Every message is a small frozen struct tagged by its ``type`` field. Two
subprotocols carry exactly the same messages:

- ``underbid.v1.msgpack``: one MessagePack map per **binary** frame (the
  default, for programs; also used when the client offers no subprotocol);
- ``underbid.v1.json``: one JSON object per **text** frame (for browsers and
  debugging).

Client to server (decoded strictly: unknown types and fields, and a field sent twice, are refused)::

    type     fields                                      meaning
    -------  ------------------------------------------  ---------------------------------
    hello    token="" , last_seq=None                    first message; resume after seq
    bid      lot="", amount, bid_id                      place a bid (amount in minor units)
    cancel   lot="", bid_id                              rounds: revert the turn; japanese: leave
    accept   lot="", bid_id                              japanese: confirm; dutch: take the price
    ping     nonce=0                                     liveness and clock probe

Server to client (clients must ignore unknown fields and unknown types, so
that a v1 server may add optional fields and messages)::

    type           fields                                          meaning
    -------------  ----------------------------------------------  -----------------------------
    welcome        role, bidder, label, server_time, seq, view,    authenticated; the current
                   next_deadline                                   view of the role
    event          seq, server_time, event                         one event, as it happens
    events         server_time, items=[{seq, event}]               the events of one loop turn
    ack            bid_id, seq, server_time, duplicate=False,      the command is durable; its
                   leaf_index=None                                 event is that log leaf
    rejected       bid_id, code, message, server_time, limit=None  the engine refused it
    resync         server_time, seq, view                          missed events too old: new view
    error          code, message                                   protocol-level error
    pong           nonce, server_time                              answer to ping
    slow_consumer  dropped                                         the send queue overflowed
    checkpoint     server_time, size, root, note, previous=0,      a signed checkpoint of the
                   proof=[]                                        auction's log (docs/record.md)

``seq`` numbers the auction's events (1 is the first); ``server_time`` and
every deadline are milliseconds since the Unix epoch on the server's clock, so
a countdown never trusts the client's clock. Integers are signed 64-bit, so
both codecs carry the same values (``nonce`` stays below 2**53, exact in
JavaScript).

Errors (the exception tree)::

    ValueError
    └── ProtocolError      a frame broke the protocol (the peer's fault);
                           ``code`` is an :class:`ErrorCode`, ``message`` is for humans

A decoder raises :class:`ProtocolError` and nothing else, whatever the bytes.
The whole protocol, with examples, is in docs/protocol.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Annotated, Any, Final

import msgspec
from msgspec import Meta

from gateway.tokens import MAX_TOKEN_CHARS, Role

PROTOCOL_VERSION: Final = 1
"""Part of the subprotocol names; a breaking change gets a new version."""

DEFAULT_MAX_FRAME_BYTES: Final = 4096
"""A bid is well under 200 bytes; 4 KiB leaves room and stops floods of bulk."""

MAX_INT64: Final = 2**63 - 1
MAX_SAFE_INTEGER: Final = 2**53 - 1
"""The largest integer a JavaScript number holds exactly."""


class Codec(StrEnum):
    """A codec, named by the WebSocket subprotocol that selects it."""

    MSGPACK = "underbid.v1.msgpack"
    """MessagePack maps in binary frames; the default for programs."""
    JSON = "underbid.v1.json"
    """JSON objects in text frames; for browsers and debugging."""


DEFAULT_CODEC: Final = Codec.MSGPACK
"""Used when the client offers no subprotocol at all."""

SUBPROTOCOLS: Final = (Codec.MSGPACK.value, Codec.JSON.value)
"""Every subprotocol the server speaks, most preferred first."""


def select_codec(offered: Sequence[str]) -> Codec | None:
    """The codec for a handshake's offered subprotocols (in the client's order).

    Nothing offered means :data:`DEFAULT_CODEC` (and no subprotocol in the
    response); offers that name none of :data:`SUBPROTOCOLS` give ``None``:
    refuse the handshake.
    """
    if not offered:
        return DEFAULT_CODEC
    for name in offered:
        if name in SUBPROTOCOLS:
            return Codec(name)
    return None


# ------------------------------------------------------------ close codes
NORMAL_CLOSURE: Final = 1000
"""The auction ended or the client said goodbye."""
GOING_AWAY: Final = 1001
"""The server is shutting down: reconnect (to another node) and resume."""
POLICY_VIOLATION: Final = 1008
"""The client kept breaking the protocol (garbage frames, no ``hello`` first)."""
MESSAGE_TOO_BIG: Final = 1009
"""A frame was larger than ``limits.max_frame_bytes``."""
INTERNAL_ERROR: Final = 1011
"""A bug of ours; the client may reconnect and resume."""
TRY_AGAIN_LATER: Final = 1013
"""The auction is not available here now (journal down, being rebuilt, moved)."""
AUTH_FAILED: Final = 4001
"""No token, or a bad, expired or foreign one; nothing else is revealed."""
IDLE_TIMEOUT: Final = 4002
"""Nothing received (not even a pong) for ``limits.idle_timeout_s``."""
FORBIDDEN_ORIGIN: Final = 4003
"""The handshake's ``Origin`` is not in ``security.allowed_origins``."""
UNKNOWN_AUCTION: Final = 4004
"""No such auction (said only to a client allowed to know)."""
RATE_LIMITED: Final = 4008
"""Policy: too many messages per second, or too many connections per bidder."""
SLOW_CONSUMER: Final = 4009
"""The client did not read fast enough; its send queue overflowed."""


# ------------------------------------------------------------------ errors
class ErrorCode(StrEnum):
    """Codes of ``error`` messages. Stable: never renamed, only added."""

    MALFORMED = "malformed"
    """Not decodable, or not the codec's frame type (text for JSON, binary for msgpack)."""
    UNKNOWN_TYPE = "unknown_type"
    """No ``type``, or one that is not a client message of this version."""
    UNKNOWN_FIELD = "unknown_field"
    """A field the message type does not have (a typo, or a newer client)."""
    INVALID_FIELD = "invalid_field"
    """A field of the wrong type or out of range, or a required one missing."""
    FRAME_TOO_LARGE = "frame_too_large"
    """Longer than the decoder's ``max_frame_bytes``; not even looked at."""
    UNEXPECTED_MESSAGE = "unexpected_message"
    """Sent by the server: ``hello`` must come first, and only once."""
    RATE_LIMITED = "rate_limited"
    """Sent by the server: over ``limits.messages_per_second`` (or the connection cap)."""
    DUPLICATE_FIELD = "duplicate_field"
    """A key appears twice in one message (which one counts would be a guess)."""


_CLOSE_CODES: Final = {
    ErrorCode.FRAME_TOO_LARGE: MESSAGE_TOO_BIG,
    ErrorCode.RATE_LIMITED: RATE_LIMITED,
}


class ProtocolError(ValueError):
    """A frame broke the protocol. Blamed on the peer; the message never echoes a token."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        """Machine-readable; what the ``error`` message carries."""
        self.message = message
        """For humans."""

    @property
    def close_code(self) -> int:
        """The close code to use if the server closes the connection over this error."""
        return _CLOSE_CODES.get(self.code, POLICY_VIOLATION)

    def to_message(self) -> ErrorMessage:
        """The ``error`` message telling the client."""
        return ErrorMessage(code=self.code.value, message=self.message)


# ---------------------------------------------------------------- field types
Int64 = Annotated[int, Meta(ge=-MAX_INT64 - 1, le=MAX_INT64)]
Seq = Annotated[int, Meta(ge=0, le=MAX_INT64)]
Millis = Annotated[int, Meta(ge=0, le=MAX_INT64)]
LotId = Annotated[str, Meta(max_length=128)]
BidId = Annotated[str, Meta(min_length=1, max_length=64)]
Token = Annotated[str, Meta(max_length=MAX_TOKEN_CHARS)]
Nonce = Annotated[int, Meta(ge=0, le=MAX_SAFE_INTEGER)]


# --------------------------------------------------------- client -> server
class ClientMessage(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", forbid_unknown_fields=True
):
    """Base of what clients send: closed, strict, every new field optional."""


class Hello(ClientMessage, frozen=True, kw_only=True, tag="hello"):
    """The first message. The token may come in a header instead (checked first)."""

    token: Token = ""
    """Signed by the server (:mod:`gateway.tokens`); empty for a public observer."""
    last_seq: Seq | None = None
    """The last event seq this client saw: resume after it. ``None``: a fresh view."""


class Bid(ClientMessage, frozen=True, kw_only=True, tag="bid"):
    """Place a bid (``open``) or post in one's turn (``rounds``)."""

    lot: LotId = ""
    """The lot; empty for the auction's only lot."""
    amount: Int64
    """Minor units (integer). The engine judges the value (positive, step, ceiling)."""
    bid_id: BidId
    """Chosen by the client, 1-64 characters; resend the same id to retry safely."""


class Cancel(ClientMessage, frozen=True, kw_only=True, tag="cancel"):
    """``rounds``: revert this turn's posts. ``japanese``: leave the auction."""

    lot: LotId = ""
    bid_id: BidId


class Accept(ClientMessage, frozen=True, kw_only=True, tag="accept"):
    """``japanese``: confirm the round's price. ``dutch``: take the current price."""

    lot: LotId = ""
    bid_id: BidId


class Ping(ClientMessage, frozen=True, kw_only=True, tag="ping"):
    """Liveness; the ``pong`` carries the server's time for clock offset estimates."""

    nonce: Nonce = 0
    """Echoed in the ``pong``."""


AnyClientMessage = Hello | Bid | Cancel | Accept | Ping
CLIENT_MESSAGES: Final[tuple[type[ClientMessage], ...]] = AnyClientMessage.__args__


# --------------------------------------------------------- server -> client
class ServerMessage(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of what the server sends. Decoded tolerantly by clients (see module doc)."""


class Welcome(ServerMessage, frozen=True, kw_only=True, tag="welcome"):
    """Authenticated: who the server takes the client for, and where the auction is."""

    role: Role
    bidder: str | None = None
    """The bidder id of a bidder connection; ``None`` otherwise."""
    label: str | None = None
    """The bidder's anonymous label as others see it (``Bidder #2``), if assigned."""
    server_time: Millis
    seq: Seq
    """The view is as of this event; events with a greater seq follow."""
    view: dict[str, Any]
    """The role's view (:func:`auction.core.views.auction_view`)."""
    next_deadline: Millis | None = None
    """The auction's next deadline, on the server's clock; ``None``: none (paused, over)."""


class EventMessage(ServerMessage, frozen=True, kw_only=True, tag="event"):
    """One event of the auction, as the role may see it."""

    seq: Seq
    server_time: Millis
    event: dict[str, Any]
    """The event with its own ``type`` (:func:`auction.core.events.event_to_dict`)."""


class EventItem(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of an ``events`` message."""

    seq: Seq
    event: dict[str, Any]


class EventsMessage(ServerMessage, frozen=True, kw_only=True, tag="events"):
    """Several events in one frame, in seq order: the events of one loop turn."""

    server_time: Millis
    items: list[EventItem]


class Ack(ServerMessage, frozen=True, kw_only=True, tag="ack"):
    """The command with ``bid_id`` was accepted and is durable in the journal."""

    bid_id: str
    seq: Seq
    """The auction's seq once the command's events were durable."""
    server_time: Millis
    duplicate: bool = False
    """True when ``bid_id`` had been seen: this repeats the original outcome."""
    leaf_index: Seq | None = None
    """The 0-based index, in the auction's transparency log, of the event that
    records this command (its seq - 1): what a receipt proves. ``None`` for a
    duplicate (the original's ack carried it)."""


class Rejected(ServerMessage, frozen=True, kw_only=True, tag="rejected"):
    """The command with ``bid_id`` was refused; nothing changed."""

    bid_id: str
    code: str
    """The engine's :class:`auction.core.errors.Code`, or ``unavailable``, ``forbidden``..."""
    message: str
    server_time: Millis
    limit: int | None = None
    """The largest amount allowed now, for ``step_too_small`` and ``above_ceiling``
    (minor units), so that a page can say it in its own language; else None."""


class Resync(ServerMessage, frozen=True, kw_only=True, tag="resync"):
    """The missed events are too old to replay: here is the current view instead."""

    server_time: Millis
    seq: Seq
    view: dict[str, Any]


class ErrorMessage(ServerMessage, frozen=True, kw_only=True, tag="error"):
    """A protocol-level error (:class:`ErrorCode`, or a token code before a 4001 close)."""

    code: str
    message: str


class Pong(ServerMessage, frozen=True, kw_only=True, tag="pong"):
    nonce: Nonce
    server_time: Millis


class SlowConsumer(ServerMessage, frozen=True, kw_only=True, tag="slow_consumer"):
    """Sent (if it fits) before closing with :data:`SLOW_CONSUMER`."""

    dropped: Annotated[int, Meta(ge=0)]
    """How many frames did not fit in the send queue."""


class Checkpoint(ServerMessage, frozen=True, kw_only=True, tag="checkpoint"):
    """A signed checkpoint of the auction's transparency log (docs/record.md):
    sent at most a second after events became durable, and at every lot's end."""

    server_time: Millis
    size: Seq
    """The events it covers: seqs 1 to ``size`` (the RFC 9162 tree size)."""
    root: str
    """The tree's root hash, base64."""
    note: str
    """The C2SP signed note: the checkpoint's text, a blank line, the signatures."""
    previous: Seq = 0
    """The size of the checkpoint sent before this one on the stream (0: none)."""
    proof: list[str] = []
    """The RFC 9162 consistency proof from ``previous`` to ``size`` (base64 hashes)."""


AnyServerMessage = (
    Welcome
    | EventMessage
    | EventsMessage
    | Ack
    | Rejected
    | Resync
    | ErrorMessage
    | Pong
    | SlowConsumer
    | Checkpoint
)
SERVER_MESSAGES: Final[tuple[type[ServerMessage], ...]] = AnyServerMessage.__args__


# ------------------------------------------------------------------ decoding
def _tag(cls: type[msgspec.Struct]) -> str:
    tag = cls.__struct_config__.tag
    assert isinstance(tag, str)
    return tag


def _fields_by_tag(classes: tuple[type[msgspec.Struct], ...]) -> dict[str, frozenset[str]]:
    return {_tag(cls): frozenset(cls.__struct_fields__) | {"type"} for cls in classes}


_CLIENT_FIELDS: Final = _fields_by_tag(CLIENT_MESSAGES)
_SERVER_FIELDS: Final = _fields_by_tag(SERVER_MESSAGES)


_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")


def _show(value: object) -> str:
    """A peer's name, echoed only when it looks like one: never a token, never bulk."""
    if isinstance(value, str) and _NAME_RE.fullmatch(value):
        return f"`{value}`"
    return f"(a {type(value).__name__} that is not a name)"


def _explain(
    frame: bytes | str,
    error: Exception,
    decode_any: Callable[[Any], Any],
    fields: dict[str, frozenset[str]],
    strict: bool,
) -> ProtocolError:
    """Classify a frame the typed decoder refused. Only runs on bad input."""
    if not isinstance(error, msgspec.ValidationError):
        return ProtocolError(ErrorCode.MALFORMED, "the frame could not be decoded")
    try:
        data = decode_any(frame)
    except (msgspec.DecodeError, RecursionError, UnicodeError):
        return ProtocolError(ErrorCode.MALFORMED, "the frame could not be decoded")
    if not isinstance(data, dict):
        return ProtocolError(ErrorCode.MALFORMED, "a message is one object with a `type` field")
    kind = data.get("type")
    if kind is None:
        return ProtocolError(ErrorCode.UNKNOWN_TYPE, "a message needs a `type` field")
    if not isinstance(kind, str) or kind not in fields:
        expected = ", ".join(fields)
        return ProtocolError(
            ErrorCode.UNKNOWN_TYPE, f"unknown message type {_show(kind)}; expected {expected}"
        )
    if strict:
        for key in data:
            if key not in fields[kind]:
                return ProtocolError(ErrorCode.UNKNOWN_FIELD, f"`{kind}` has no field {_show(key)}")
    return ProtocolError(ErrorCode.INVALID_FIELD, f"`{kind}`: {error}")


class Decoder:
    """Decodes client frames of one codec into :data:`AnyClientMessage`.

    Raises :class:`ProtocolError` and nothing else. The size is checked before
    anything is decoded; the typed decode validates every field in one pass,
    and only a refused frame is looked at again to name what was wrong.
    """

    codec: Codec

    def __init__(self, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        if max_frame_bytes < 1:
            raise ValueError("max_frame_bytes must be positive")
        self.max_frame_bytes = max_frame_bytes
        """Frames longer than this (in bytes, UTF-8 for text) are refused unread."""

    def decode(self, frame: bytes | str) -> AnyClientMessage:
        raise NotImplementedError

    def _too_large(self, size: int) -> ProtocolError:
        return ProtocolError(
            ErrorCode.FRAME_TOO_LARGE,
            f"a frame of {size} bytes is over the limit of {self.max_frame_bytes}",
        )


class MsgpackDecoder(Decoder):
    """``underbid.v1.msgpack``: one MessagePack map per binary frame."""

    codec = Codec.MSGPACK

    def __init__(self, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        super().__init__(max_frame_bytes=max_frame_bytes)
        self._decoder = msgspec.msgpack.Decoder(AnyClientMessage)
        self._keys = msgspec.msgpack.Decoder(dict[str, Any])

    def decode(self, frame: bytes | str) -> AnyClientMessage:
        if not isinstance(frame, bytes | bytearray | memoryview):
            raise ProtocolError(ErrorCode.MALFORMED, f"{self.codec} carries binary frames")
        if len(frame) > self.max_frame_bytes:
            raise self._too_large(len(frame))
        try:
            message: AnyClientMessage = self._decoder.decode(frame)
        except (msgspec.DecodeError, RecursionError, UnicodeError) as exc:
            raise _explain(frame, exc, msgspec.msgpack.decode, _CLIENT_FIELDS, True) from None
        # A map's header says how many pairs it holds; fewer distinct keys
        # means one came twice (msgspec keeps the last, silently).
        if _msgpack_map_size(frame) != len(self._keys.decode(frame)):
            raise _duplicate()
        return message


def _msgpack_map_size(frame: bytes | bytearray | memoryview) -> int:
    first = frame[0]
    if 0x80 <= first <= 0x8F:
        return first & 0x0F
    if first == 0xDE:
        return int.from_bytes(frame[1:3], "big")
    return int.from_bytes(frame[1:5], "big")  # 0xdf: the typed decode took only maps


def _duplicate() -> ProtocolError:
    return ProtocolError(ErrorCode.DUPLICATE_FIELD, "a field appears twice in the message")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = {key for key, _ in pairs}
    if len(keys) != len(pairs):
        raise _DuplicateKey
    return dict(pairs)


class _DuplicateKey(ValueError):
    pass


class JsonDecoder(Decoder):
    """``underbid.v1.json``: one JSON object per text frame."""

    codec = Codec.JSON

    def __init__(self, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        super().__init__(max_frame_bytes=max_frame_bytes)
        self._decoder = msgspec.json.Decoder(AnyClientMessage)

    def decode(self, frame: bytes | str) -> AnyClientMessage:
        if not isinstance(frame, str):
            raise ProtocolError(ErrorCode.MALFORMED, f"{self.codec} carries text frames")
        size = len(frame)  # characters; UTF-8 takes 1 to 4 bytes each
        if size * 4 > self.max_frame_bytes:
            size = len(frame.encode("utf-8", "surrogatepass"))
            if size > self.max_frame_bytes:
                raise self._too_large(size)
        try:
            message: AnyClientMessage = self._decoder.decode(frame)
        except (msgspec.DecodeError, RecursionError, UnicodeError) as exc:
            raise _explain(frame, exc, msgspec.json.decode, _CLIENT_FIELDS, True) from None
        try:  # the standard library's parser reports every key it sees
            json.loads(frame, object_pairs_hook=_no_duplicates)
        except _DuplicateKey:
            raise _duplicate() from None
        return message


def decoder_for(codec: Codec, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> Decoder:
    """A client-message decoder for a negotiated codec."""
    cls = MsgpackDecoder if codec is Codec.MSGPACK else JsonDecoder
    return cls(max_frame_bytes=max_frame_bytes)


_server_msgpack = msgspec.msgpack.Decoder(AnyServerMessage)
_server_json = msgspec.json.Decoder(AnyServerMessage)


def decode_server(frame: bytes | str, codec: Codec) -> AnyServerMessage:
    """A server frame, for clients and tests: tolerant of unknown fields.

    Raises :class:`ProtocolError` (``unknown_type`` for a message type this
    version does not know: a client should skip it).
    """
    message: AnyServerMessage
    try:
        if codec is Codec.MSGPACK:
            if not isinstance(frame, bytes | bytearray | memoryview):
                raise ProtocolError(ErrorCode.MALFORMED, f"{codec} carries binary frames")
            message = _server_msgpack.decode(frame)
        else:
            if not isinstance(frame, str):
                raise ProtocolError(ErrorCode.MALFORMED, f"{codec} carries text frames")
            message = _server_json.decode(frame)
    except (msgspec.DecodeError, RecursionError, UnicodeError) as exc:
        decode_any = msgspec.msgpack.decode if codec is Codec.MSGPACK else msgspec.json.decode
        raise _explain(frame, exc, decode_any, _SERVER_FIELDS, False) from None
    return message


# ------------------------------------------------------------------ encoding
class MsgpackEncoder:
    """Server messages as MessagePack bytes (send as one binary frame)."""

    codec = Codec.MSGPACK

    def __init__(self) -> None:
        self._encoder = msgspec.msgpack.Encoder()

    def encode(self, message: ServerMessage) -> bytes:
        return self._encoder.encode(message)


class JsonEncoder:
    """Server messages as JSON text (send as one text frame)."""

    codec = Codec.JSON

    def __init__(self) -> None:
        self._encoder = msgspec.json.Encoder()

    def encode(self, message: ServerMessage) -> str:
        return self._encoder.encode(message).decode()


_msgpack_encoder = MsgpackEncoder()
_json_encoder = JsonEncoder()


def encode_server(message: ServerMessage, codec: Codec) -> bytes | str:
    """Encode once; send the same bytes (or text) to every socket of that codec."""
    if codec is Codec.MSGPACK:
        return _msgpack_encoder.encode(message)
    return _json_encoder.encode(message)


def encode_client(message: ClientMessage, codec: Codec) -> bytes | str:
    """A client message as a frame of ``codec`` (for the Python client and tests)."""
    if codec is Codec.MSGPACK:
        return msgspec.msgpack.encode(message)
    return msgspec.json.encode(message).decode()


__all__ = [
    "AUTH_FAILED",
    "CLIENT_MESSAGES",
    "DEFAULT_CODEC",
    "DEFAULT_MAX_FRAME_BYTES",
    "FORBIDDEN_ORIGIN",
    "GOING_AWAY",
    "IDLE_TIMEOUT",
    "INTERNAL_ERROR",
    "MESSAGE_TOO_BIG",
    "NORMAL_CLOSURE",
    "POLICY_VIOLATION",
    "PROTOCOL_VERSION",
    "RATE_LIMITED",
    "SERVER_MESSAGES",
    "SLOW_CONSUMER",
    "SUBPROTOCOLS",
    "TRY_AGAIN_LATER",
    "UNKNOWN_AUCTION",
    "Accept",
    "Ack",
    "AnyClientMessage",
    "AnyServerMessage",
    "Bid",
    "Cancel",
    "Checkpoint",
    "ClientMessage",
    "Codec",
    "Decoder",
    "ErrorCode",
    "ErrorMessage",
    "EventItem",
    "EventMessage",
    "EventsMessage",
    "Hello",
    "JsonDecoder",
    "JsonEncoder",
    "MsgpackDecoder",
    "MsgpackEncoder",
    "Ping",
    "Pong",
    "ProtocolError",
    "Rejected",
    "Resync",
    "ServerMessage",
    "SlowConsumer",
    "Welcome",
    "decode_server",
    "decoder_for",
    "encode_client",
    "encode_server",
    "select_codec",
]
