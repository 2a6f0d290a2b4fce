"""The OpenAPI 3.1 description of the HTTP API, served at ``/openapi.json``.

The request bodies' schemas are generated from the very msgspec structs that
decode them (:mod:`auction.core.spec` for auction specs, :mod:`gateway.schemas`
for the rest), bounds included, so the description cannot drift from what
the server enforces and a schema-driven fuzzer (the suite runs Schemathesis
against it) generates what the server really takes. Every refusal is a
problem document (``application/problem+json``).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import msgspec
from msgspec import Meta

from auction.core.limits import MAX_LOTS
from auction.core.spec import AuctionIn, LotIn
from gateway.schemas import CONTROL_BODIES, TokenRequest

_REF: Final = "#/components/schemas/{name}"
_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
_PROBLEM = {"$ref": "#/components/responses/Problem"}


def _single_lot_spec() -> type[msgspec.Struct]:
    """The single-lot form: the auction's keys and its one lot's keys side by side
    (``id`` and ``title`` at the top level are the auction's)."""
    fields: list[tuple[str, Any, Any]] = []
    for struct, skip in ((AuctionIn, {"lots"}), (LotIn, {"id", "title"})):
        for info in msgspec.structs.fields(struct):
            if info.name in skip:
                continue
            default = info.default if info.required is False else msgspec.NODEFAULT
            if info.default_factory is not msgspec.NODEFAULT:
                default = msgspec.field(default_factory=info.default_factory)
            fields.append((info.name, info.type, default))
    return msgspec.defstruct("SingleLotSpec", fields, forbid_unknown_fields=True, kw_only=True)


_MultiLotSpec = msgspec.defstruct(
    "MultiLotSpec",
    [
        (f.name, f.type, f.default if not f.required else msgspec.NODEFAULT)
        for f in msgspec.structs.fields(AuctionIn)
        if f.name != "lots"
    ]
    + [
        ("lots", Annotated[list[LotIn], Meta(min_length=1, max_length=MAX_LOTS)], msgspec.NODEFAULT)
    ],
    forbid_unknown_fields=True,
    kw_only=True,
)


def _components() -> dict[str, Any]:
    bodies: list[Any] = [_single_lot_spec(), _MultiLotSpec, TokenRequest, *CONTROL_BODIES.values()]
    _, schemas = msgspec.json.schema_components(bodies, ref_template=_REF)
    schemas["Spec"] = {
        "description": "An auction spec (docs/spec.md): one lot's keys at the top level, "
        "or several lots under `lots`.",
        "anyOf": [
            {"$ref": _REF.format(name="SingleLotSpec")},
            {"$ref": _REF.format(name="MultiLotSpec")},
        ],
    }
    schemas["Problem"] = {
        "type": "object",
        "required": ["type", "title", "status", "code", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "code": {"type": "string", "description": "stable, machine-readable"},
            "detail": {"type": "string"},
            "field": {"type": "string", "description": "the field to blame, when one is"},
        },
    }
    return schemas


def _op(
    summary: str,
    *,
    secure: bool = False,
    body: str | None = None,
    ok: str = "200",
    optional_auth: bool = False,
) -> Any:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {
            ok: {"description": "success", "content": {"application/json": {"schema": {}}}},
            "default": _PROBLEM,
        },
    }
    if secure:
        op["security"] = _BEARER
    elif optional_auth:
        op["security"] = [{}, *_BEARER]
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": _REF.format(name=body)}}},
        }
    return op


_ID = [
    {
        "name": "auction_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "maxLength": 128},
    }
]


def _query(name: str, *, required: bool = False, boolean: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = (
        {"type": "string", "enum": ["0", "1", "true", "false"]}
        if boolean
        else {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
    )
    return {"name": name, "in": "query", "required": required, "schema": schema}


def _record_paths() -> dict[str, Any]:
    """The verifiable record's routes (gateway/transparency.py, docs/record.md)."""
    base = "/api/auctions/{auction_id}"
    return {
        f"{base}/checkpoint": {
            "parameters": _ID,
            "get": _op("The latest signed checkpoint of the auction's log", optional_auth=True),
        },
        f"{base}/log": {
            "parameters": [*_ID, _query("from"), _query("limit"), _query("proofs", boolean=True)],
            "get": _op("The log's leaves as the role may see them", optional_auth=True),
        },
        f"{base}/proof/inclusion": {
            "parameters": [*_ID, _query("index", required=True), _query("size")],
            "get": _op("An RFC 9162 inclusion proof (a receipt)", optional_auth=True),
        },
        f"{base}/proof/consistency": {
            "parameters": [*_ID, _query("from", required=True), _query("to")],
            "get": _op("An RFC 9162 consistency proof", optional_auth=True),
        },
        "/.well-known/underbid-keys.json": {
            "get": _op("The public keys that sign the checkpoints, with their windows"),
        },
    }


def _integration_paths() -> dict[str, Any]:
    """Open data and webhooks (gateway/integration.py, docs/integration.md)."""
    endpoint = {"name": "endpoint", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "/api/auctions/{auction_id}/ocds": {
            "parameters": _ID,
            "get": _op(
                "The outcome as an OCDS 1.1 release package, after the announcement",
                optional_auth=True,
            ),
        },
        "/api/webhooks": {
            "get": _op("Webhook endpoints, their state and the outbox (operators)", secure=True),
        },
        "/api/webhooks/{endpoint}/enable": {
            "parameters": [endpoint],
            "post": _op("Enable an endpoint that answered 410 Gone (operators)", secure=True),
        },
    }


def _document() -> dict[str, Any]:
    controls = {
        f"/api/auctions/{{auction_id}}/controls/{action}": {
            "parameters": _ID,
            "post": _op(f"Official control: {action}", secure=True, body=kind.__name__),
        }
        for action, kind in CONTROL_BODIES.items()
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Underbid",
            "version": "1",
            "description": "Live reverse auctions. Limits: docs/api.md. "
            "WebSocket protocol: docs/protocol.md.",
        },
        "paths": {
            "/healthz": {"get": _op("The process answers")},
            "/readyz": {"get": _op("Journal reachable and auctions recovered")},
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics (text)",
                    "responses": {
                        "200": {
                            "description": "metrics",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/api/auctions": {
                "get": _op("Auctions with their state (private ones with an operator token)"),
                "post": _op("Create an auction from a spec", secure=True, body="Spec", ok="201"),
            },
            "/api/auctions/{auction_id}": {
                "parameters": _ID,
                "get": _op(
                    "The view of the token's role (public without a token)", optional_auth=True
                ),
            },
            "/api/auctions/{auction_id}/result": {
                "parameters": _ID,
                "get": _op("The result, after the announcement", optional_auth=True),
            },
            "/api/auctions/{auction_id}/record": {
                "parameters": _ID,
                "get": _op(
                    "The sealed audit record (officials; anyone who may watch, once finished)",
                    optional_auth=True,
                ),
            },
            **_record_paths(),
            **_integration_paths(),
            "/api/auctions/{auction_id}/people": {
                "parameters": _ID,
                "get": _op("Admitted bidders and who is connected (officials)", secure=True),
            },
            "/api/auctions/{auction_id}/tokens": {
                "parameters": _ID,
                "post": _op("Issue a token and link", secure=True, body="TokenRequest", ok="201"),
            },
            **controls,
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _components(),
            "responses": {
                "Problem": {
                    "description": "An error: a problem document with a stable code",
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": _REF.format(name="Problem")}
                        }
                    },
                }
            },
        },
    }


OPENAPI: Final[dict[str, Any]] = _document()
