"""The verifiable record: signing keys, signed checkpoints, receipts, and the verifier.

- :mod:`auction.transparency.notes` — C2SP signed notes and Ed25519 keys (pyca ``cryptography``);
- :mod:`auction.transparency.keys` — key files, validity windows, the published key list;
- :mod:`auction.transparency.checkpoints` — checkpoints of an auction's log, signed and opened;
- :mod:`auction.transparency.receipts` — a bidder's proof that its bid is in the log;
- :mod:`auction.transparency.verify` — ``underbid verify``: every check of a record, in order;
- :mod:`auction.transparency.cli` — the ``verify`` and ``keys`` commands.

The tree itself and the bytes of its leaves are pure and live in the core
(:mod:`auction.core.merkle`, :mod:`auction.core.ledger`); the server side is
:mod:`gateway.transparency`. docs/record.md explains it all to a citizen.
"""
