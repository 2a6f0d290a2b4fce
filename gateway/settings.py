"""Server settings: a TOML file, then environment variables, over safe defaults.

``config/default.toml`` lists every key with its default and one comment
(a test keeps it equal to the defaults here). A file only needs the keys it
changes. Each key can be overridden by ``UNDERBID_<SECTION>_<KEY>``, e.g.
``UNDERBID_SERVER_PORT=9000`` or ``UNDERBID_LIMITS_MAX_FRAME_BYTES=8192``,
parsed with the key's type: integers in decimal, booleans as
``true``/``false``/``1``/``0``, lists comma-separated, lists of tables (the
webhook endpoints) as a JSON list of objects.

Nothing is guessed: an unknown section or key (a typo) is an error, and so is
a value of the wrong type or out of range. Every error names the dotted key
(``limits.max_frame_bytes``) or, for an override, the variable
(``UNDERBID_LIMITS_MAX_FRAME_BYTES``), and the start stops.

Errors (the exception tree)::

    ValueError
    └── SettingsError   a file that cannot be read or parsed (key: its path; the
                        message has the line), or a bad key or value (key: the
                        dotted key or the environment variable)
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import secrets
import tomllib
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, Final, get_args, get_origin
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta

from auction.runtime.journal import REDIS_SCHEMES

log = logging.getLogger("underbid.gateway")

ENV_PREFIX: Final = "UNDERBID_"
MIN_SECRET_CHARS: Final = 32
"""A configured token secret shorter than this is refused (HMAC-SHA256 wants 32 bytes)."""

Port = Annotated[int, Meta(ge=1, le=65535)]
Positive = Annotated[int, Meta(ge=1)]
NonNegative = Annotated[int, Meta(ge=0)]


class SettingsError(ValueError):
    """A bad settings file or value. ``key`` says where, so the operator can fix it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        """The dotted key, the environment variable, or the file's path."""
        self.message = message


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class ServerSettings(_Section, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    """Interface to listen on; loopback unless exposed on purpose."""
    port: Port = 8000
    public_url: str = ""
    """How clients reach the server (behind a proxy); empty: derived from host and port."""


ReplicaCount = Annotated[int, Meta(ge=0, le=16)]
ReplicaTimeout = Annotated[int, Meta(ge=1, le=1900)]


class JournalSettings(_Section, frozen=True, kw_only=True):
    redis_url: str = ""
    """``redis://``, ``rediss://``, ``unix://``, ``redis+sentinel://`` or
    ``redis+cluster://``; ``memory://``: in this process; empty: SQLite in
    ``data_dir`` (in memory if that is empty too)."""
    data_dir: str = ""
    """Directory of the SQLite journal when no Redis is named (serve: ``underbid-data``)."""
    min_replicas: ReplicaCount = 0
    """Redis replicas that must confirm every append and lease before a bid is acknowledged."""
    replica_timeout_ms: ReplicaTimeout = 1000
    """How long to wait for them; past it the bid is answered ``unavailable``."""
    lease_ms: Positive = 5000
    """How long a writer's lease on an auction lasts unless renewed."""
    snapshot_every: Positive = 1000
    """Write a snapshot after this many events."""


class ClusterSettings(_Section, frozen=True, kw_only=True):
    """How the nodes on one Redis find each other (docs/operations.md, "A cluster")."""

    heartbeat_ms: Positive = 200
    """How often a node renews its registration and reconsiders who owns what."""
    node_ttl_ms: Positive = 1000
    """A node whose registration is this old is dead: its auctions are taken over."""
    max_clock_offset_ms: Positive = 250
    """A node whose clock is further than this from Redis's owns no auction."""
    may_own: bool = True
    """False: the node serves every auction but owns none (it forwards every command)."""


class SecuritySettings(_Section, frozen=True, kw_only=True):
    token_secret: str = ""
    """HMAC key for tokens, at least 32 characters; empty: random per process."""
    allowed_origins: tuple[str, ...] = ("http://127.0.0.1:8000", "http://localhost:8000")
    """Origins (``http(s)://host[:port]``) whose pages may open WebSockets."""
    token_ttl_s: Positive = 86400
    """Lifetime of the tokens the server issues."""
    token_key_id: str = ""
    """The ``kid`` of the shared secret in tokens; empty: derived from the secret."""
    platform_jwks_url: str = ""
    """A platform's JWKS (https URL): its keys may mint tokens; empty: no platform keys."""
    platform_issuer: str = ""
    """If set, tokens signed by a platform key must carry this ``iss``."""
    platform_roles: tuple[str, ...] = ("bidder", "observer")
    """The roles a platform key may mint (never operator tokens)."""
    jwks_refresh_s: Positive = 300
    """How often the platform's JWKS is fetched again."""


class LimitsSettings(_Section, frozen=True, kw_only=True):
    max_frame_bytes: Positive = 4096
    messages_per_second: Positive = 20
    """Sustained messages per second per connection (token bucket rate)."""
    burst: Positive = 40
    """Messages a connection may send at once above the rate (bucket size)."""
    connections_per_bidder: Positive = 3
    send_queue_frames: Positive = 256
    """Frames queued for one slow client before it is told and dropped."""
    idle_timeout_s: Positive = 60
    ping_interval_s: Positive = 20
    """Must be shorter than ``idle_timeout_s``."""
    compression: bool = False
    """permessage-deflate; off: it costs memory and invites compression bombs."""
    send_stall_s: Positive = 10
    """A WebSocket that cannot be written to for this long is dropped as a slow consumer."""
    max_connections: NonNegative = 0
    """WebSockets per process; 0: the open-file limit less 512."""
    max_body_bytes: Annotated[int, Meta(ge=64, le=64 * 1024 * 1024)] = 2 * 1024 * 1024
    """Largest HTTP request body (refused with 413 while it is read)."""
    max_json_depth: Annotated[int, Meta(ge=4, le=512)] = 32
    """Deepest nesting of a JSON body (arrays and objects)."""
    http_request_timeout_s: Positive = 10
    """A request (headers and body) must arrive within this long (else the connection closes)."""
    shutdown_timeout_s: Positive = 10
    """How long a stopping server waits for requests in flight."""


class AuctionsSettings(_Section, frozen=True, kw_only=True):
    public_by_default: bool = True
    """Whether anyone may watch an auction's anonymised view without a token."""


class RecordSettings(_Section, frozen=True, kw_only=True):
    keys: tuple[str, ...] = ()
    """Key files (``underbid keys new``) that sign checkpoints; empty: an ephemeral key."""
    origin: str = "underbid"
    """First part of every log's origin line (``ORIGIN/AUCTION_ID``): the public host name."""
    checkpoint_interval_ms: Annotated[int, Meta(ge=10, le=60_000)] = 1000
    """Most time between events becoming durable and a checkpoint covering them."""


class WebhookEndpoint(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One receiver of Standard Webhooks (docs/integration.md)."""

    name: str
    """Stable id: deliveries and the disabled flag are kept under it."""
    url: str
    """http(s) URL the messages are POSTed to."""
    secret: str = ""
    """``whsec_`` + base64 of the signing key (at least 24 bytes); or use ``secret_env``."""
    secret_env: str = ""
    """The environment variable that holds the secret (keeps it out of files)."""
    events: tuple[str, ...] = ("lot.ended", "auction.ocds_release")
    """Which messages it receives."""


class WebhooksSettings(_Section, frozen=True, kw_only=True):
    endpoints: tuple[WebhookEndpoint, ...] = ()
    """Receivers; in the file as ``[[webhooks.endpoints]]`` tables."""
    timeout_ms: Positive = 10000
    """One delivery attempt's limit (connect + answer)."""
    first_retry_ms: Positive = 5000
    """The wait after the first failure; it doubles each time (with jitter)."""
    max_retry_ms: Positive = 3_600_000
    """The longest wait between two attempts."""
    max_age_s: Positive = 86400
    """A message not delivered this long after it was made is given up (dead)."""
    lease_ms: Positive = 60000
    """How long a node holds a claimed delivery before another may take it."""


class OcdsSettings(_Section, frozen=True, kw_only=True):
    ocid_prefix: str = "ocds-underbid"
    """The OCDS ``ocid`` prefix (register your own with the Open Contracting Partnership)."""
    publisher_name: str = "Underbid"
    """The release package's ``publisher.name``."""
    publisher_uri: str = ""
    """The release package's ``publisher.uri``; empty: left out."""
    license: str = ""
    """The data's licence URL (e.g. an Open Data Commons one); empty: left out."""


class BridgeSettings(_Section, frozen=True, kw_only=True):
    enabled: bool = False
    """Whether ``underbid serve`` also runs the bridge (``underbid bridge`` always does)."""
    cdb_url: str = ""
    """The CDB API base, e.g. https://cdb.example/api/2.5 (the tenders feed is below it)."""
    cdb_token: str = ""
    """The bridge's token with the CDB's auction role (sent as Bearer)."""
    ds_url: str = ""
    """The document service's upload URL (protocols are uploaded there)."""
    ds_auth: str = ""
    """``user:password`` for the document service (Basic); empty: none."""
    underbid_url: str = ""
    """Underbid's API as the bridge reaches it; empty: this server (serve) or server.public_url."""
    underbid_token: str = ""
    """An operator token for Underbid; empty: minted with security.token_secret."""
    state: str = "underbid-bridge.sqlite3"
    """The bridge's durable state (feed offset, planned lots): a SQLite file."""
    poll_ms: Positive = 10000
    """How long the bridge waits on an empty feed page, and between result checks."""
    timeout_ms: Positive = 30000
    """One request's limit (to the CDB, its document service or Underbid); then retried."""
    procurement_method_types: tuple[str, ...] = (
        "belowThreshold",
        "aboveThreshold",
        "aboveThresholdUA",
        "aboveThresholdEU",
        "aboveThresholdUA.defense",
        "competitiveDialogueUA.stage2",
        "competitiveDialogueEU.stage2",
        "closeFrameworkAgreementUA",
        "simple.defense",
    )
    """Tenders of these types are auctioned here; others are skipped."""
    rounds: int = 3
    """Rounds of each auction."""
    first_pause_ms: int = 300000
    """The pause before round 1 (ProZorro: 300 s)."""
    pause_ms: int = 120000
    """The pause between rounds (ProZorro: 120 s)."""
    turn_ms: int = 120000
    """One bidder's turn (ProZorro: 120 s)."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Every setting of the server, grouped by section."""

    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    journal: JournalSettings = msgspec.field(default_factory=JournalSettings)
    cluster: ClusterSettings = msgspec.field(default_factory=ClusterSettings)
    security: SecuritySettings = msgspec.field(default_factory=SecuritySettings)
    limits: LimitsSettings = msgspec.field(default_factory=LimitsSettings)
    auctions: AuctionsSettings = msgspec.field(default_factory=AuctionsSettings)
    record: RecordSettings = msgspec.field(default_factory=RecordSettings)
    webhooks: WebhooksSettings = msgspec.field(default_factory=WebhooksSettings)
    ocds: OcdsSettings = msgspec.field(default_factory=OcdsSettings)
    bridge: BridgeSettings = msgspec.field(default_factory=BridgeSettings)


SECTIONS: Final[dict[str, type[_Section]]] = {
    f.name: f.type for f in msgspec.structs.fields(Settings) if isinstance(f.type, type)
}


def section_fields(section: str) -> dict[str, Any]:
    """Key -> annotated type of one section (the schema both sources are read with)."""
    return {f.name: f.type for f in msgspec.structs.fields(SECTIONS[section])}


# ---------------------------------------------------------------- value checks
_ORIGIN_RE: Final = re.compile(r"https?://(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]*[a-z0-9])?)(:\d+)?")
_JOURNAL_SCHEMES: Final = REDIS_SCHEMES


def _check_host(value: str) -> str | None:
    if not value or any(c.isspace() for c in value):
        return "must be a host name or IP address"
    return None


def _check_url(value: str) -> str | None:
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be empty or an http(s):// URL"
    if parts.query or parts.fragment:
        return "must have no query or fragment"
    return _check_port_of(value)


def _check_port_of(value: str) -> str | None:
    try:
        port = urlsplit(value).port
    except ValueError:
        return "has an invalid port"
    if port == 0:
        return "has an invalid port"
    return None


def _check_redis_url(value: str) -> str | None:
    if value in ("", "memory", "memory://") or value.startswith(_JOURNAL_SCHEMES):
        return None
    return (
        "must be empty (SQLite in journal.data_dir), memory://, or a redis://, rediss://, "
        "unix://, redis+sentinel:// or redis+cluster:// URL"
    )


def _check_secret(value: str) -> str | None:
    if value and len(value.encode()) < MIN_SECRET_CHARS:
        return f"must be empty (random per process) or at least {MIN_SECRET_CHARS} characters"
    return None


def _check_log_origin(value: str) -> str | None:
    if not value or "+" in value or any(c.isspace() or ord(c) < 0x20 for c in value):
        return "must be a name with no spaces and no '+', such as auctions.example.gov"
    return None


def _check_origins(value: tuple[str, ...]) -> str | None:
    for i, origin in enumerate(value):
        if not _ORIGIN_RE.fullmatch(origin.lower()) or _check_port_of(origin):
            return f"item {i} must be an origin like https://host[:port] (no path, no '*')"
    return None


def _check_http_url(value: str) -> str | None:
    return "must be empty or an http(s):// URL" if value and _check_url_base(value) else None


def _check_url_base(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s):// URL"
    if parts.fragment:
        return "must have no fragment"
    return _check_port_of(value)


def _check_jwks_url(value: str) -> str | None:
    """A JWKS decides who may mint tokens: https only (plain http on loopback, for tests)."""
    if not value:
        return None
    problem = _check_url_base(value)
    if problem:
        return problem
    parts = urlsplit(value)
    if parts.scheme != "https" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return "must be an https:// URL (plain http only on this machine's loopback)"
    return None


_WEBHOOK_NAME_RE: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
WEBHOOK_EVENTS: Final = ("lot.ended", "auction.ocds_release")
"""The messages a webhook endpoint may subscribe to (docs/integration.md)."""


def check_webhook_secret(secret: str) -> str | None:
    """Why a Standard Webhooks secret cannot sign (None: it can)."""
    import base64
    import binascii

    text = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return "must be whsec_ followed by base64"
    if len(key) < 24:
        return "must decode to at least 24 bytes"
    return None


def _check_endpoints(value: tuple[WebhookEndpoint, ...]) -> str | None:
    names: set[str] = set()
    for i, endpoint in enumerate(value):
        where = f"item {i} ({endpoint.name!r})"
        if not _WEBHOOK_NAME_RE.fullmatch(endpoint.name):
            return f"item {i}: name must be 1-63 of a-z, 0-9, '-', '_'"
        if endpoint.name in names:
            return f"{where}: the name is used twice"
        names.add(endpoint.name)
        problem = _check_url_base(endpoint.url)
        if problem:
            return f"{where}: url {problem}"
        if bool(endpoint.secret) == bool(endpoint.secret_env):
            return f"{where}: give exactly one of secret and secret_env"
        if endpoint.secret and (problem := check_webhook_secret(endpoint.secret)):
            return f"{where}: secret {problem}"
        unknown = sorted(set(endpoint.events) - set(WEBHOOK_EVENTS))
        if unknown or not endpoint.events:
            return f"{where}: events must be some of {', '.join(WEBHOOK_EVENTS)}"
    return None


def _check_roles(value: tuple[str, ...]) -> str | None:
    if not set(value) <= {"bidder", "observer", "official"}:
        return "items must be bidder, observer or official"
    return None


def _check_non_negative(value: int) -> str | None:
    return "must not be negative" if value < 0 else None


def _check_rounds(value: int) -> str | None:
    return "must be between 1 and 10" if not 1 <= value <= 10 else None


_CHECKS: Final[dict[str, Callable[[Any], str | None]]] = {
    "server.host": _check_host,
    "server.public_url": _check_url,
    "journal.redis_url": _check_redis_url,
    "security.token_secret": _check_secret,
    "security.allowed_origins": _check_origins,
    "record.origin": _check_log_origin,
    "security.platform_jwks_url": _check_jwks_url,
    "security.platform_roles": _check_roles,
    "webhooks.endpoints": _check_endpoints,
    "ocds.publisher_uri": _check_http_url,
    "ocds.license": _check_http_url,
    "bridge.cdb_url": _check_http_url,
    "bridge.ds_url": _check_http_url,
    "bridge.underbid_url": _check_http_url,
    "bridge.rounds": _check_rounds,
    "bridge.first_pause_ms": _check_non_negative,
    "bridge.pause_ms": _check_non_negative,
    "bridge.turn_ms": _check_non_negative,
}

_NORMALISE: Final[dict[str, Callable[[Any], Any]]] = {
    "security.allowed_origins": lambda origins: tuple(o.lower() for o in origins),
    "server.public_url": lambda url: url.rstrip("/"),
    "bridge.cdb_url": lambda url: url.rstrip("/"),
    "bridge.underbid_url": lambda url: url.rstrip("/"),
}


# ------------------------------------------------------------------ reading
def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean `{close[0]}`?" if close else ""


def _read_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    where = os.fspath(path)
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except OSError as exc:
        raise SettingsError(where, f"cannot read the settings file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:  # its message has the line and column
        raise SettingsError(where, f"not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise SettingsError(where, "not valid TOML: the file is not UTF-8") from None


def _from_file(data: Mapping[str, Any]) -> dict[str, tuple[Any, str]]:
    """Dotted key -> (value, where it came from)."""
    values: dict[str, tuple[Any, str]] = {}
    for section, table in data.items():
        if section not in SECTIONS:
            raise SettingsError(section, "unknown section" + _suggest(section, SECTIONS))
        if not isinstance(table, dict):
            raise SettingsError(section, f"must be a table ([{section}])")
        known = section_fields(section)
        for key, value in table.items():
            dotted = f"{section}.{key}"
            if key not in known:
                raise SettingsError(dotted, "unknown key" + _suggest(key, known))
            values[dotted] = (value, dotted)
    return values


def _base_type(annotation: Any) -> Any:
    return get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation


def _parse_env(text: str, annotation: Any) -> Any:
    """An environment variable's text as the key's type; raises ``ValueError``."""
    base = _base_type(annotation)
    if base is bool:
        word = text.strip().lower()
        if word in ("true", "1"):
            return True
        if word in ("false", "0"):
            return False
        raise ValueError("expected true, false, 1 or 0")
    if base is int:
        if not re.fullmatch(r"[+-]?[0-9]+", text.strip()):
            raise ValueError("expected an integer")
        return int(text)
    if get_origin(base) is tuple:
        item = get_args(base)[0]
        if isinstance(item, type) and issubclass(item, msgspec.Struct):  # tables: JSON
            try:
                return msgspec.json.decode(text.strip() or "[]")
            except msgspec.DecodeError as exc:
                raise ValueError(f"expected a JSON list of tables: {exc}") from None
        return [item.strip() for item in text.split(",") if item.strip()]
    return text


def _from_env(env: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    values: dict[str, tuple[Any, str]] = {}
    for name, text in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        for section in SECTIONS:
            prefix = f"{ENV_PREFIX}{section.upper()}_"
            if not name.startswith(prefix):
                continue
            known = section_fields(section)
            key = name[len(prefix) :].lower()
            if key not in known:
                names = [f"{prefix}{k.upper()}" for k in known]
                raise SettingsError(name, "unknown setting" + _suggest(name, names))
            try:
                values[f"{section}.{key}"] = (_parse_env(text, known[key]), name)
            except ValueError as exc:
                raise SettingsError(name, str(exc)) from None
    return values


def _convert(value: Any, annotation: Any, where: str, dotted: str) -> Any:
    try:
        converted = msgspec.convert(value, annotation)
    except msgspec.ValidationError as exc:
        raise SettingsError(where, str(exc).replace(" - at `$", " at `")) from None
    problem = _CHECKS.get(dotted, lambda _: None)(converted)
    if problem:
        raise SettingsError(where, problem)
    return _NORMALISE.get(dotted, lambda v: v)(converted)


def load_settings(path: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Settings:
    """The settings of a file (``None``: none) with ``env``'s overrides on top.

    Raises :class:`SettingsError` naming the key (or variable, or file) at the
    first problem. ``load_settings(None, {})`` gives the defaults.
    """
    values = _from_file(_read_file(path)) if path is not None else {}
    values.update(_from_env(env))
    sections: dict[str, _Section] = {}
    for section, cls in SECTIONS.items():
        kwargs: dict[str, Any] = {}
        for key, annotation in section_fields(section).items():
            dotted = f"{section}.{key}"
            if dotted in values:
                value, where = values[dotted]
                kwargs[key] = _convert(value, annotation, where, dotted)
        sections[section] = cls(**kwargs)
    settings = Settings(**sections)  # type: ignore[arg-type]
    cluster = settings.cluster
    if cluster.node_ttl_ms < 3 * cluster.heartbeat_ms:
        where = values.get("cluster.node_ttl_ms", (None, "cluster.node_ttl_ms"))[1]
        raise SettingsError(
            where,
            f"must be at least three heartbeats (3 x cluster.heartbeat_ms = "
            f"{3 * cluster.heartbeat_ms}): a node must not be declared dead for one late beat",
        )
    limits = settings.limits
    if limits.ping_interval_s >= limits.idle_timeout_s:
        # Blame the key that was set; the ping interval when both (or neither) were.
        if "limits.idle_timeout_s" in values and "limits.ping_interval_s" not in values:
            raise SettingsError(
                values["limits.idle_timeout_s"][1],
                f"must be longer than limits.ping_interval_s ({limits.ping_interval_s})",
            )
        where = values.get("limits.ping_interval_s", (None, "limits.ping_interval_s"))[1]
        raise SettingsError(
            where, f"must be shorter than limits.idle_timeout_s ({limits.idle_timeout_s})"
        )
    return settings


def with_value(settings: Settings, dotted: str, value: Any, where: str) -> Settings:
    """``settings`` with one key set to ``value``, checked as a file's value
    would be; a :class:`SettingsError` names ``where`` (a command-line option)."""
    section, _, key = dotted.partition(".")
    converted = _convert(value, section_fields(section)[key], where, dotted)
    changed = msgspec.structs.replace(getattr(settings, section), **{key: converted})
    return msgspec.structs.replace(settings, **{section: changed})


def token_secret(security: SecuritySettings) -> bytes:
    """The key that signs tokens: the configured one, or a random one per process.

    A random key is logged as a warning: tokens it signs die with the process.
    """
    if security.token_secret:
        return security.token_secret.encode()
    log.warning(
        "security.token_secret is empty: using a random secret for this process; "
        "tokens issued now will not survive a restart or work on another node"
    )
    return secrets.token_bytes(32)


__all__ = [
    "ENV_PREFIX",
    "SECTIONS",
    "WEBHOOK_EVENTS",
    "AuctionsSettings",
    "BridgeSettings",
    "ClusterSettings",
    "JournalSettings",
    "LimitsSettings",
    "OcdsSettings",
    "RecordSettings",
    "SecuritySettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "WebhookEndpoint",
    "WebhooksSettings",
    "check_webhook_secret",
    "load_settings",
    "section_fields",
    "token_secret",
    "with_value",
]
