"""Import an OCDS / ProZorro tender as a ``rounds`` auction spec.

:func:`tender_to_spec` takes a decoded tender document (with or without
ProZorro's ``{"data": ...}`` wrapper) and returns a spec mapping ready for
:func:`auction.core.parse_spec`, or raises :class:`OcdsImportError` naming the
JSON path of the missing or invalid field, such as ``data.value.amount``.

What is taken from the tender (paths relative to the tender object)::

    tenderID (else id)          -> id           (a lot: "{tenderID}_{lot id}")
    title                       -> title        (a lot: the lot's title)
    value.currency              -> currency     (exponent 2: minor units)
    value.amount                -> start_value  (minor units, exactly)
    minimalStep.amount          -> minimal_step (minor units, exactly)
    auctionPeriod.startDate     -> start_at     (the caller's start_at wins)
    features[].code/title/enum  -> features, scoring = "features"
    bids[].id                   -> bidders[].id
    bids[].tenderers[0].name    -> bidders[].name (else identifier.legalName,
                                   else the bid id)
    bids[].value.amount         -> bidders[].amount (a lot: lotValues[].value)
    bids[].date                 -> bidders[].submitted_at (a lot: lotValues[].date)
    bids[].parameters           -> bidders[].features
    awardCriteria = lifeCycleCost and criteria[] classified
    CRITERION.OTHER.LIFE_CYCLE_COST.*
                                -> scoring = "lifecycle"
    bids[].requirementResponses -> bidders[].non_price_cost (the sum of the
                                   responses to those criteria's requirements)

It follows the ProZorro auction worker's rules for who takes part: a bid
whose ``status`` is neither absent nor ``active`` is left out, and so is a bid
with no value for the lot (or a lot value whose ``status`` is not active). In
a multi-lot tender a lot's features are the ``tenderer`` features plus those
of the lot and of the lot's items, and a bid's parameters for other lots'
features are ignored.

Life-cycle cost follows the CDB's own weighting: the non-price cost of a bid
is the sum of its responses to the requirements of the life-cycle-cost
criteria that concern the lot (``relatesTo = "lot"`` with the lot's id, or
the whole tender), in the tender's currency; a tender with both features and
life-cycle cost is refused, as the CDB refuses it.

Decimal numbers are read exactly from their text: a JSON ``0.15`` is
``3/20`` and ``475000.0`` is ``47500000`` minor units; an amount with more
than two decimals is an error, never rounded. Feature values are written into
the spec as exact decimal strings (``"0.15"``) so that the spec survives a
round trip through JSON or TOML unchanged.

This module does no I/O: the caller reads and decodes the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from auction.core.errors import SpecError, UnderbidError
from auction.core.money import Amount, parse_fraction, score_to_str, to_minor_units
from auction.core.spec import parse_time_ms

CURRENCY_EXPONENT = 2
"""ProZorro amounts are in UAH (or other two-decimal currencies)."""

_ACTIVE = "active"
_FEATURE_OF = ("tenderer", "lot", "item")
LIFE_CYCLE_COST = "lifeCycleCost"
"""The ``awardCriteria`` of a tender scored by life-cycle cost."""
LCC_CRITERIA = frozenset(
    f"CRITERION.OTHER.LIFE_CYCLE_COST.{kind}"
    for kind in ("COST_OF_USE", "MAINTENANCE_COST", "END_OF_LIFE_COST", "ECOLOGICAL_COST")
)
"""The classification ids of ProZorro's life-cycle-cost criteria."""


class OcdsImportError(UnderbidError):
    """The tender cannot be imported. ``path`` is a JSON path such as ``data.bids[1].value``."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        """Where in the tender document the problem is (empty: the whole document)."""
        self.message = message
        """What is wrong, for a human."""


@dataclass(frozen=True, slots=True)
class _Feature:
    code: str
    title: str
    values: tuple[Fraction, ...]
    feature_of: str
    related_item: str


@dataclass(frozen=True, slots=True)
class _Lot:
    """Where one auction's value and step come from: a lot, or the whole tender."""

    id: str | None
    """The OCDS lot id; None for a tender without lots."""
    body: Mapping[str, Any]
    path: str
    status: str


# ----------------------------------------------------------------- entry
def tender_to_spec(
    tender: Mapping[str, Any],
    *,
    lot_id: str | None = None,
    auction_id: str | None = None,
    start_at: str | int | None = None,
    rounds: int | None = None,
) -> dict[str, Any]:
    """Turn a tender into a ``rounds`` spec mapping for :func:`~auction.core.parse_spec`.

    - ``lot_id``: import that lot of a multi-lot tender as a single-lot auction
      (id ``{tender_id}_{lot_id}``, as ProZorro names lot auctions). Without it,
      a tender with ``lots`` becomes one event with a ``lots`` list, closing
      together; a tender without lots becomes a single-lot auction.
    - ``auction_id``: the spec's id instead of the one derived from the tender.
    - ``start_at``: ISO-8601 with a zone, or ms since epoch; overrides the
      tender's ``auctionPeriod.startDate`` and is required when it is absent.
    - ``rounds``: the number of rounds (the spec's default of 3 otherwise).

    Raises :class:`OcdsImportError` naming the offending JSON path.
    """
    doc, root = _unwrap(tender)
    features = _features(doc, root)
    lots = _lots(doc, root)
    lots_path = _join(root, "lots")
    if lot_id is None and lots:
        return _event(doc, root, lots, features, auction_id, start_at, rounds)
    if lot_id is None:
        source = _Lot(id=None, body=doc, path=root, status=_ACTIVE)
        title = _text(doc, "title", root)
        places = [source]
        default_id = None
    else:
        source = _pick_lot(lots, lot_id, lots_path)
        title = _text(source.body, "title", source.path) or _text(doc, "title", root)
        places = [source, _Lot(id=None, body=doc, path=root, status=_ACTIVE)]
        default_id = lot_id
    spec: dict[str, Any] = {
        "id": auction_id if auction_id is not None else _auction_id(doc, root, default_id),
        "title": title,
        "start_at": _start_at(start_at, places),
        "currency": _currency(doc, root, source),
        "currency_exponent": CURRENCY_EXPONENT,
    }
    spec.update(_lot_body(doc, root, source, features, rounds))
    return spec


def _event(
    doc: Mapping[str, Any],
    root: str,
    lots: list[_Lot],
    features: list[_Feature],
    auction_id: str | None,
    start_at: str | int | None,
    rounds: int | None,
) -> dict[str, Any]:
    active = [lot for lot in lots if lot.status == _ACTIVE]
    if not active:
        raise OcdsImportError(_join(root, "lots"), "no lot is active; nothing to auction")
    currency = _currency(doc, root, active[0])
    bodies: list[dict[str, Any]] = []
    for lot in active:
        if _currency(doc, root, lot) != currency:
            raise OcdsImportError(
                _join(lot.path, "value.currency"), f"differs from the first lot's {currency!r}"
            )
        body: dict[str, Any] = {"id": lot.id, "title": _text(lot.body, "title", lot.path)}
        body.update(_lot_body(doc, root, lot, features, rounds))
        bodies.append(body)
    tender_level = _Lot(id=None, body=doc, path=root, status=_ACTIVE)
    if start_at is None and _period_start(doc, root) is None:
        found = [s for lot in active if (s := _period_start(lot.body, lot.path)) is not None]
        if found:  # lots that close together start together: at the earliest lot's start
            start_at = min(found, key=lambda s: parse_time_ms(s, "start_at"))
    return {
        "id": auction_id if auction_id is not None else _auction_id(doc, root, None),
        "title": _text(doc, "title", root),
        "start_at": _start_at(start_at, [tender_level]),
        "currency": currency,
        "currency_exponent": CURRENCY_EXPONENT,
        "closing": "together",
        "lots": bodies,
    }


def _pick_lot(lots: list[_Lot], lot_id: str, lots_path: str) -> _Lot:
    if not lots:
        raise OcdsImportError(
            lots_path, f"the tender has no lots, so no lot {lot_id!r}; import it without a lot id"
        )
    for lot in lots:
        if lot.id == lot_id:
            if lot.status != _ACTIVE:
                raise OcdsImportError(
                    _join(lot.path, "status"),
                    f"lot {lot_id!r} is {lot.status!r}; only active lots are auctioned",
                )
            return lot
    known = ", ".join(
        lot.id if lot.status == _ACTIVE else f"{lot.id} ({lot.status})"
        for lot in lots
        if lot.id is not None
    )
    raise OcdsImportError(lots_path, f"no lot {lot_id!r} in the tender; its lots are: {known}")


def _lot_body(
    doc: Mapping[str, Any],
    root: str,
    source: _Lot,
    features: list[_Feature],
    rounds: int | None,
) -> dict[str, Any]:
    """The lot fields of the spec (format, values, scoring, bidders)."""
    start_value = _minor(source.body.get("value"), _join(source.path, "value"))
    if start_value <= 0:
        raise OcdsImportError(_join(source.path, "value.amount"), "must be greater than zero")
    step = _minor(source.body.get("minimalStep"), _join(source.path, "minimalStep"))
    if step <= 0:
        raise OcdsImportError(_join(source.path, "minimalStep.amount"), "must be greater than zero")
    own = _features_of(doc, root, source, features)
    lcc = _lcc_requirements(doc, root, source)
    if own and lcc is not None:
        raise OcdsImportError(
            _join(root, "features"), "a tender scored by life-cycle cost has no features"
        )
    body: dict[str, Any] = {
        "format": "rounds",
        "start_value": start_value,
        "minimal_step": step,
        "scoring": "features" if own else "lifecycle" if lcc is not None else "price",
    }
    if own:
        body["features"] = [
            {"code": f.code, "title": f.title, "values": [score_to_str(v) for v in f.values]}
            for f in own.values()
        ]
    if rounds is not None:
        body["rounds"] = {"rounds": rounds}
    codes = {f.code for f in features}
    currency = _currency(doc, root, source)
    body["bidders"] = _bidders(doc, root, source, own, codes, start_value, currency, lcc)
    return body


# ---------------------------------------------------------------- bidders
def _bidders(
    doc: Mapping[str, Any],
    root: str,
    source: _Lot,
    own: dict[str, _Feature],
    codes: set[str],
    start_value: Amount,
    currency: str,
    lcc: frozenset[str] | None = None,
) -> list[dict[str, Any]]:
    bids_path = _join(root, "bids")
    out: list[dict[str, Any]] = []
    for i, raw in enumerate(_list(doc.get("bids"), bids_path)):
        bpath = f"{bids_path}[{i}]"
        bid = _mapping(raw, bpath)
        if not _is_active(bid):
            continue
        bid_id = _required_text(bid, "id", bpath)
        offer = _offer(bid, bpath, source.id)
        if offer is None:
            continue
        value, vpath, date, dpath = offer
        amount = _minor(value, vpath)
        apath = _join(vpath, "amount")
        if amount <= 0:
            raise OcdsImportError(apath, "must be greater than zero")
        if amount > start_value:
            raise OcdsImportError(apath, "is above the value of the tender (or lot)")
        bid_currency = _mapping(value, vpath).get("currency")
        if bid_currency not in (None, "", currency):
            raise OcdsImportError(
                _join(vpath, "currency"), f"{bid_currency!r} differs from the tender's {currency!r}"
            )
        bidder: dict[str, Any] = {"id": bid_id, "name": _bidder_name(bid, bid_id), "amount": amount}
        if date is not None:
            bidder["submitted_at"] = _time(date, dpath)
        if own:
            bidder["features"] = _choices(bid, bpath, own, codes)
        if lcc is not None:
            bidder["non_price_cost"] = _non_price_cost(bid, bpath, lcc)
        out.append(bidder)
    return out


def _is_active(obj: Mapping[str, Any]) -> bool:
    return obj.get("status") in (None, _ACTIVE)


def _offer(
    bid: Mapping[str, Any], bpath: str, lot_id: str | None
) -> tuple[Any, str, Any, str] | None:
    """(value, its path, date, its path) of the bid for the lot, or None if it has none."""
    if lot_id is None:
        if bid.get("value") is None:
            return None
        return bid["value"], _join(bpath, "value"), bid.get("date"), _join(bpath, "date")
    lv_path = _join(bpath, "lotValues")
    for k, raw in enumerate(_list(bid.get("lotValues"), lv_path)):
        kpath = f"{lv_path}[{k}]"
        lot_value = _mapping(raw, kpath)
        if lot_value.get("relatedLot") != lot_id:
            continue
        if not _is_active(lot_value) or lot_value.get("value") is None:
            return None
        if lot_value.get("date") is not None:
            return (
                lot_value["value"],
                _join(kpath, "value"),
                lot_value["date"],
                _join(kpath, "date"),
            )
        return lot_value["value"], _join(kpath, "value"), bid.get("date"), _join(bpath, "date")
    return None


def _bidder_name(bid: Mapping[str, Any], bid_id: str) -> str:
    tenderers = bid.get("tenderers")
    if isinstance(tenderers, list) and tenderers and isinstance(tenderers[0], Mapping):
        first = tenderers[0]
        name = first.get("name")
        if isinstance(name, str) and name.strip():
            return name
        identifier = first.get("identifier")
        if isinstance(identifier, Mapping):
            legal = identifier.get("legalName")
            if isinstance(legal, str) and legal.strip():
                return legal
    return bid_id


def _choices(
    bid: Mapping[str, Any], bpath: str, own: dict[str, _Feature], codes: set[str]
) -> dict[str, str]:
    """The bid's chosen value per feature of this lot, as exact decimal text."""
    ppath = _join(bpath, "parameters")
    chosen: dict[str, str] = {}
    for j, raw in enumerate(_list(bid.get("parameters"), ppath)):
        jpath = f"{ppath}[{j}]"
        param = _mapping(raw, jpath)
        code = _required_text(param, "code", jpath)
        if code not in codes:
            raise OcdsImportError(_join(jpath, "code"), f"the tender has no feature {code!r}")
        feature = own.get(code)
        if feature is None:
            continue  # a feature of another lot
        if code in chosen:
            raise OcdsImportError(_join(jpath, "code"), f"a second value for feature {code!r}")
        value = _exact(param.get("value"), _join(jpath, "value"))
        if value not in feature.values:
            allowed = ", ".join(score_to_str(v) for v in feature.values)
            raise OcdsImportError(
                _join(jpath, "value"),
                f"{score_to_str(value)} is not a value of feature {code!r} ({allowed})",
            )
        chosen[code] = score_to_str(value)
    for code in own:
        if code not in chosen:
            raise OcdsImportError(ppath, f"no value for feature {code!r}")
    return chosen


# ------------------------------------------------------- life-cycle cost
def _lcc_requirements(doc: Mapping[str, Any], root: str, source: _Lot) -> frozenset[str] | None:
    """The requirement ids of the life-cycle-cost criteria of this lot, or None
    when the lot is not scored by life-cycle cost."""
    if doc.get("awardCriteria") != LIFE_CYCLE_COST:
        return None
    cpath = _join(root, "criteria")
    found: set[str] = set()
    scored = False
    for i, raw in enumerate(_list(doc.get("criteria"), cpath)):
        ipath = f"{cpath}[{i}]"
        criterion = _mapping(raw, ipath)
        classification = criterion.get("classification")
        if not isinstance(classification, Mapping) or classification.get("id") not in LCC_CRITERIA:
            continue
        if criterion.get("relatesTo") == "lot" and criterion.get("relatedItem") != source.id:
            continue
        scored = True
        gpath = _join(ipath, "requirementGroups")
        for j, group in enumerate(_list(criterion.get("requirementGroups"), gpath)):
            rpath = f"{gpath}[{j}].requirements"
            for k, req in enumerate(
                _list(_mapping(group, f"{gpath}[{j}]").get("requirements"), rpath)
            ):
                found.add(_required_text(_mapping(req, f"{rpath}[{k}]"), "id", f"{rpath}[{k}]"))
    return frozenset(found) if scored else None


def _non_price_cost(bid: Mapping[str, Any], bpath: str, requirements: frozenset[str]) -> Amount:
    """The sum of the bid's responses to ``requirements``, in minor units, exactly."""
    rpath = _join(bpath, "requirementResponses")
    total = 0
    for i, raw in enumerate(_list(bid.get("requirementResponses"), rpath)):
        ipath = f"{rpath}[{i}]"
        response = _mapping(raw, ipath)
        requirement = response.get("requirement")
        req_id = requirement.get("id") if isinstance(requirement, Mapping) else None
        if req_id not in requirements:
            continue
        value = response.get("value")
        if value is None:
            continue
        try:
            cost = to_minor_units(_number(value, _join(ipath, "value")), CURRENCY_EXPONENT)
        except ValueError as exc:
            raise OcdsImportError(_join(ipath, "value"), str(exc)) from None
        if cost < 0:
            raise OcdsImportError(_join(ipath, "value"), "a cost must not be negative")
        total += cost
    return total


# --------------------------------------------------------------- features
def _features(doc: Mapping[str, Any], root: str) -> list[_Feature]:
    fpath = _join(root, "features")
    out: list[_Feature] = []
    for j, raw in enumerate(_list(doc.get("features"), fpath)):
        jpath = f"{fpath}[{j}]"
        feature = _mapping(raw, jpath)
        code = _required_text(feature, "code", jpath)
        epath = _join(jpath, "enum")
        options = _list(feature.get("enum"), epath)
        if not options:
            raise OcdsImportError(epath, "a feature needs at least one value")
        values = tuple(
            _exact(_mapping(o, f"{epath}[{k}]").get("value"), f"{epath}[{k}].value")
            for k, o in enumerate(options)
        )
        feature_of = feature.get("featureOf") or "tenderer"
        if feature_of not in _FEATURE_OF:
            raise OcdsImportError(
                _join(jpath, "featureOf"), f"expected one of {', '.join(_FEATURE_OF)}"
            )
        related = "" if feature_of == "tenderer" else _required_text(feature, "relatedItem", jpath)
        out.append(
            _Feature(
                code=code,
                title=_text(feature, "title", jpath),
                values=values,
                feature_of=feature_of,
                related_item=related,
            )
        )
    return out


def _features_of(
    doc: Mapping[str, Any], root: str, source: _Lot, features: list[_Feature]
) -> dict[str, _Feature]:
    """The features that score this lot, by code (all of them without lots)."""
    if source.id is None:
        return {f.code: f for f in features}
    items_path = _join(root, "items")
    items = {
        item.get("id")
        for item in (
            _mapping(x, f"{items_path}[{k}]")
            for k, x in enumerate(_list(doc.get("items"), items_path))
        )
        if item.get("relatedLot") == source.id
    }
    return {
        f.code: f
        for f in features
        if f.feature_of == "tenderer"
        or (f.feature_of == "lot" and f.related_item == source.id)
        or (f.feature_of == "item" and f.related_item in items)
    }


# ------------------------------------------------------------ tender bits
def _unwrap(tender: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    if not isinstance(tender, Mapping):
        raise OcdsImportError("", "a tender must be a JSON object")
    if "data" in tender:
        return _mapping(tender["data"], "data"), "data"
    return tender, ""


def _lots(doc: Mapping[str, Any], root: str) -> list[_Lot]:
    lots_path = _join(root, "lots")
    out: list[_Lot] = []
    for i, raw in enumerate(_list(doc.get("lots"), lots_path)):
        path = f"{lots_path}[{i}]"
        lot = _mapping(raw, path)
        status = lot.get("status") or _ACTIVE
        out.append(
            _Lot(id=_required_text(lot, "id", path), body=lot, path=path, status=str(status))
        )
    return out


def _auction_id(doc: Mapping[str, Any], root: str, lot_id: str | None) -> str:
    tender_id = _text(doc, "tenderID", root) or _text(doc, "id", root)
    if not tender_id:
        raise OcdsImportError(_join(root, "tenderID"), "missing (and no id either)")
    return f"{tender_id}_{lot_id}" if lot_id is not None else tender_id


def _currency(doc: Mapping[str, Any], root: str, source: _Lot) -> str:
    for body, path in ((source.body, source.path), (doc, root)):
        value = body.get("value")
        if value is not None:
            currency = _mapping(value, _join(path, "value")).get("currency")
            if isinstance(currency, str) and currency.strip():
                return currency
    raise OcdsImportError(_join(source.path, "value.currency"), "missing")


def _period_start(body: Mapping[str, Any], path: str) -> str | None:
    period = body.get("auctionPeriod")
    ppath = _join(path, "auctionPeriod")
    if period is None:
        return None
    start = _mapping(period, ppath).get("startDate")
    if start is None:
        return None
    return _time(start, _join(ppath, "startDate"))


def _start_at(override: str | int | None, places: list[_Lot]) -> str | int:
    """The caller's start if given, else the first auctionPeriod.startDate found."""
    if override is not None:
        try:
            parse_time_ms(override, "start_at")
        except SpecError as exc:
            raise OcdsImportError("start_at", exc.message) from None
        return override
    for place in places:
        found = _period_start(place.body, place.path)
        if found is not None:
            return found
    raise OcdsImportError(
        _join(places[0].path, "auctionPeriod.startDate"),
        "missing: the tender does not say when the auction starts; give start_at (--start-at)",
    )


def _time(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise OcdsImportError(path, "expected an ISO-8601 time with a zone")
    try:
        parse_time_ms(value, path)
    except SpecError as exc:
        raise OcdsImportError(path, exc.message) from None
    return value


# ----------------------------------------------------------------- values
def _minor(value: Any, path: str) -> Amount:
    """A ``{"amount": ...}`` object's amount in minor units, exactly."""
    apath = _join(path, "amount")
    if value is None:
        raise OcdsImportError(apath, "missing")
    amount = _mapping(value, path).get("amount")
    if amount is None:
        raise OcdsImportError(apath, "missing")
    number = _number(amount, apath)
    try:
        return to_minor_units(number, CURRENCY_EXPONENT)
    except ValueError as exc:
        raise OcdsImportError(apath, str(exc)) from None


def _exact(value: Any, path: str) -> Fraction:
    if value is None:
        raise OcdsImportError(path, "missing")
    try:
        return parse_fraction(_number(value, path))
    except ValueError as exc:
        raise OcdsImportError(path, str(exc)) from None


def _number(value: Any, path: str) -> str | int | float:
    """A JSON number (or its text) as parse_fraction takes it; Decimal via its text."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise OcdsImportError(path, f"expected a number, got {type(value).__name__}")
    return str(value) if isinstance(value, Decimal) else value


# ------------------------------------------------------------ JSON access
def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if value is None:
        raise OcdsImportError(path, "missing")
    if not isinstance(value, Mapping):
        raise OcdsImportError(path, f"expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise OcdsImportError(path, f"expected a list, got {type(value).__name__}")
    return value


def _text(obj: Mapping[str, Any], key: str, path: str) -> str:
    """An optional string field ("" when absent)."""
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise OcdsImportError(_join(path, key), f"expected a string, got {type(value).__name__}")
    return value


def _required_text(obj: Mapping[str, Any], key: str, path: str) -> str:
    value = _text(obj, key, path)
    if not value.strip():
        raise OcdsImportError(_join(path, key), "missing")
    return value
