"""The gateway: the thin shell that connects people and programs to auctions.

It authenticates connections (:mod:`gateway.tokens`), decodes frames against a
closed schema (:mod:`gateway.protocol`), hands commands to the runtime, encodes
each durable event once per role and fans it out (:mod:`gateway.hub`) over
WebSockets (:mod:`gateway.ws`) and serves the HTTP API (:mod:`gateway.app`).
It holds no auction rules: those live in :mod:`auction.core`.
"""
