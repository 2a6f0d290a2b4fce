"""C2SP signed notes with Ed25519 keys (pyca ``cryptography``).

A signed note (https://c2sp.org/signed-note) is a text ending in a newline, a
blank line, then one or more signature lines::

    <text>\\n
    \\n
    — <key name> <base64(key id || signature)>\\n

- the signature is Ed25519 over the text's UTF-8 bytes, final newline included;
- the **key id** is the first 4 bytes of ``SHA-256(key name || 0x0A || 0x01 || public key)``
  (0x01 names Ed25519);
- a **verifier key** is written ``<name>+<key id, 8 hex digits>+<base64(0x01 || public key)>``,
  a signer key ``PRIVATE+KEY+<name>+<key id>+<base64(0x01 || 32-byte seed)>`` —
  the same strings Go's ``golang.org/x/mod/sumdb/note`` reads and writes.

Verifiers ignore signatures by keys they do not know, as the spec says; a
signature by a known key that does not verify makes the whole note invalid.

Errors (the exception tree)::

    ValueError
    └── NoteError         a note, key or signature that is malformed or does not verify
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519: Final = 0x01
"""The signature type byte of Ed25519 in key ids and key encodings."""
DASH: Final = "\u2014 "
MAX_NOTE_BYTES: Final = 1_000_000
MAX_SIGNATURES: Final = 100
"""As Go's note package: a note with more signature lines is refused."""


class NoteError(ValueError):
    """A malformed note, key or signature line, or a signature that does not verify."""


def check_name(name: str) -> str:
    """A key name: non-empty, no whitespace, no ``+`` (the spec's rules)."""
    if not name or "+" in name or any(c.isspace() for c in name):
        raise NoteError(f"a key name is non-empty, with no spaces and no '+': {name!r}")
    return name


def key_id(name: str, public: bytes) -> bytes:
    """The 4-byte key id of an Ed25519 public key under ``name``."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public).digest()[:4]


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"{what} is not valid base64") from None


_PRIVATE: Final = "PRIVATE+KEY+"


def _encode_key(prefix: str, name: str, hex_id: str, key: bytes) -> str:
    return f"{prefix}{name}+{hex_id}+{base64.b64encode(bytes([ED25519]) + key).decode()}"


def _decode_key(text: str, prefix: str, kind: str) -> tuple[str, str, bytes]:
    """(name, key id in lower-case hex, the 32 key bytes) of a C2SP key string."""
    text = text.strip()
    parts = text[len(prefix) :].split("+", 2) if text.startswith(prefix) else []
    if len(parts) != 3:
        raise NoteError(f"a {kind} key is {prefix}NAME+KEYID+BASE64")
    name, hex_id, raw = parts
    check_name(name)
    data = _b64decode(raw, f"the {kind} key")
    if len(data) != 33 or data[0] != ED25519:
        raise NoteError(f"the {kind} key is not an Ed25519 key")
    return name, hex_id.lower(), data[1:]


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A public key under a name: checks signatures."""

    name: str
    public: bytes
    """The 32-byte Ed25519 public key."""

    @property
    def id(self) -> bytes:
        return key_id(self.name, self.public)

    @property
    def hex_id(self) -> str:
        return self.id.hex()

    def encode(self) -> str:
        """``name+keyid+base64`` (the C2SP verifier key string)."""
        return _encode_key("", self.name, self.hex_id, self.public)

    @classmethod
    def decode(cls, text: str) -> VerifierKey:
        name, hex_id, data = _decode_key(text, "", "verifier")
        key = cls(name, data)
        if key.hex_id != hex_id:
            raise NoteError(f"the verifier key's id {hex_id} does not match its key")
        return key

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            _public_key(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, slots=True)
class SignerKey:
    """A private key under a name: signs notes. Never logged, never served."""

    name: str
    seed: bytes
    """The 32-byte Ed25519 private key."""

    @classmethod
    def generate(cls, name: str) -> SignerKey:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        private = Ed25519PrivateKey.generate()
        seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return cls(check_name(name), seed)

    @property
    def verifier(self) -> VerifierKey:
        public = (
            Ed25519PrivateKey.from_private_bytes(self.seed)
            .public_key()
            .public_bytes(Encoding.Raw, PublicFormat.Raw)
        )
        return VerifierKey(self.name, public)

    def encode(self) -> str:
        """``PRIVATE+KEY+name+keyid+base64`` (the C2SP signer key string)."""
        return _encode_key(_PRIVATE, self.name, self.verifier.hex_id, self.seed)

    @classmethod
    def decode(cls, text: str) -> SignerKey:
        name, hex_id, data = _decode_key(text, _PRIVATE, "signer")
        key = cls(name, data)
        if key.verifier.hex_id != hex_id:
            raise NoteError(f"the signer key's id {hex_id} does not match its key")
        return key

    def signer(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)


@dataclass(frozen=True, slots=True)
class Signature:
    """One signature line of a note."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        return f"{DASH}{self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"


@dataclass(frozen=True, slots=True)
class Note:
    """A parsed signed note: its text and its signature lines (not yet verified)."""

    text: str
    signatures: tuple[Signature, ...]

    def encode(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)


def check_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text:
        raise NoteError("a note's text ends in one newline and has no blank line")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("a note's text has no control characters but newlines")


def sign(text: str, signers: Sequence[tuple[str, bytes, Ed25519PrivateKey]]) -> str:
    """The signed note of ``text``, one signature line per ``(name, key id, private key)``."""
    check_text(text)
    message = text.encode()
    lines = [Signature(name, kid, private.sign(message)).line() for name, kid, private in signers]
    return text + "\n" + "".join(lines)


@functools.lru_cache(maxsize=64)
def _public_key(public: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(public)


def parse(note: str) -> Note:
    """Split a signed note into its text and signature lines; checks the syntax only."""
    if len(note.encode()) > MAX_NOTE_BYTES:
        raise NoteError("the note is too large")
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise NoteError("a note has no control characters but newlines")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("a note is its text, a blank line, then its signature lines")
    text, block = note[: cut + 1], note[cut + 2 :]
    if not block:
        raise NoteError("the note has no signature")
    if not block.endswith("\n"):
        raise NoteError("a signature line ends in a newline")
    signatures: list[Signature] = []
    for line in block[:-1].split("\n"):
        if not line.startswith(DASH):
            raise NoteError(f"a signature line starts with an em dash: {line[:40]!r}")
        name, sep, b64 = line[len(DASH) :].partition(" ")
        if not sep or " " in b64:
            raise NoteError("a signature line is '— NAME SIGNATURE'")
        check_name(name)
        data = _b64decode(b64, f"the signature by {name}")
        if len(data) < 5:
            raise NoteError(f"the signature by {name} is too short")
        signatures.append(Signature(name, data[:4], data[4:]))
        if len(signatures) > MAX_SIGNATURES:
            raise NoteError(f"a note has at most {MAX_SIGNATURES} signatures")
    return Note(text, tuple(signatures))


def signed_by(note: Note, key: VerifierKey) -> bool | None:
    """Whether ``key`` signed ``note``: True, False (a bad signature: forged or
    altered), or None (no signature line of this key)."""
    message = note.text.encode()
    for sig in note.signatures:
        if sig.name == key.name and sig.key_id == key.id:
            return key.verify(message, sig.signature)
    return None
