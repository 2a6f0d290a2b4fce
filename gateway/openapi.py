"""The OpenAPI 3.1 description of the HTTP API, served at ``/openapi.json``."""

from __future__ import annotations

from typing import Any

_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
_PROBLEM = {"$ref": "#/components/responses/Problem"}


def _op(summary: str, *, secure: bool = False, body: str | None = None, ok: str = "200") -> Any:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {ok: {"description": "success"}, "default": _PROBLEM},
    }
    if secure:
        op["security"] = _BEARER
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}},
        }
    return op


_ID = [{"name": "auction_id", "in": "path", "required": True, "schema": {"type": "string"}}]

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Underbid",
        "version": "1",
        "description": "Live reverse auctions. WebSocket protocol: docs/protocol.md.",
    },
    "paths": {
        "/healthz": {"get": _op("The process answers")},
        "/readyz": {"get": _op("Journal reachable and auctions recovered")},
        "/metrics": {"get": _op("Prometheus metrics (text)")},
        "/api/auctions": {
            "get": _op("Auctions with their state"),
            "post": _op("Create an auction from a spec", secure=True, body="Spec", ok="201"),
        },
        "/api/auctions/{auction_id}": {
            "parameters": _ID,
            "get": _op("The view of the token's role (public without a token)"),
        },
        "/api/auctions/{auction_id}/result": {
            "parameters": _ID,
            "get": _op("The result, after the announcement"),
        },
        "/api/auctions/{auction_id}/record": {
            "parameters": _ID,
            "get": _op("The audit record (officials)", secure=True),
        },
        "/api/auctions/{auction_id}/people": {
            "parameters": _ID,
            "get": _op("Admitted bidders and who is connected (officials)", secure=True),
        },
        "/api/auctions/{auction_id}/tokens": {
            "parameters": _ID,
            "post": _op("Issue a token and link", secure=True, body="TokenRequest", ok="201"),
        },
        "/api/auctions/{auction_id}/controls/{action}": {
            "parameters": [
                *_ID,
                {
                    "name": "action",
                    "in": "path",
                    "required": True,
                    "schema": {
                        "type": "string",
                        "enum": [
                            "pause",
                            "resume",
                            "extend",
                            "cancel",
                            "disqualify",
                            "surrogate_bid",
                        ],
                    },
                },
            ],
            "post": _op("An official control", secure=True, body="Control"),
        },
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Spec": {"type": "object", "description": "An auction spec: see docs/spec.md"},
            "TokenRequest": {
                "type": "object",
                "properties": {
                    "role": {"type": "string", "enum": ["bidder", "observer", "official"]},
                    "bidder": {"type": "string"},
                },
            },
            "Control": {
                "type": "object",
                "properties": {
                    "official": {"type": "string"},
                    "lot": {"type": "string"},
                    "reason": {"type": "string"},
                    "seconds": {"type": "number"},
                    "bidder": {"type": "string"},
                    "amount": {"type": "integer"},
                    "bid_id": {"type": "string"},
                },
            },
            "Problem": {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "code": {"type": "string"},
                    "detail": {"type": "string"},
                },
            },
        },
        "responses": {
            "Problem": {
                "description": "An error",
                "content": {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            }
        },
    },
}
