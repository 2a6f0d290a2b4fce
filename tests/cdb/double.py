"""A double of ProZorro's CDB (``openprocurement.api``) and its document service,
with the CDB's own validation of what an auction module writes.

The part of the API the bridge uses, under ``/api/2.5``:

- ``GET /tenders`` the changes feed: tenders in the order they were last
  modified, ``limit`` at a time, from ``offset``; ``next_page.offset`` continues
  (the same offset on an empty page); ``descending=1`` reads backwards and
  ``prev_page.offset`` then continues forwards from the newest. ``opt_fields``
  picks the fields beside ``id`` and ``dateModified``.
- ``GET /tenders/{id}`` (public) and ``GET /tenders/{id}/auction`` (the
  auction role: bids with their values; ``active.auction`` only, else 403).
- ``PATCH /tenders/{id}/auction[/{lot}]``: the links, validated as the CDB
  validates them (``LotAuctionUrls`` / ``AuctionUrls``): position-aligned
  ``lots`` and ``bids`` arrays of exactly the tender's lengths (else 422
  "Number of ... did not match ..."), ids equal to the positions' when given,
  ``auctionUrl`` for the lot and ``participationUrl`` for each of its lot
  values that is given, http(s) URLs; only the lot's own entries change.
- ``POST /tenders/{id}/auction[/{lot}]``: the results (``AuctionLotResults`` /
  ``AuctionResults``), aligned the same way; amounts >= 0 and dates ISO-8601;
  the lot's ``auctionPeriod.endDate`` is set; when every active lot (or the
  tender) has its results the tender moves to ``active.qualification``, and
  then auction writes are 403.
- ``POST /tenders/{id}/documents``, ``PUT /tenders/{id}/documents/{doc}``:
  a document must come from the document service: its URL on the service,
  ``KeyID`` and ``Signature`` (Ed25519 over ``key\\0md5``) verified, a hash.
- the document service: ``POST /upload`` (multipart ``file``, Basic auth) and
  ``GET /get/{key}?KeyID=&Signature=``.

As in the CDB, a write needs the session cookie (``SERVER_ID``) of a GET or an
earlier answer: without it (or with a stale one, after :meth:`CdbDouble.new_server`)
the write is a 412 with a new cookie. :meth:`CdbDouble.fail` queues faults for
the next requests that match (a status, with ``Retry-After`` for 429, or a
timeout); every request is logged in :attr:`CdbDouble.requests`.

Errors are the CDB's shape: ``{"status": "error", "errors": [{"location",
"name", "description"}]}``.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

API = "/api/2.5"
AUCTION_TOKEN = "auction-role-token-for-the-bridge"
DS_USER, DS_PASSWORD = "bridge", "ds-secret"
_MD5 = re.compile(r"[0-9a-f]{32}")


def now_iso() -> str:
    return datetime.now(tz=UTC).isoformat()


class CdbError(Exception):
    def __init__(self, status: int, name: str, description: Any, location: str = "body") -> None:
        super().__init__(f"{status} {name}: {description}")
        self.status = status
        self.errors = [{"location": location, "name": name, "description": description}]


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    answer: int | str
    """A status; ``"timeout"``: no answer for ``delay_s``, and nothing done;
    ``"lost"``: the request is done, but its answer comes after ``delay_s``
    (the client timed out: did it land?)."""
    retry_after: int = 0
    delay_s: float = 0.0


@dataclass
class Logged:
    method: str
    path: str
    status: int
    body: Any = None


@dataclass
class CdbDouble:
    """The CDB's state and its app (:meth:`app`); tests change the state directly."""

    base: str = ""
    """The double's own URL, once served (the document service's URLs need it)."""
    tenders: dict[str, dict[str, Any]] = field(default_factory=dict)
    order: dict[str, int] = field(default_factory=dict)
    """Tender id -> its place in the feed (a counter; modified = moved to the end)."""
    files: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)
    """Document service: key -> (name, content type, bytes)."""
    faults: list[Fault] = field(default_factory=list)
    requests: list[Logged] = field(default_factory=list)
    server_id: str = "cdb-1"
    _counter: int = 0
    _ds_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    _key_id: str = "a1b2c3d4"

    # ------------------------------------------------------------ state
    def add(self, tender: Mapping[str, Any]) -> str:
        data = copy.deepcopy(dict(tender.get("data", tender)))
        data.setdefault("id", uuid.uuid4().hex)
        data.setdefault("status", "active.auction")
        data.setdefault("procurementMethodType", "belowThreshold")
        data.setdefault("documents", [])
        self.tenders[data["id"]] = data
        self.touch(data["id"])
        return str(data["id"])

    def touch(self, tender_id: str) -> None:
        """Modified: the tender moves to the end of the feed."""
        self._counter += 1
        self.order[tender_id] = self._counter
        self.tenders[tender_id]["dateModified"] = now_iso()

    def set_start(self, tender_id: str, start: str, lot_id: str = "") -> None:
        tender = self.tenders[tender_id]
        holder = self._lot(tender, lot_id) if lot_id else tender
        holder.setdefault("auctionPeriod", {})["startDate"] = start
        self.touch(tender_id)

    def cancel(self, tender_id: str, lot_id: str = "") -> None:
        tender = self.tenders[tender_id]
        if lot_id:
            self._lot(tender, lot_id)["status"] = "cancelled"
        else:
            tender["status"] = "cancelled"
        self.touch(tender_id)

    def new_server(self) -> None:
        """The server the clients' cookies name is gone: their next write is a 412."""
        self.server_id = f"cdb-{secrets.token_hex(3)}"

    def fail(
        self,
        method: str,
        path: str,
        *answers: int | str,
        retry_after: int = 0,
        delay_s: float = 3.0,
    ) -> None:
        """The next requests ``method`` whose path matches ``path`` (a regex) get
        ``answers`` in turn (a status or ``"timeout"``), then the real answer."""
        for answer in answers:
            self.faults.append(Fault(method, re.compile(path), answer, retry_after, delay_s))

    def statuses(self, method: str, path: str) -> list[int]:
        pattern = re.compile(path)
        return [r.status for r in self.requests if r.method == method and pattern.search(r.path)]

    def document_bytes(self, url: str) -> bytes:
        key = urlsplit(url).path.rsplit("/", 1)[-1]
        return self.files[key][2]

    @staticmethod
    def _lot(tender: Mapping[str, Any], lot_id: str) -> dict[str, Any]:
        for lot in tender.get("lots", []):
            if lot["id"] == lot_id:
                return lot  # type: ignore[no-any-return]
        raise CdbError(404, "lot_id", "Not Found", "url")

    # ------------------------------------------------------------ the app
    def app(self) -> Starlette:
        routes = [
            Route(f"{API}/tenders", self._feed, methods=["GET"]),
            Route(f"{API}/tenders/{{tid}}", self._tender, methods=["GET"]),
            Route(
                f"{API}/tenders/{{tid}}/auction", self._auction, methods=["GET", "PATCH", "POST"]
            ),
            Route(
                f"{API}/tenders/{{tid}}/auction/{{lot}}", self._auction, methods=["PATCH", "POST"]
            ),
            Route(f"{API}/tenders/{{tid}}/documents", self._documents, methods=["GET", "POST"]),
            Route(f"{API}/tenders/{{tid}}/documents/{{did}}", self._document, methods=["PUT"]),
            Route("/upload", self._upload, methods=["POST"]),
            Route("/get/{key}", self._download, methods=["GET"]),
        ]
        app = Starlette(routes=routes)
        double = self

        class Middleware:
            def __init__(self, inner: Any) -> None:
                self.inner = inner

            async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
                if scope["type"] != "http":
                    await self.inner(scope, receive, send)
                    return
                await double._guarded(scope, receive, send, self.inner)

        app.add_middleware(Middleware)  # type: ignore[arg-type]
        return app

    async def _guarded(self, scope: Any, receive: Any, send: Any, inner: Any) -> None:
        method, path = scope["method"], scope["path"]
        if method in ("PATCH", "POST", "PUT") and path.startswith(API):
            cookies = _cookies(scope)
            if cookies.get("SERVER_ID") != self.server_id:
                self.requests.append(Logged(method, path, 412))
                response = _error(CdbError(412, "precondition", "Precondition Failed", "url"))
                response.set_cookie("SERVER_ID", self.server_id, path="/")
                await response(scope, receive, send)
                return
        for fault in list(self.faults):
            if fault.method == method and fault.path.search(path):
                self.faults.remove(fault)
                if fault.answer == "lost":
                    await self._lost(scope, receive, send, inner, fault.delay_s)
                    return
                if fault.answer == "timeout":
                    await asyncio.sleep(fault.delay_s)
                    status = 504
                else:
                    status = int(fault.answer)
                self.requests.append(Logged(method, path, status))
                headers = {"retry-after": str(fault.retry_after)} if status == 429 else {}
                description = {409: "Conflict while writing document. Please, retry."}.get(
                    status, "injected"
                )
                response = _error(CdbError(status, "data", description), headers)
                await response(scope, receive, send)
                return
        status_holder: dict[str, int] = {}

        # Like the CDB's balancer: a client without the cookie gets one; a client whose
        # server is gone keeps its stale cookie on reads, and learns at its next write (412).
        gives_cookie = "SERVER_ID" not in _cookies(scope)

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                if gives_cookie:
                    headers = list(message.get("headers", []))
                    headers.append((b"set-cookie", f"SERVER_ID={self.server_id}; Path=/".encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await inner(scope, receive, capture)
        self.requests.append(Logged(method, path, status_holder.get("status", 0)))

    async def _lost(self, scope: Any, receive: Any, send: Any, inner: Any, delay_s: float) -> None:
        """Do the request, hold its answer back past the client's timeout."""
        held: list[Any] = []

        async def hold(message: Any) -> None:
            held.append(message)

        await inner(scope, receive, hold)
        status = next((m["status"] for m in held if m["type"] == "http.response.start"), 0)
        self.requests.append(Logged(scope["method"], scope["path"], status, "lost"))
        await asyncio.sleep(delay_s)
        for message in held:
            await send(message)

    # ------------------------------------------------------------- feed
    async def _feed(self, request: Request) -> Response:
        params = request.query_params
        limit = min(max(int(params.get("limit", "100")), 1), 1000)
        descending = bool(params.get("descending"))
        fields = {f for f in params.get("opt_fields", "").split(",") if f}
        items = sorted(self.order.items(), key=lambda kv: kv[1], reverse=descending)
        offset = params.get("offset")
        if offset:
            try:
                mark = int(float(offset))
            except ValueError:
                return _error(
                    CdbError(404, "offset", f"Invalid offset provided: {offset}", "querystring")
                )
            items = [kv for kv in items if (kv[1] < mark if descending else kv[1] > mark)]
        page = items[:limit]
        data = []
        for tender_id, _ in page:
            tender = self.tenders[tender_id]
            entry = {"id": tender_id, "dateModified": tender["dateModified"]}
            entry.update({f: copy.deepcopy(tender[f]) for f in fields if f in tender})
            data.append(entry)
        body: dict[str, Any] = {
            "data": data,
            "next_page": {"offset": f"{page[-1][1]}.0" if page else (offset or "")},
        }
        if descending or offset:
            body["prev_page"] = {"offset": f"{page[0][1]}.0" if page else (offset or "")}
        if descending and page:
            body["prev_page"] = {"offset": f"{page[0][1]}.0"}
        return JSONResponse(body)

    # ----------------------------------------------------------- tenders
    def _get(self, request: Request) -> dict[str, Any]:
        tender = self.tenders.get(request.path_params["tid"])
        if tender is None:
            raise CdbError(404, "tender_id", "Not Found", "url")
        return tender

    def _require_auction_role(self, request: Request) -> None:
        if request.headers.get("authorization") != f"Bearer {AUCTION_TOKEN}":
            raise CdbError(403, "permission", "Forbidden", "url")

    async def _tender(self, request: Request) -> Response:
        try:
            tender = copy.deepcopy(self._get(request))
        except CdbError as exc:
            return _error(exc)
        if tender["status"] == "active.auction":  # values stay sealed until the auction is over
            for bid in tender.get("bids", []):
                bid.pop("value", None)
                for value in bid.get("lotValues", []):
                    value.pop("value", None)
                bid.pop("participationUrl", None)
        return JSONResponse({"data": tender})

    async def _auction(self, request: Request) -> Response:
        try:
            self._require_auction_role(request)
            tender = self._get(request)
            operation = {
                "GET": "get auction info",
                "POST": "report auction results",
                "PATCH": "update auction urls",
            }[request.method]
            if tender["status"] != "active.auction":
                raise CdbError(
                    403, "data", f"Can't {operation} in current ({tender['status']}) tender status"
                )
            if request.method == "GET":  # the auction role's view: no names while it runs
                view = copy.deepcopy(tender)
                for bid in view.get("bids", []):
                    bid.pop("tenderers", None)
                return JSONResponse({"data": view})
            lot_id = request.path_params.get("lot", "")
            if lot_id:
                lot = self._lot(tender, lot_id)
                if lot.get("status", "active") != "active":
                    verb = (
                        "report auction results"
                        if request.method == "POST"
                        else "update auction urls"
                    )
                    raise CdbError(403, "data", f"Can {verb} only in active lot status")
            elif tender.get("lots") and request.method == "PATCH":
                raise CdbError(
                    422,
                    "bids",
                    [{"participationUrl": ["url should be posted for each lot of bid"]}],
                )
            data = await _json_data(request)
            if request.method == "PATCH":
                _apply_links(tender, lot_id, data)
            else:
                _apply_results(tender, lot_id, data)
            self.touch(tender["id"])
            return JSONResponse({"data": copy.deepcopy(tender)})
        except CdbError as exc:
            return _error(exc)

    # --------------------------------------------------------- documents
    async def _documents(self, request: Request) -> Response:
        try:
            tender = self._get(request)
            if request.method == "GET":
                return JSONResponse({"data": copy.deepcopy(tender["documents"])})
            self._require_auction_role(request)
            self._document_period(tender)
            data = await _json_data(request)
            document = self._checked_document(tender, data)
            document.update(id=uuid.uuid4().hex, datePublished=now_iso(), dateModified=now_iso())
            document["author"] = "auction"
            tender["documents"].append(document)
            self.touch(tender["id"])
            return JSONResponse({"data": document}, status_code=201)
        except CdbError as exc:
            return _error(exc)

    async def _document(self, request: Request) -> Response:
        try:
            tender = self._get(request)
            self._require_auction_role(request)
            self._document_period(tender)
            doc_id = request.path_params["did"]
            versions = [d for d in tender["documents"] if d["id"] == doc_id]
            if not versions:
                raise CdbError(404, "document_id", "Not Found", "url")
            data = await _json_data(request)
            document = self._checked_document(tender, data)
            document.update(
                id=doc_id, datePublished=versions[0]["datePublished"], dateModified=now_iso()
            )
            document["author"] = "auction"
            tender["documents"].append(document)  # a new version under the same id
            self.touch(tender["id"])
            return JSONResponse({"data": document})
        except CdbError as exc:
            return _error(exc)

    @staticmethod
    def _document_period(tender: Mapping[str, Any]) -> None:
        if tender["status"] != "active.auction":
            raise CdbError(
                403, "data", f"Can't add document in current ({tender['status']}) tender status"
            )

    def _checked_document(
        self, tender: Mapping[str, Any], data: Mapping[str, Any]
    ) -> dict[str, Any]:
        allowed = {"title", "url", "hash", "format", "documentOf", "relatedItem", "documentType"}
        rogue = sorted(set(data) - allowed)
        if rogue:
            raise CdbError(422, rogue[0], "Rogue field")
        url = data.get("url")
        if not isinstance(url, str):
            raise CdbError(422, "url", ["This field is required."])
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        if (
            not url.startswith(self.base + "/get/")
            or len(parts.path.split("/")) != 3
            or set(query) != {"Signature", "KeyID"}
        ):
            raise CdbError(403, "url", "Can add document only from document service.")
        doc_hash = data.get("hash")
        if (
            not isinstance(doc_hash, str)
            or not doc_hash.startswith("md5:")
            or not _MD5.fullmatch(doc_hash[4:])
        ):
            raise CdbError(
                422,
                "hash",
                ["This field is required."] if not doc_hash else ["Hash type is not supported."],
            )
        if query["KeyID"] != self._key_id:
            raise CdbError(422, "url", "Document url expired.")
        key = parts.path.rsplit("/", 1)[-1]
        try:
            signature = base64.b64decode(query["Signature"])
            self._ds_key.public_key().verify(signature, f"{key}\0{doc_hash[4:]}".encode())
        except (InvalidSignature, ValueError):
            raise CdbError(422, "url", "Document url invalid.") from None
        if not isinstance(data.get("title"), str) or not data["title"]:
            raise CdbError(422, "title", ["This field is required."])
        lots = {lot["id"] for lot in tender.get("lots", [])}
        if data.get("documentOf", "tender") == "lot" and data.get("relatedItem") not in lots:
            raise CdbError(422, "relatedItem", ["relatedItem should be one of lots"])
        return {k: data[k] for k in allowed if k in data}

    # --------------------------------------------------- document service
    async def _upload(self, request: Request) -> Response:
        expected = "Basic " + base64.b64encode(f"{DS_USER}:{DS_PASSWORD}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"errors": [{"description": "Unauthorized"}]}, status_code=401)
        async with request.form() as form:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                return JSONResponse(
                    {"errors": [{"name": "file", "description": "Not Found"}]}, status_code=404
                )
            content = await upload.read()
            name = upload.filename or "file"
            kind = upload.content_type or "application/octet-stream"
        key = uuid.uuid4().hex
        md5 = hashlib.md5(content, usedforsecurity=False).hexdigest()
        signature = base64.b64encode(self._ds_key.sign(f"{key}\0{md5}".encode())).decode()
        self.files[key] = (name, kind, content)
        url = f"{self.base}/get/{key}?KeyID={self._key_id}&Signature={quote(signature, safe='')}"
        return JSONResponse(
            {"data": {"url": url, "hash": f"md5:{md5}", "format": kind, "title": name}},
            status_code=201,
        )

    async def _download(self, request: Request) -> Response:
        stored = self.files.get(request.path_params["key"])
        if stored is None:
            return Response(status_code=404)
        return Response(stored[2], media_type=stored[1])


# ------------------------------------------------------------- validation
def _apply_links(tender: dict[str, Any], lot_id: str, data: Mapping[str, Any]) -> None:
    bids = _aligned(
        data.get("bids"),
        tender.get("bids", []),
        "bids",
        "Number of auction results did not match the number of tender bids"
        if lot_id
        else "Number of bids did not match the number of tender bids",
    )
    if not lot_id:
        auction_url = data.get("auctionUrl")
        if auction_url is not None:
            _url(auction_url, "auctionUrl")
            tender["auctionUrl"] = auction_url
        for given, bid in zip(bids, tender.get("bids", []), strict=True):
            if "participationUrl" in given:
                bid["participationUrl"] = _url(given["participationUrl"], "participationUrl")
        return
    lots = _aligned(
        data.get("lots"),
        tender.get("lots", []),
        "lots",
        "Number of lots did not match the number of tender lots",
    )
    for given, lot in zip(lots, tender["lots"], strict=True):
        if lot["id"] == lot_id:
            if "auctionUrl" not in given:
                raise CdbError(422, "lots", [{"auctionUrl": ["Auction url required"]}])
            lot["auctionUrl"] = _url(given["auctionUrl"], "auctionUrl")
    for given, bid in zip(bids, tender["bids"], strict=True):
        held = _lot_value(given, bid, lot_id)
        if held is None:
            continue
        value, target = held
        if "participationUrl" not in value:
            raise CdbError(
                422,
                "bids",
                [{"lotValues": [{"participationUrl": ["Auction participation url required"]}]}],
            )
        target["participationUrl"] = _url(value["participationUrl"], "participationUrl")


def _lot_value(
    given: Mapping[str, Any], bid: dict[str, Any], lot_id: str
) -> tuple[Mapping[str, Any], dict[str, Any]] | None:
    """The given ``lotValues`` entry for ``lot_id`` and the bid's own, checked as the
    CDB checks them (the list may be shorter than the bid's, never longer; each
    entry in its place); None when the bid's entry for the lot is not given."""
    values = given.get("lotValues")
    if values is None:
        return None
    mine = bid.get("lotValues", [])
    if not isinstance(values, list) or len(values) > len(mine):
        raise CdbError(
            422,
            "bids",
            ["Number of lots of auction results did not match the number of tender lots"],
        )
    found = None
    for value, held in zip(values, mine, strict=False):
        if not isinstance(value, dict):
            raise CdbError(422, "bids", ["lotValues items must be objects"])
        if value.get("relatedLot", held["relatedLot"]) != held["relatedLot"]:
            raise CdbError(
                422,
                "bids",
                ["Auction bid.lotValues should be identical to the tender bid.lotValues"],
            )
        if held["relatedLot"] == lot_id:
            found = (value, held)
    return found


def _apply_results(tender: dict[str, Any], lot_id: str, data: Mapping[str, Any]) -> None:
    bids = _aligned(
        data.get("bids"),
        tender.get("bids", []),
        "bids",
        "Number of auction results did not match the number of tender bids",
    )
    for given, bid in zip(bids, tender.get("bids", []), strict=True):
        if not lot_id:
            _take_result(bid, given)
            continue
        held = _lot_value(given, bid, lot_id)
        if held is not None:
            _take_result(held[1], held[0])
    now = now_iso()
    if lot_id:
        CdbDouble._lot(tender, lot_id).setdefault("auctionPeriod", {})["endDate"] = now
        active = [lot for lot in tender["lots"] if lot.get("status", "active") == "active"]
        if all((lot.get("auctionPeriod") or {}).get("endDate") for lot in active):
            tender["status"] = "active.qualification"
    else:
        tender.setdefault("auctionPeriod", {})["endDate"] = now
        tender["status"] = "active.qualification"


def _take_result(holder: dict[str, Any], given: Mapping[str, Any]) -> None:
    rogue = sorted(set(given) - {"id", "relatedLot", "value", "weightedValue", "date"})
    if rogue:
        raise CdbError(422, "bids", [{rogue[0]: "Rogue field"}])
    for key in ("value", "weightedValue"):
        if key in given:
            amount = given[key].get("amount") if isinstance(given[key], dict) else None
            if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
                raise CdbError(
                    422, "bids", [{key: {"amount": ["Float value should be greater than 0."]}}]
                )
            holder.setdefault(key, {})["amount"] = amount
    if "date" in given:
        try:
            datetime.fromisoformat(str(given["date"]).replace("Z", "+00:00"))
        except ValueError:
            raise CdbError(422, "bids", [{"date": ["Could not parse the date."]}]) from None
        holder["date"] = given["date"]


def _aligned(
    given: Any, held: list[dict[str, Any]], name: str, mismatch: str
) -> list[dict[str, Any]]:
    """The CDB's position-aligned arrays: as long as the tender's, ids in place."""
    if not isinstance(given, list) or len(given) != len(held):
        raise CdbError(422, name, [mismatch])
    for item, tender_item in zip(given, held, strict=True):
        if not isinstance(item, dict):
            raise CdbError(422, name, [f"{name} items must be objects"])
        if "id" in item and item["id"] != tender_item["id"]:
            raise CdbError(422, name, [f"Auction {name} should be identical to the tender {name}"])
    return given


def _url(value: Any, name: str) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise CdbError(422, name, ["Not a well formed URL."])
    return str(value)


async def _json_data(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise CdbError(422, "data", "Expecting value: line 1 column 1 (char 0)") from None
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise CdbError(422, "data", "Data not available")
    data: dict[str, Any] = body["data"]
    return data


def _error(exc: CdbError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"status": "error", "errors": exc.errors},
        status_code=exc.status,
        headers=dict(headers or {}),
    )


def _cookies(scope: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            for part in value.decode().split(";"):
                key, _, val = part.strip().partition("=")
                out[key] = val
    return out
