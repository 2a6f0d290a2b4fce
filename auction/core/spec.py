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
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from auction.core.errors import SpecError
from auction.core.limits import (
    MAX_AMOUNT,
    MAX_BIDDERS_PER_LOT,
    MAX_CLOCK_STEPS,
    MAX_DURATION_MS,
    MAX_EXACT_PART,
    MAX_FEATURE_VALUES,
    MAX_FEATURES,
    MAX_ID_CHARS,
    MAX_LOTS,
    MAX_NAME_CHARS,
    MAX_NUMBER_CHARS,
    MAX_TIME_MS,
    MAX_TITLE_CHARS,
    MAX_TURNS_PER_LOT,
    plain_bound,
    text_problem,
)
from auction.core.money import Amount, ceil_fraction, parse_fraction

Format = Literal["rounds", "open", "japanese", "dutch"]
FORMATS: tuple[str, ...] = ("rounds", "open", "japanese", "dutch")
Scoring = Literal["price", "features", "lifecycle"]

# Input types carry their bounds (auction/core/limits.py), so msgspec refuses
# an absurd value while converting, before any arithmetic, and the HTTP API's
# JSON Schema (generated from these structs) shows them.
_NumberText = Annotated[str, Meta(max_length=MAX_NUMBER_CHARS)]
_MAX_SECONDS = MAX_DURATION_MS // 1000
Number = int | float | _NumberText
"""An exact number: an integer, a decimal float (read from its repr) or its text."""
Seconds = (
    Annotated[int, Meta(ge=0, le=_MAX_SECONDS)]
    | Annotated[float, Meta(ge=0, le=_MAX_SECONDS)]
    | _NumberText
)
"""A duration in seconds, at most 7 days (text is bounded after exact parsing)."""
TimeIn = Annotated[str, Meta(max_length=64)] | Annotated[int, Meta(ge=0, le=MAX_TIME_MS)]
"""ISO-8601 with a zone, or ms since the Unix epoch."""
PositiveAmount = Annotated[int, Meta(ge=1, le=MAX_AMOUNT)]
CostAmount = Annotated[int, Meta(ge=0, le=MAX_AMOUNT)]
Count = Annotated[int, Meta(ge=1, le=100)]
IdIn = Annotated[str, Meta(max_length=MAX_ID_CHARS)]
_AUCTION_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
NameIn = Annotated[str, Meta(max_length=MAX_NAME_CHARS)]
TitleIn = Annotated[str, Meta(max_length=MAX_TITLE_CHARS)]


# ---------------------------------------------------------------- raw input
class _In(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Base of the raw input structs: unknown keys are errors (typos included)."""


class BidderIn(_In):
    id: IdIn
    name: NameIn = ""
    amount: PositiveAmount | None = None
    submitted_at: TimeIn | None = None
    features: Annotated[dict[IdIn, Number], Meta(max_length=MAX_FEATURES)] = {}
    non_price_cost: CostAmount = 0


class FeatureIn(_In):
    code: IdIn
    values: Annotated[list[Number], Meta(max_length=MAX_FEATURE_VALUES)]
    title: TitleIn = ""


class RoundsIn(_In):
    rounds: Count = 3
    first_pause_s: Seconds = 300
    pause_s: Seconds = 120
    turn_s: Seconds = 120


class OpenIn(_In):
    duration_s: Seconds
    decrement: PositiveAmount | None = None
    decrement_percent: Number | None = None
    against: Literal["best", "own"] = "best"
    dynamic_close_s: Seconds = 0
    dynamic_close_cap_s: Seconds | None = None
    quiet_close_s: Seconds | None = None
    phases: Count = 1
    visibility: Literal["prices", "rank"] = "prices"


class JapaneseIn(_In):
    round_s: Seconds = 60
    step: PositiveAmount | None = None
    step_percent: Number | None = None
    floor: PositiveAmount = 1


class DutchIn(_In):
    start_price: PositiveAmount
    limit_price: PositiveAmount
    step: PositiveAmount
    interval_s: Seconds = 10
    direction: Literal["rising", "falling"] = "rising"


class LotIn(_In):
    format: Format
    start_value: PositiveAmount
    bidders: Annotated[list[BidderIn], Meta(max_length=MAX_BIDDERS_PER_LOT)]
    id: IdIn = "1"
    title: TitleIn = ""
    minimal_step: PositiveAmount | None = None
    scoring: Scoring = "price"
    features: Annotated[list[FeatureIn], Meta(max_length=MAX_FEATURES)] = []
    rounds: RoundsIn | None = None
    open: OpenIn | None = None
    japanese: JapaneseIn | None = None
    dutch: DutchIn | None = None


class AuctionIn(_In):
    id: Annotated[str, Meta(pattern=_AUCTION_ID)]
    """1-128 letters, digits and . _ : - (it names journal keys and URLs)."""
    start_at: TimeIn
    title: TitleIn = ""
    currency: Annotated[str, Meta(pattern="^[A-Z]{3}$")] = "UAH"
    currency_exponent: Annotated[int, Meta(ge=0, le=4)] = 2
    time_zone: Annotated[str, Meta(max_length=64)] = ""
    public: bool = True
    closing: Literal["together", "staggered"] = "together"
    stagger_s: Seconds = 0
    lots: Annotated[list[LotIn], Meta(max_length=MAX_LOTS)] = []


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
    by_id: Mapping[str, BidderSpec] = field(init=False, compare=False, repr=False)
    """The bidders by id (built once: views look bidders up for every ladder entry)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {b.id: b for b in self.bidders})

    def bidder(self, bidder_id: str) -> BidderSpec | None:
        return self.by_id.get(bidder_id)


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
    time_zone: str = "UTC"
    """IANA zone the pages show times in (only the syntax is checked here: the
    core reads no time-zone database; the gateway and the CLI check it exists)."""

    def lot(self, lot_id: str) -> LotSpec | None:
        for lot in self.lots:
            if lot.id == lot_id:
                return lot
        return None


# ------------------------------------------------------------------ parsing
_PATH_RE = re.compile(r"`\$(.*?)`")
_ZONE_RE = re.compile(r"UTC|[A-Z][A-Za-z_+-]{1,30}(/[A-Za-z0-9_+-]{1,30}){1,2}")
_KEY_RE = re.compile(r"Object (?:contains unknown|missing required) field `([^`]*)`")


def _field_from_msgspec(msg: str) -> tuple[str, str]:
    """Split msgspec's ``... - at `$.lots[0].x``` into (``lots[0].x``, message)."""
    match = _PATH_RE.search(msg)
    path = match.group(1).lstrip(".") if match else ""
    text = plain_bound(msg.split(" - at ", 1)[0])
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
    epoch, exactly. Times before 1970 or after the year 9999 are refused."""
    if isinstance(value, datetime):
        return _bounded_time(_datetime_ms(value, where), where)
    if isinstance(value, bool):
        raise SpecError(where, "expected a time, got a boolean")
    if isinstance(value, int):
        return _bounded_time(value, where)
    if len(value) > 64:
        raise SpecError(where, "not an ISO-8601 time: too long")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SpecError(where, f"not an ISO-8601 time: {value[:64]!r}") from None
    return _bounded_time(_datetime_ms(moment, where), where)


def _bounded_time(ms: int, where: str) -> int:
    if ms < 0:
        raise SpecError(where, "a time must not be negative (before 1970-01-01T00:00:00Z)")
    if ms > MAX_TIME_MS:
        raise SpecError(where, "a time must not be after 9999-12-31T23:59:59.999Z")
    return ms


def _datetime_ms(moment: datetime, where: str) -> int:
    if moment.tzinfo is None:
        raise SpecError(where, f"the time {moment.isoformat()} has no time zone (add Z or +HH:MM)")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _text(value: str, where: str, *, max_chars: int, is_id: bool = False) -> str:
    """``value`` if it keeps the text policy (auction/core/limits.py), else a SpecError."""
    problem = text_problem(value, max_chars=max_chars, is_id=is_id)
    if problem is not None:
        raise SpecError(where, problem)
    return value


def _ms(value: Number, where: str, *, positive: bool = True) -> int:
    seconds = _fraction(value, where)
    ms = seconds * 1000
    if ms.denominator != 1:
        raise SpecError(where, "durations are whole milliseconds")
    if positive and ms <= 0:
        raise SpecError(where, "must be greater than zero")
    if ms < 0:
        raise SpecError(where, "must not be negative")
    if ms > MAX_DURATION_MS:
        raise SpecError(where, f"at most {MAX_DURATION_MS // 1000} seconds (7 days)")
    return int(ms)


def _fraction(value: Number, where: str) -> Fraction:
    """An exact number whose numerator and denominator stay within 10**18."""
    try:
        exact = parse_fraction(value)
    except (ValueError, OverflowError) as exc:
        raise SpecError(where, str(exc)[:200]) from None
    if abs(exact.numerator) > MAX_EXACT_PART or exact.denominator > MAX_EXACT_PART:
        raise SpecError(where, "too large or too precise (at most 18 digits)")
    return exact


def parse_spec(data: Mapping[str, Any]) -> AuctionSpec:
    """Validate a spec mapping. Raises :class:`SpecError` naming the field."""
    if not isinstance(data, Mapping):
        raise SpecError("", "a spec must be a table/object")
    try:
        raw = _plain(data)
    except RecursionError:
        raise SpecError("", "nested too deeply") from None
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
        if path == "id" and "regex" in text:
            text = "1-128 characters: letters, digits and . _ : - (it names journal keys and URLs)"
        if single and path.startswith("lots[0]"):
            path = path[len("lots[0]") :].lstrip(".")
        raise SpecError(path, text) from None

    def prefix(i: int) -> str:
        return "" if single else f"lots[{i}]."

    if not parsed.lots:
        raise SpecError("lots", "an auction needs at least one lot")
    _text(parsed.title, "title", max_chars=MAX_TITLE_CHARS)
    start_at = parse_time_ms(parsed.start_at, "start_at")
    time_zone = parsed.time_zone or ("Europe/Kyiv" if parsed.currency == "UAH" else "UTC")
    if not _ZONE_RE.fullmatch(time_zone):
        raise SpecError("time_zone", "an IANA time zone such as Europe/Kyiv, or UTC")
    stagger = _ms(parsed.stagger_s, "stagger_s", positive=False)
    seen_lots: set[str] = set()
    lots: list[LotSpec] = []
    for i, lot_in in enumerate(parsed.lots):
        where = prefix(i)
        _text(lot_in.id, f"{where}id", max_chars=MAX_ID_CHARS, is_id=True)
        _text(lot_in.title, f"{where}title", max_chars=MAX_TITLE_CHARS)
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
        time_zone=time_zone,
    )


def _parse_lot(lot: LotIn, where: str, start_at: int) -> LotSpec:
    fmt: Format = lot.format
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
        _text(feat.code, f"{fwhere}.code", max_chars=MAX_ID_CHARS, is_id=True)
        _text(feat.title, f"{fwhere}.title", max_chars=MAX_TITLE_CHARS)
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
        _text(b.id, f"{bwhere}.id", max_chars=MAX_ID_CHARS, is_id=True)
        _text(b.name, f"{bwhere}.name", max_chars=MAX_NAME_CHARS)
        if b.id in ids:
            raise SpecError(f"{bwhere}.id", f"duplicate bidder id {b.id!r}")
        ids.add(b.id)
        if b.amount is not None:
            if b.amount > lot.start_value:
                raise SpecError(f"{bwhere}.amount", "must not exceed the lot's start_value")
        elif fmt == "rounds":
            raise SpecError(f"{bwhere}.amount", "the rounds format needs each bidder's sealed bid")
        if b.amount is not None and fmt in ("japanese", "dutch"):
            raise SpecError(f"{bwhere}.amount", f"the {fmt} format takes no initial bids")
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
    settings = lot.rounds or RoundsIn()
    rwhere = f"{where}rounds."
    if settings.rounds * len(spec.bidders) > MAX_TURNS_PER_LOT:
        raise SpecError(
            f"{rwhere}rounds",
            f"rounds x bidders must be at most {MAX_TURNS_PER_LOT:,} turns "
            f"({settings.rounds} x {len(spec.bidders)})",
        )
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
    if settings.floor > spec.start_value:
        raise SpecError(f"{jwhere}floor", "must not exceed start_value")
    japanese = JapaneseSpec(
        round_ms=_ms(settings.round_s, f"{jwhere}round_s"),
        step=step,
        step_percent=percent,
        floor=settings.floor,
    )
    if _japanese_rounds(spec.start_value, japanese) > MAX_CLOCK_STEPS:
        raise SpecError(
            f"{jwhere}step_percent" if percent is not None else f"{jwhere}step",
            f"the price would take more than {MAX_CLOCK_STEPS:,} rounds to reach the floor",
        )
    return _replace(spec, japanese=japanese)


def _with_dutch(spec: LotSpec, lot: LotIn, where: str) -> LotSpec:
    settings = lot.dutch
    dwhere = f"{where}dutch."
    if settings is None:
        raise SpecError(f"{where}dutch", "the dutch format needs a [dutch] table")
    rising = settings.direction == "rising"
    if rising and settings.limit_price <= settings.start_price:
        raise SpecError(f"{dwhere}limit_price", "a rising clock needs limit_price > start_price")
    if not rising and settings.limit_price >= settings.start_price:
        raise SpecError(f"{dwhere}limit_price", "a falling clock needs limit_price < start_price")
    if max(settings.start_price, settings.limit_price) > spec.start_value:
        highest = "limit_price" if rising else "start_price"
        raise SpecError(f"{dwhere}{highest}", "prices must not exceed the lot's start_value")
    steps = -(-abs(settings.limit_price - settings.start_price) // settings.step)
    if steps > MAX_CLOCK_STEPS:
        raise SpecError(
            f"{dwhere}step",
            f"the clock would take {steps:,} steps from start_price to limit_price "
            f"(at most {MAX_CLOCK_STEPS:,})",
        )
    dutch = DutchSpec(
        start_price=settings.start_price,
        limit_price=settings.limit_price,
        step=settings.step,
        interval_ms=_ms(settings.interval_s, f"{dwhere}interval_s"),
        direction=settings.direction,
    )
    return _replace(spec, dutch=dutch)


def _japanese_rounds(start_value: int, japanese: JapaneseSpec) -> int:
    """How many rounds the price could fall through before it passes the floor."""
    if japanese.step is not None:
        return (start_value - japanese.floor) // japanese.step + 1
    assert japanese.step_percent is not None
    price, rounds = start_value, 1
    while rounds <= MAX_CLOCK_STEPS:
        price -= ceil_fraction(Fraction(price) * japanese.step_percent / 100)
        if price < japanese.floor:
            break
        rounds += 1
    return rounds


def _replace(spec: LotSpec, **changes: Any) -> LotSpec:
    return replace(spec, **changes)
