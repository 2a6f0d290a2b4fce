"""Signing keys with validity windows, their files, and the published key list.

A **key file** (written by ``underbid keys new``, mode 0600) is JSON::

    {"underbid_key": 1, "name": "underbid", "key_id": "1a2b3c4d",
     "signer": "PRIVATE+KEY+underbid+1a2b3c4d+AX…", "verifier": "underbid+1a2b3c4d+AX…",
     "not_before": "2026-01-01T00:00:00.000Z", "not_after": null}

The **key list** (``/.well-known/underbid-keys.json``, and the ``.pub.json``
file beside a key file) is JSON with the public half only::

    {"keys": [{"name": "underbid", "key_id": "1a2b3c4d", "algorithm": "ed25519",
               "verifier": "underbid+1a2b3c4d+AX…", "public_key": "…base64…",
               "not_before": "…", "not_after": null}]}

A key signs a checkpoint only when the checkpoint's time lies in its window
(``not_before <= time < not_after``; a missing bound is open), and a verifier
refuses a signature whose key was not valid at the checkpoint's time. Rotation:
configure the new key (``not_before`` = when it takes over) beside the old one
(``not_after`` = when it retires, later than the new key's start); in the
overlap every checkpoint carries both signatures.

Errors (the exception tree)::

    ValueError
    └── KeyFileError      a key file or key list that cannot be read (names the file and field)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auction.core.record import iso
from auction.transparency.notes import NoteError, SignerKey, VerifierKey

KEY_FILE_VERSION: Final = 1
DEFAULT_KEY_NAME: Final = "underbid"


class KeyFileError(ValueError):
    """A key file or key list is unreadable or wrong; the message names where."""


def parse_time(text: str, where: str) -> int:
    """An ISO-8601 time with a zone (``Z`` or ``+02:00``) as ms since the epoch."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        raise KeyFileError(f"{where}: {text!r} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        raise KeyFileError(f"{where}: {text!r} has no zone (add Z or +HH:MM)")
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Window:
    """When a key may sign: ``not_before <= t < not_after`` (ms; None: open)."""

    not_before: int | None = None
    not_after: int | None = None

    def covers(self, ms: int) -> bool:
        return (self.not_before is None or self.not_before <= ms) and (
            self.not_after is None or ms < self.not_after
        )

    def describe(self) -> str:
        start = iso(self.not_before) if self.not_before is not None else "always"
        end = iso(self.not_after) if self.not_after is not None else "no end"
        return f"valid from {start} until {end}"

    def to_json(self) -> dict[str, str | None]:
        return {
            "not_before": iso(self.not_before) if self.not_before is not None else None,
            "not_after": iso(self.not_after) if self.not_after is not None else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> Window:
        bounds: list[int | None] = []
        for name in ("not_before", "not_after"):
            value = data.get(name)
            if value is None:
                bounds.append(None)
            elif isinstance(value, str):
                bounds.append(parse_time(value, f"{where}.{name}"))
            else:
                raise KeyFileError(f"{where}.{name}: an ISO-8601 time or null")
        window = cls(*bounds)
        if (
            window.not_before is not None
            and window.not_after is not None
            and window.not_after <= window.not_before
        ):
            raise KeyFileError(f"{where}: not_after must be later than not_before")
        return window


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """A public key and when it was valid: what a verifier trusts."""

    key: VerifierKey
    window: Window = Window()

    def to_json(self) -> dict[str, Any]:
        import base64

        return {
            "name": self.key.name,
            "key_id": self.key.hex_id,
            "algorithm": "ed25519",
            "verifier": self.key.encode(),
            "public_key": base64.b64encode(self.key.public).decode(),
            **self.window.to_json(),
        }


@dataclass(slots=True)
class SigningKey:
    """A private key of this server and its window."""

    key: SignerKey
    window: Window = Window()
    path: str = ""
    """The file it came from; empty for an ephemeral key."""
    private: Ed25519PrivateKey = field(init=False, repr=False)
    trusted: TrustedKey = field(init=False)

    def __post_init__(self) -> None:
        self.private = self.key.signer()
        self.trusted = TrustedKey(self.key.verifier, self.window)


def key_file(key: SignerKey, window: Window) -> dict[str, Any]:
    """The JSON of a key file."""
    return {
        "underbid_key": KEY_FILE_VERSION,
        "name": key.name,
        "key_id": key.verifier.hex_id,
        "signer": key.encode(),
        "verifier": key.verifier.encode(),
        **window.to_json(),
    }


def key_list(keys: Sequence[TrustedKey]) -> dict[str, Any]:
    """The JSON of a key list (what ``/.well-known/underbid-keys.json`` serves)."""
    return {"keys": [k.to_json() for k in keys]}


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return json.loads(text)
    except ValueError:
        stripped = text.strip()
        if stripped and "\n" not in stripped:
            return stripped  # a bare C2SP key string
        raise KeyFileError(f"{path}: not JSON, nor a key string") from None


def load_signing_key(path: str) -> SigningKey:
    """A key file written by ``underbid keys new``."""
    data = _read_json(path)
    if not isinstance(data, dict) or data.get("underbid_key") != KEY_FILE_VERSION:
        raise KeyFileError(f"{path}: not an underbid key file (see `underbid keys new`)")
    signer = data.get("signer")
    if not isinstance(signer, str):
        raise KeyFileError(f"{path}: signer: the PRIVATE+KEY+… string is missing")
    try:
        key = SignerKey.decode(signer)
    except NoteError as exc:
        raise KeyFileError(f"{path}: signer: {exc}") from None
    return SigningKey(key, Window.from_json(data, path), os.fspath(path))


def parse_key_list(data: Any, where: str) -> list[TrustedKey]:
    """The trusted keys of a key list, or of one verifier key string."""
    if isinstance(data, str):
        try:
            return [TrustedKey(VerifierKey.decode(data))]
        except NoteError as exc:
            raise KeyFileError(f"{where}: {exc}") from None
    if isinstance(data, dict) and data.get("underbid_key") == KEY_FILE_VERSION:
        data = {"keys": [data]}  # a private key file: trust its public half
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise KeyFileError(f'{where}: expected {{"keys": [...]}} or a verifier key')
    keys: list[TrustedKey] = []
    for i, item in enumerate(data["keys"]):
        at = f"{where}: keys[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("verifier"), str):
            raise KeyFileError(f"{at}.verifier: the NAME+KEYID+BASE64 string is missing")
        try:
            key = VerifierKey.decode(item["verifier"])
        except NoteError as exc:
            raise KeyFileError(f"{at}.verifier: {exc}") from None
        keys.append(TrustedKey(key, Window.from_json(item, at)))
    return keys


def load_trusted_keys(path: str) -> list[TrustedKey]:
    """``--key FILE``: a key list, a ``.pub.json``, a key file, or one verifier key line."""
    return parse_key_list(_read_json(path), path)


def write_key_pair(path: str, name: str, window: Window, *, force: bool = False) -> SigningKey:
    """Create a key, write it to ``path`` (0600) and its public half to ``path.pub.json``."""
    key = SigningKey(SignerKey.generate(name), window, path)
    public = public_path(path)
    for target in (path, public):
        if os.path.exists(target) and not force:
            raise KeyFileError(f"{target}: already exists (pass --force to replace it)")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(path, flags, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(key_file(key.key, window), fh, indent=2)
            fh.write("\n")
        with open(public, "w", encoding="utf-8") as fh:
            json.dump(key_list([key.trusted]), fh, indent=2)
            fh.write("\n")
    except OSError as exc:
        raise KeyFileError(f"{exc.filename}: cannot write: {exc.strerror}") from None
    return key


def public_path(path: str) -> str:
    base = path[:-5] if path.endswith(".json") else path
    return base + ".pub.json"


def describe(key: TrustedKey) -> str:
    return f"{key.key.name}+{key.key.hex_id} ({key.window.describe()})"


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)
