"""C2SP signed notes, keys and checkpoints: the Go note package's published
vector, key files and windows, and checkpoint texts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from auction.transparency.checkpoints import (
    Checkpoint,
    CheckpointError,
    open_checkpoint,
    parse_checkpoint,
    sign_checkpoint,
)
from auction.transparency.keys import (
    KeyFileError,
    SigningKey,
    TrustedKey,
    Window,
    load_signing_key,
    load_trusted_keys,
    parse_time,
    public_path,
    write_key_pair,
)
from auction.transparency.notes import NoteError, SignerKey, VerifierKey, parse, sign, signed_by

# golang.org/x/mod/sumdb/note's example key and signed text (its documentation).
GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIGNATURE = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuG"  # one line
    "UgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_the_go_note_vector_signs_and_verifies_byte_for_byte() -> None:
    signer = SignerKey.decode(GO_SIGNER)
    assert signer.encode() == GO_SIGNER
    assert signer.verifier.encode() == GO_VERIFIER
    note = sign(GO_TEXT, [(signer.name, signer.verifier.id, signer.signer())])
    assert note == GO_TEXT + "\n" + GO_SIGNATURE
    parsed = parse(note)
    assert signed_by(parsed, VerifierKey.decode(GO_VERIFIER)) is True
    other = SignerKey.generate("PeterNeumann").verifier
    assert signed_by(parsed, other) is None  # not its key id: ignored
    bent = parse(note.replace("problem is", "problem was"))
    assert signed_by(bent, VerifierKey.decode(GO_VERIFIER)) is False


@pytest.mark.parametrize(
    "text",
    [
        "no signature line\n",
        "text\n\n",
        "text\n\n- dash name AAAA\n",
        "text\n\n\u2014 name not-base64!\n",
        "text\n\n\u2014 name AAAA",
        "text\x01\n\n\u2014 name AAAAAAAAAA==\n",
    ],
)
def test_malformed_notes_are_refused(text: str) -> None:
    with pytest.raises(NoteError):
        parse(text)


def test_bad_keys_are_refused() -> None:
    for bad in ("x", "a+b", "name+00000000+AAAA", GO_VERIFIER.replace("c74f", "c74e")):
        with pytest.raises(NoteError):
            VerifierKey.decode(bad)
    with pytest.raises(NoteError):
        SignerKey.generate("has space")
    with pytest.raises(NoteError):
        SignerKey.decode(GO_SIGNER.replace("PRIVATE", "PUBLIC"))


def _checkpoint(time: int = 1_796_112_000_000) -> Checkpoint:
    return Checkpoint(
        "auctions.example/UA-1", 41, bytes(range(32)), b"\x01" * 32, b"\x02" * 32, time
    )


def test_a_checkpoint_text_round_trips_and_is_canonical() -> None:
    cp = _checkpoint()
    text = cp.text()
    assert text.splitlines()[:2] == ["auctions.example/UA-1", "41"]
    assert text.endswith("time 2026-12-01T08:00:00.000Z\n")
    assert parse_checkpoint(text) == cp
    assert cp.auction_id == "UA-1"
    for bad in (
        text.replace("41", "041"),
        text.replace("spec ", "spek "),
        text.replace("\ntime", "\nextra x\ntime"),
        text.replace("Z\n", "\n"),
    ):
        with pytest.raises(CheckpointError):
            parse_checkpoint(bad)


def test_checkpoints_are_signed_by_every_key_valid_at_their_time() -> None:
    t = 1_796_112_000_000
    old = SigningKey(SignerKey.generate("k"), Window(None, t + 1))
    new = SigningKey(SignerKey.generate("k"), Window(t, None))
    later = SigningKey(SignerKey.generate("k"), Window(t + 10, None))
    note = sign_checkpoint(_checkpoint(t), [old, new, later])
    assert note is not None and note.count("\u2014 k ") == 2
    assert sign_checkpoint(_checkpoint(t), [later]) is None
    checkpoint, signers = open_checkpoint(note, [old.trusted, new.trusted, later.trusted])
    assert checkpoint == _checkpoint(t) and len(signers) == 2
    # trusting the old key with a window that ended before: refused, named
    short = TrustedKey(old.trusted.key, Window(None, t))
    with pytest.raises(CheckpointError, match="was not valid then"):
        open_checkpoint(note, [short])
    with pytest.raises(CheckpointError, match="no signature by a trusted key"):
        open_checkpoint(note, [later.trusted])


def test_key_files_are_written_private_and_read_back(tmp_path: Path) -> None:
    path = str(tmp_path / "log.key")
    start = parse_time("2026-01-01T00:00:00Z", "t")
    key = write_key_pair(path, "auctions.example", Window(start, None))
    assert os.stat(path).st_mode & 0o777 == 0o600
    loaded = load_signing_key(path)
    assert loaded.key == key.key and loaded.window == key.window
    public = load_trusted_keys(public_path(path))
    assert public == [key.trusted]
    assert load_trusted_keys(path) == [key.trusted]  # a key file: its public half
    line = tmp_path / "vkey.txt"
    line.write_text(key.trusted.key.encode() + "\n")
    assert load_trusted_keys(str(line))[0].key == key.trusted.key
    with pytest.raises(KeyFileError, match="already exists"):
        write_key_pair(path, "auctions.example", Window())
    doc = json.loads(Path(public_path(path)).read_text())
    assert doc["keys"][0]["not_before"] == "2026-01-01T00:00:00.000Z"
    assert "signer" not in doc["keys"][0]


def test_bad_key_files_name_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    for content, match in (
        ("{}", "not an underbid key file"),
        ('{"underbid_key": 1, "signer": "x"}', "signer:"),
        ('{"keys": [{"verifier": 3}]}', r"keys\[0\].verifier"),
        ('{"keys": [{"verifier": "' + GO_VERIFIER + '", "not_after": "soon"}]}', "not_after"),
        ("not json at all\nat all", "not JSON"),
    ):
        bad.write_text(content)
        with pytest.raises(KeyFileError, match=match):
            if "keys" in content or "json" in content:
                load_trusted_keys(str(bad))
            else:
                load_signing_key(str(bad))
    with pytest.raises(KeyFileError, match="cannot read"):
        load_signing_key(str(tmp_path / "missing.key"))
    with pytest.raises(KeyFileError, match="no zone"):
        parse_time("2026-01-01T00:00:00", "--not-before")
