"""The gateway: the thin shell that connects people and programs to auctions.

It will authenticate connections, decode frames against a closed schema, hand
commands to the runtime, encode each event once per view and fan it out over
WebSockets and HTTP (see ../shared/design/architecture.md). It holds no
auction rules: those live in :mod:`auction.core`. Nothing is served yet; the
WebSocket gateway is its own issue.
"""
