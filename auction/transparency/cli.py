"""``underbid verify`` and ``underbid keys``: the record's commands (docs/record.md).

Registered by :func:`add_commands` from :mod:`auction.cli`. Heavy imports
(``cryptography``, ``httpx``) happen only when a command runs.

Exit status of ``verify``: 0 the record verifies, 1 it does not (the first
discrepancy is printed), 2 the input could not be read (file, URL, key).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from auction.core.errors import UnderbidError

EXIT_NOT_VERIFIED = 1


class InputError(UnderbidError):
    """A file or URL that cannot be read (exit status 2)."""


def add_commands(sub: Any) -> None:
    """Add ``verify`` and ``keys`` to the ``underbid`` subcommands."""
    ver = sub.add_parser(
        "verify",
        help="check an auction's audit record against the server's signatures",
        description="Check an audit record: signatures, leaves, roots, consistency, "
        "receipts, and a replay through the engine. Exit 0: verified; 1: not; 2: bad input.",
    )
    ver.add_argument(
        "record",
        metavar="RECORD",
        help="the audit record: a JSON file, - for stdin, or an http(s) URL",
    )
    trust = ver.add_mutually_exclusive_group()
    trust.add_argument(
        "--key",
        metavar="FILE",
        help="trust this public key: a key list (.pub.json), a key file, or a verifier key line",
    )
    trust.add_argument(
        "--keys-url",
        metavar="URL",
        help="trust the keys published here (https://HOST/.well-known/underbid-keys.json)",
    )
    ver.add_argument(
        "--receipt",
        metavar="FILE",
        action="append",
        help="also check this receipt (repeat for several)",
    )
    ver.add_argument("--json", action="store_true", help="print the verdict as JSON")
    ver.set_defaults(run=run_verify)

    keys = sub.add_parser(
        "keys",
        help="create the keys that sign the auctions' logs",
        description="Signing keys of the auctions' transparency logs (docs/record.md).",
    )
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    new = keys_sub.add_parser(
        "new", help="write a new Ed25519 key pair: FILE (private) and FILE.pub.json (public)"
    )
    new.add_argument("file", metavar="FILE", help="where to write the private key file (mode 0600)")
    new.add_argument(
        "--name", default="underbid", help="the key's name in signatures (default underbid)"
    )
    new.add_argument(
        "--not-before", metavar="TIME", help="ISO-8601 time the key starts signing (default: now)"
    )
    new.add_argument(
        "--not-after", metavar="TIME", help="ISO-8601 time the key stops signing (default: never)"
    )
    new.add_argument("--force", action="store_true", help="replace existing files")
    new.set_defaults(run=run_keys_new)


def _fetch(url: str) -> Any:
    import httpx

    try:
        response = httpx.get(url, timeout=30, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise InputError(f"{url}: cannot fetch: {exc}") from None
    if response.status_code != 200:
        raise InputError(f"{url}: HTTP {response.status_code}: {response.text[:200]}")
    try:
        return response.json()
    except ValueError:
        raise InputError(f"{url}: not JSON") from None


def _load(source: str) -> Any:
    if source.startswith(("http://", "https://")):
        return _fetch(source)
    try:
        if source == "-":
            text = sys.stdin.read()
        else:
            with open(source, encoding="utf-8") as fh:
                text = fh.read()
    except OSError as exc:
        raise InputError(f"{source}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{source}: not UTF-8 text") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InputError(f"{source}: not JSON: {exc}") from None


def run_verify(args: argparse.Namespace) -> int:
    from auction.transparency.keys import KeyFileError, load_trusted_keys, parse_key_list
    from auction.transparency.verify import verify_record

    try:
        if args.key:
            trusted = load_trusted_keys(args.key)
        elif args.keys_url:
            trusted = parse_key_list(_fetch(args.keys_url), args.keys_url)
        else:
            trusted = None
    except KeyFileError as exc:
        raise InputError(str(exc)) from None
    record = _load(args.record)
    receipts = [(path, _load(path)) for path in args.receipt or ()]
    verdict = verify_record(record, trusted, receipts)
    if args.json:
        problem = verdict.problem
        json.dump(
            {
                "auction": verdict.auction,
                "verified": verdict.ok,
                "checks": verdict.checks,
                "warnings": verdict.warnings,
                "discrepancy": None
                if problem is None
                else {"check": problem.check, "where": problem.where, "message": problem.message},
                "lots": verdict.lots,
            },
            sys.stdout,
            indent=2,
            ensure_ascii=False,
        )
        sys.stdout.write("\n")
    else:
        sys.stdout.write(verdict.render())
    return 0 if verdict.ok else EXIT_NOT_VERIFIED


def run_keys_new(args: argparse.Namespace) -> int:
    from auction.transparency.keys import (
        KeyFileError,
        Window,
        now_ms,
        parse_time,
        public_path,
        write_key_pair,
    )
    from auction.transparency.notes import NoteError, check_name

    try:
        check_name(args.name)
        start = parse_time(args.not_before, "--not-before") if args.not_before else now_ms()
        end = parse_time(args.not_after, "--not-after") if args.not_after else None
        if end is not None and end <= start:
            raise KeyFileError("--not-after must be later than --not-before")
        key = write_key_pair(args.file, args.name, Window(start, end), force=args.force)
    except (KeyFileError, NoteError) as exc:
        raise InputError(str(exc)) from None
    print(f"wrote {args.file}: the private key {key.key.name}+{key.key.verifier.hex_id}")
    print("  keep it secret; sign with it by listing it in record.keys (docs/record.md)")
    print(f"wrote {public_path(args.file)}: the public key, for `underbid verify --key`")
    print(f"  {key.trusted.key.encode()}  ({key.window.describe()})")
    return 0
