"""Auction specs: the documented input that describes one auction.

A spec is a plain mapping (read from TOML or JSON by the caller; this module
does no I/O). :func:`parse_spec` validates it and returns an immutable
:class:`AuctionSpec`, or raises :class:`SpecError` naming the offending field,
such as ``lots[0].bidders[1].amount``.

A single-lot auction writes the lot's fields at the top level; a multi-lot
event lists them under ``lots``. The format reference is docs/spec.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any, Literal

import msgspec

from auction.core.errors import SpecError
from auction.core.money import Amount, parse_fraction

Format = Literal["rounds", "open", "japanese", "dutch"]
FORMATS: tuple[str, ...] = ("rounds", "open", "japanese", "dutch")
Scoring = Literal["price", "features", "lifecycle"]

Number = int | float | str


# ---------------------------------------------------------------- raw input
class _In(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Base of the raw input structs: unknown keys are errors (typos included)."""


class BidderIn(_In):
    id: str
    name: str = ""
    amount: int | None = None
    submitted_at: str | int | None = None
    features: dict[str, Number] = {}
    non_price_cost: int = 0


class FeatureIn(_In):
    code: str
    values: list[Number]
    title: str = ""


class RoundsIn(_In):
    rounds: int = 3
    first_pause_s: Number = 300
    pause_s: Number = 120
    turn_s: Number = 120


class OpenIn(_In):
    duration_s: Number
    decrement: int | None = None
    decrement_percent: Number | None = None
    against: Literal["best", "own"] = "best"
    dynamic_close_s: Number = 0
    dynamic_close_cap_s: Number | None = None
    quiet_close_s: Number | None = None
    phases: int = 1
    visibility: Literal["prices", "rank"] = "prices"


class JapaneseIn(_In):
    round_s: Number = 60
    step: int | None = None
    step_percent: Number | None = None
    floor: int = 1


class DutchIn(_In):
    start_price: int
    limit_price: int
    step: int
    interval_s: Number = 10
    direction: Literal["rising", "falling"] = "rising"


class LotIn(_In):
    format: str
    start_value: int
    bidders: list[BidderIn]
    id: str = "1"
    title: str = ""
    minimal_step: int | None = None
    scoring: Scoring = "price"
    features: list[FeatureIn] = []
    rounds: RoundsIn | None = None
    open: OpenIn | None = None
    japanese: JapaneseIn | None = None
    dutch: DutchIn | None = None


class AuctionIn(_In):
    id: str
    start_at: str | int
    title: str = ""
    currency: str = "UAH"
    currency_exponent: int = 2
    public: bool = True
    closing: Literal["together", "staggered"] = "together"
    stagger_s: Number = 0
    lots: list[LotIn] = []


_AUCTION_KEYS = frozenset(AuctionIn.__struct_fields__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------- validated spec
@dataclass(frozen=True, slots=True)
class BidderSpec:
    id: str
    """Stable identity, used in tokens and commands. Never shown to the public."""
    name: str
    """Legal name, revealed at the announcement."""
    amount: Amount | None
    """Sealed initial bid in minor units (required by ``rounds``)."""
    submitted_at: int
    """When the sealed bid was submitted (ms since epoch); orders ties."""
    features: dict[str, Fraction]
    """Chosen value per feature code (``features`` scoring)."""
    non_price_cost: Amount
    """Added to the amount under ``lifecycle`` scoring."""


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    code: str
    title: str
    values: tuple[Fraction, ...]


@dataclass(frozen=True, slots=True)
class RoundsSpec:
    rounds: int
    first_pause_ms: int
    pause_ms: int
    turn_ms: int


@dataclass(frozen=True, slots=True)
class OpenSpec:
    duration_ms: int
    decrement: Amount | None
    decrement_percent: Fraction | None
    against: Literal["best", "own"]
    dynamic_close_ms: int
    dynamic_close_cap_ms: int | None
    quiet_close_ms: int | None
    phases: int
    visibility: Literal["prices", "rank"]


@dataclass(frozen=True, slots=True)
class JapaneseSpec:
    round_ms: int
    step: Amount | None
    step_percent: Fraction | None
    floor: Amount


@dataclass(frozen=True, slots=True)
class DutchSpec:
    start_price: Amount
    limit_price: Amount
    step: Amount
    interval_ms: int
    direction: Literal["rising", "falling"]


@dataclass(frozen=True, slots=True)
class LotSpec:
    id: str
    title: str
    format: Format
    start_value: Amount
    """The ceiling: the starting (expected) value of the lot, minor units."""
    start_at: int
    """When the lot starts (ms since epoch), staggering applied."""
    bidders: tuple[BidderSpec, ...]
    scoring: Scoring
    features: tuple[FeatureSpec, ...]
    minimal_step: Amount | None
    rounds: RoundsSpec | None = None
    open: OpenSpec | None = None
    japanese: JapaneseSpec | None = None
    dutch: DutchSpec | None = None

    def bidder(self, bidder_id: str) -> BidderSpec | None:
        for b in self.bidders:
            if b.id == bidder_id:
                return b
        return None


@dataclass(frozen=True, slots=True)
class AuctionSpec:
    id: str
    title: str
    currency: str
    currency_exponent: int
    start_at: int
    public: bool
    closing: Literal["together", "staggered"]
    stagger_ms: int
    lots: tuple[LotSpec, ...]
    raw: dict[str, Any] = field(compare=False, repr=False)
    """The input mapping, kept so that the spec can be journaled as given."""

    def lot(self, lot_id: str) -> LotSpec | None:
        for lot in self.lots:
            if lot.id == lot_id:
                return lot
        return None


# ------------------------------------------------------------------ parsing
_PATH_RE = re.compile(r"`\$(.*?)`")
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_KEY_RE = re.compile(r"Object (?:contains unknown|missing required) field `([^`]*)`")


def _field_from_msgspec(msg: str) -> tuple[str, str]:
    """Split msgspec's ``... - at `$.lots[0].x``` into (``lots[0].x``, message)."""
    match = _PATH_RE.search(msg)
    path = match.group(1).lstrip(".") if match else ""
    text = msg.split(" - at ", 1)[0]
    key = _KEY_RE.match(text)
    if key:  # an unknown or missing key: name the key itself, not its table
        path = f"{path}.{key.group(1)}" if path else key.group(1)
    return path, text


def _plain(value: Any) -> Any:
    """A copy with TOML's native date-times written as ISO-8601 text."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def parse_time_ms(value: str | int | datetime, where: str) -> int:
    """An ISO-8601 time with a zone, a TOML date-time, or ms since epoch, as ms since
    epoch, exactly."""
    if isinstance(value, datetime):
        return _datetime_ms(value, where)
    if isinstance(value, bool):
        raise SpecError(where, "expected a time, got a boolean")
    if isinstance(value, int):
        if value < 0:
            raise SpecError(where, "a time must not be negative")
        return value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SpecError(where, f"not an ISO-8601 time: {value!r}") from None
    return _datetime_ms(moment, where)


def _datetime_ms(moment: datetime, where: str) -> int:
    if moment.tzinfo is None:
        raise SpecError(where, f"the time {moment.isoformat()} has no time zone (add Z or +HH:MM)")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _ms(value: Number, where: str, *, positive: bool = True) -> int:
    try:
        seconds = parse_fraction(value)
    except ValueError as exc:
        raise SpecError(where, str(exc)) from None
    ms = seconds * 1000
    if ms.denominator != 1:
        raise SpecError(where, "durations are whole milliseconds")
    if positive and ms <= 0:
        raise SpecError(where, "must be greater than zero")
    if ms < 0:
        raise SpecError(where, "must not be negative")
    return int(ms)


def _fraction(value: Number, where: str) -> Fraction:
    try:
        return parse_fraction(value)
    except ValueError as exc:
        raise SpecError(where, str(exc)) from None


def parse_spec(data: Mapping[str, Any]) -> AuctionSpec:
    """Validate a spec mapping. Raises :class:`SpecError` naming the field."""
    if not isinstance(data, Mapping):
        raise SpecError("", "a spec must be a table/object")
    raw = _plain(data)
    top = {k: v for k, v in raw.items() if k in _AUCTION_KEYS}
    lot_keys = {k: v for k, v in raw.items() if k not in _AUCTION_KEYS}
    single = "lots" not in raw
    if single:
        top["lots"] = [lot_keys]
    elif lot_keys:
        name = sorted(lot_keys)[0]
        raise SpecError(name, "with 'lots', lot fields go inside each lot")
    try:
        parsed = msgspec.convert(top, AuctionIn)
    except msgspec.ValidationError as exc:
        path, text = _field_from_msgspec(str(exc))
        if single and path.startswith("lots[0]"):
            path = path[len("lots[0]") :].lstrip(".")
        raise SpecError(path, text) from None

    def prefix(i: int) -> str:
        return "" if single else f"lots[{i}]."

    if not _ID_RE.fullmatch(parsed.id):
        raise SpecError(
            "id",
            "1-128 characters: letters, digits and . _ : - (it names journal keys and URLs)",
        )
    if not parsed.lots:
        raise SpecError("lots", "an auction needs at least one lot")
    if not 0 <= parsed.currency_exponent <= 4:
        raise SpecError("currency_exponent", "must be between 0 and 4")
    start_at = parse_time_ms(parsed.start_at, "start_at")
    stagger = _ms(parsed.stagger_s, "stagger_s", positive=False)
    seen_lots: set[str] = set()
    lots: list[LotSpec] = []
    for i, lot_in in enumerate(parsed.lots):
        where = prefix(i)
        if lot_in.id in seen_lots:
            raise SpecError(f"{where}id", f"duplicate lot id {lot_in.id!r}")
        seen_lots.add(lot_in.id)
        offset = i * stagger if parsed.closing == "staggered" else 0
        lots.append(_parse_lot(lot_in, where, start_at + offset))
    return AuctionSpec(
        id=parsed.id,
        title=parsed.title,
        currency=parsed.currency,
        currency_exponent=parsed.currency_exponent,
        start_at=start_at,
        public=parsed.public,
        closing=parsed.closing,
        stagger_ms=stagger,
        lots=tuple(lots),
        raw=raw,
    )


def _parse_lot(lot: LotIn, where: str, start_at: int) -> LotSpec:
    if lot.format not in FORMATS:
        raise SpecError(
            f"{where}format", f"unknown format {lot.format!r}; expected one of {', '.join(FORMATS)}"
        )
    fmt: Format = lot.format  # type: ignore[assignment]
    if lot.start_value <= 0:
        raise SpecError(f"{where}start_value", "must be greater than zero")
    features = _parse_features(lot, where)
    bidders = _parse_bidders(lot, where, fmt, features)
    spec = LotSpec(
        id=lot.id,
        title=lot.title,
        format=fmt,
        start_value=lot.start_value,
        start_at=start_at,
        bidders=bidders,
        scoring=lot.scoring,
        features=features,
        minimal_step=lot.minimal_step,
    )
    for other in FORMATS:
        if other != fmt and getattr(lot, other) is not None:
            raise SpecError(f"{where}{other}", f"settings for {other!r} in a {fmt!r} lot")
    if lot.scoring != "price" and fmt in ("japanese", "dutch"):
        raise SpecError(f"{where}scoring", f"the {fmt} format is price-only")
    if fmt == "rounds":
        return _with_rounds(spec, lot, where)
    if fmt == "open":
        return _with_open(spec, lot, where)
    if fmt == "japanese":
        return _with_japanese(spec, lot, where)
    return _with_dutch(spec, lot, where)


def _parse_features(lot: LotIn, where: str) -> tuple[FeatureSpec, ...]:
    if lot.scoring != "features":
        if lot.features:
            raise SpecError(f"{where}features", "features are only used with scoring = 'features'")
        return ()
    if not lot.features:
        raise SpecError(f"{where}features", "scoring = 'features' needs at least one feature")
    out: list[FeatureSpec] = []
    codes: set[str] = set()
    for j, feat in enumerate(lot.features):
        fwhere = f"{where}features[{j}]"
        if feat.code in codes:
            raise SpecError(f"{fwhere}.code", f"duplicate feature code {feat.code!r}")
        codes.add(feat.code)
        if not feat.values:
            raise SpecError(f"{fwhere}.values", "a feature needs at least one value")
        values = tuple(_fraction(v, f"{fwhere}.values[{k}]") for k, v in enumerate(feat.values))
        if any(v < 0 for v in values):
            raise SpecError(f"{fwhere}.values", "feature values must not be negative")
        out.append(FeatureSpec(code=feat.code, title=feat.title, values=values))
    if sum(max(f.values) for f in out) >= 1:
        raise SpecError(f"{where}features", "the maximum values of all features must sum below 1")
    return tuple(out)


def _parse_bidders(
    lot: LotIn, where: str, fmt: Format, features: tuple[FeatureSpec, ...]
) -> tuple[BidderSpec, ...]:
    out: list[BidderSpec] = []
    ids: set[str] = set()
    for j, b in enumerate(lot.bidders):
        bwhere = f"{where}bidders[{j}]"
        if not b.id.strip():
            raise SpecError(f"{bwhere}.id", "must not be empty")
        if b.id in ids:
            raise SpecError(f"{bwhere}.id", f"duplicate bidder id {b.id!r}")
        ids.add(b.id)
        if b.amount is not None:
            if b.amount <= 0:
                raise SpecError(f"{bwhere}.amount", "must be greater than zero")
            if b.amount > lot.start_value:
                raise SpecError(f"{bwhere}.amount", "must not exceed the lot's start_value")
        elif fmt == "rounds":
            raise SpecError(f"{bwhere}.amount", "the rounds format needs each bidder's sealed bid")
        if b.amount is not None and fmt in ("japanese", "dutch"):
            raise SpecError(f"{bwhere}.amount", f"the {fmt} format takes no initial bids")
        if b.non_price_cost < 0:
            raise SpecError(f"{bwhere}.non_price_cost", "must not be negative")
        if b.non_price_cost and lot.scoring != "lifecycle":
            raise SpecError(f"{bwhere}.non_price_cost", "only used with scoring = 'lifecycle'")
        submitted = (
            parse_time_ms(b.submitted_at, f"{bwhere}.submitted_at")
            if b.submitted_at is not None
            else j
        )
        chosen = _parse_choices(b, bwhere, features)
        out.append(
            BidderSpec(
                id=b.id,
                name=b.name or b.id,
                amount=b.amount,
                submitted_at=submitted,
                features=chosen,
                non_price_cost=b.non_price_cost,
            )
        )
    return tuple(out)


def _parse_choices(
    b: BidderIn, bwhere: str, features: tuple[FeatureSpec, ...]
) -> dict[str, Fraction]:
    if not features:
        if b.features:
            raise SpecError(f"{bwhere}.features", "the lot has no features")
        return {}
    chosen: dict[str, Fraction] = {}
    known = {f.code: f for f in features}
    for code, value in b.features.items():
        if code not in known:
            raise SpecError(f"{bwhere}.features.{code}", "unknown feature code")
        exact = _fraction(value, f"{bwhere}.features.{code}")
        if exact not in known[code].values:
            raise SpecError(f"{bwhere}.features.{code}", f"{value!r} is not one of the values")
        chosen[code] = exact
    for code in known:
        if code not in chosen:
            raise SpecError(f"{bwhere}.features.{code}", "missing value for this feature")
    return chosen


def _with_rounds(spec: LotSpec, lot: LotIn, where: str) -> LotSpec:
    if lot.minimal_step is None:
        raise SpecError(f"{where}minimal_step", "the rounds format needs a minimal_step")
    if lot.minimal_step <= 0:
        raise SpecError(f"{where}minimal_step", "must be greater than zero")
    settings = lot.rounds or RoundsIn()
    rwhere = f"{where}rounds."
    if not 1 <= settings.rounds <= 100:
        raise SpecError(f"{rwhere}rounds", "must be between 1 and 100")
    rounds = RoundsSpec(
        rounds=settings.rounds,
        first_pause_ms=_ms(settings.first_pause_s, f"{rwhere}first_pause_s", positive=False),
        pause_ms=_ms(settings.pause_s, f"{rwhere}pause_s", positive=False),
        turn_ms=_ms(settings.turn_s, f"{rwhere}turn_s"),
    )
    return _replace(spec, rounds=rounds)


def _with_open(spec: LotSpec, lot: LotIn, where: str) -> LotSpec:
    settings = lot.open
    owhere = f"{where}open."
    if settings is None:
        raise SpecError(f"{where}open", "the open format needs an [open] table with duration_s")
    decrement = settings.decrement
    if decrement is None and lot.minimal_step is not None:
        decrement = lot.minimal_step
    percent = None
    if settings.decrement_percent is not None:
        percent = _fraction(settings.decrement_percent, f"{owhere}decrement_percent")
        if not 0 < percent < 100:
            raise SpecError(f"{owhere}decrement_percent", "must lie between 0 and 100")
        if decrement is not None:
            raise SpecError(f"{owhere}decrement", "give decrement or decrement_percent, not both")
    elif decrement is None:
        raise SpecError(f"{owhere}decrement", "give decrement (minor units) or decrement_percent")
    elif decrement <= 0:
        raise SpecError(f"{owhere}decrement", "must be greater than zero")
    if not 1 <= settings.phases <= 100:
        raise SpecError(f"{owhere}phases", "must be between 1 and 100")
    if settings.visibility == "rank" and settings.against == "best":
        # Beating a hidden best bid would leak it through max_bid and the
        # step_too_small message; rank-only auctions improve on one's own bid.
        raise SpecError(f"{owhere}visibility", "visibility = 'rank' needs against = 'own'")
    duration = _ms(settings.duration_s, f"{owhere}duration_s")
    if duration % settings.phases:
        raise SpecError(f"{owhere}phases", "duration_s must split into whole-ms phases")
    cap = None
    if settings.dynamic_close_cap_s is not None:
        cap = _ms(settings.dynamic_close_cap_s, f"{owhere}dynamic_close_cap_s", positive=False)
    quiet = None
    if settings.quiet_close_s is not None:
        quiet = _ms(settings.quiet_close_s, f"{owhere}quiet_close_s")
    open_spec = OpenSpec(
        duration_ms=duration,
        decrement=decrement,
        decrement_percent=percent,
        against=settings.against,
        dynamic_close_ms=_ms(settings.dynamic_close_s, f"{owhere}dynamic_close_s", positive=False),
        dynamic_close_cap_ms=cap,
        quiet_close_ms=quiet,
        phases=settings.phases,
        visibility=settings.visibility,
    )
    return _replace(spec, open=open_spec)


def _with_japanese(spec: LotSpec, lot: LotIn, where: str) -> LotSpec:
    settings = lot.japanese or JapaneseIn()
    jwhere = f"{where}japanese."
    step = settings.step if settings.step is not None else lot.minimal_step
    percent = None
    if settings.step_percent is not None:
        percent = _fraction(settings.step_percent, f"{jwhere}step_percent")
        if not 0 < percent < 100:
            raise SpecError(f"{jwhere}step_percent", "must lie between 0 and 100")
        if step is not None:
            raise SpecError(f"{jwhere}step", "give step or step_percent, not both")
    elif step is None:
        raise SpecError(f"{jwhere}step", "give step (minor units) or step_percent")
    elif step <= 0:
        raise SpecError(f"{jwhere}step", "must be greater than zero")
    if settings.floor <= 0:
        raise SpecError(f"{jwhere}floor", "must be greater than zero")
    if settings.floor > spec.start_value:
        raise SpecError(f"{jwhere}floor", "must not exceed start_value")
    japanese = JapaneseSpec(
        round_ms=_ms(settings.round_s, f"{jwhere}round_s"),
        step=step,
        step_percent=percent,
        floor=settings.floor,
    )
    return _replace(spec, japanese=japanese)


def _with_dutch(spec: LotSpec, lot: LotIn, where: str) -> LotSpec:
    settings = lot.dutch
    dwhere = f"{where}dutch."
    if settings is None:
        raise SpecError(f"{where}dutch", "the dutch format needs a [dutch] table")
    for name in ("start_price", "limit_price", "step"):
        if getattr(settings, name) <= 0:
            raise SpecError(f"{dwhere}{name}", "must be greater than zero")
    rising = settings.direction == "rising"
    if rising and settings.limit_price <= settings.start_price:
        raise SpecError(f"{dwhere}limit_price", "a rising clock needs limit_price > start_price")
    if not rising and settings.limit_price >= settings.start_price:
        raise SpecError(f"{dwhere}limit_price", "a falling clock needs limit_price < start_price")
    if max(settings.start_price, settings.limit_price) > spec.start_value:
        highest = "limit_price" if rising else "start_price"
        raise SpecError(f"{dwhere}{highest}", "prices must not exceed the lot's start_value")
    dutch = DutchSpec(
        start_price=settings.start_price,
        limit_price=settings.limit_price,
        step=settings.step,
        interval_ms=_ms(settings.interval_s, f"{dwhere}interval_s"),
        direction=settings.direction,
    )
    return _replace(spec, dutch=dutch)


def _replace(spec: LotSpec, **changes: Any) -> LotSpec:
    return replace(spec, **changes)
