"""Load profiles: how many auctions of each format a load test plans, and their day.

A profile is a TOML (or JSON) document; docs/loadtesting.md has the
reference and ``client/load/profiles/`` the bundled ones, which either tool
takes by name (``prozorro-day``, ``formats``) or any file by path::

    name = "my-day"
    compression = 60             # time runs 60 times faster than the real day
    seed = 1                     # the same seed plans the same day, bid for bid

    [day]                        # ProZorro's day: 30-minute slots from 11:00 to 15:30
    first_slot = "11:00"
    last_slot = "15:30"

    [bidders]                    # per auction: 2 to 24, about 2.4 on average
    min = 2
    max = 24
    mean = 2.4

    [watchers]                   # public watchers per auction, peaking at its close
    peak = 10

    [[auctions]]
    format = "rounds"
    count = 80
    [auctions.rounds]            # real seconds, compressed at run time
    turn_s = 120

Durations are real (uncompressed) seconds. Every key is checked, unknown keys
are errors, and errors name the key (``auctions[1].open.duration_s``).

Errors::

    UnderbidError
    └── ProfileError    the profile cannot be read or planned (``field`` names the key)
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from auction.core.errors import UnderbidError

LOT_FORMATS = ("rounds", "open", "japanese", "dutch")
KINDS = (*LOT_FORMATS, "multilot")
MAX_AUCTIONS = 5000
"""Auctions one plan may hold (all kinds, after ``scale``)."""
MAX_BIDDERS = 500
"""Bidders one lot may have in a load test (each is a connection)."""
MAX_WATCHERS = 50_000
"""Peak public watchers of one auction."""
MAX_TEXT_BYTES = 1_000_000
"""Largest profile document read."""

_Seconds = Annotated[float, Meta(ge=0, le=86_400)]
_Positive = Annotated[float, Meta(gt=0, le=86_400)]
_Share = Annotated[float, Meta(ge=0, le=1)]
_Percent = Annotated[float, Meta(gt=0, lt=100)]


class ProfileError(UnderbidError):
    """A profile that cannot be read or planned; ``field`` names the key (may be empty)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"profile: {field}: {message}" if field else f"profile: {message}")
        self.field = field
        self.message = message


class _In(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Base of the profile's tables: unknown keys are errors (typos included)."""


class Bidders(_In, frozen=True):
    """How many bidders each lot has: a truncated power law on ``min..max``
    whose mean is ``mean`` (ProZorro: most auctions have 2 or 3, a few many)."""

    min: Annotated[int, Meta(ge=2, le=MAX_BIDDERS)] = 2
    max: Annotated[int, Meta(ge=2, le=MAX_BIDDERS)] = 24
    mean: Annotated[float, Meta(ge=2, le=MAX_BIDDERS)] = 2.4


class Watchers(_In, frozen=True):
    """Public watchers of one auction: ``base`` of ``peak`` from its start, the
    rest arriving over the last ``ramp`` of its length; all stay ``linger_s``."""

    peak: Annotated[int, Meta(ge=0, le=MAX_WATCHERS)] = 10
    base: _Share = 0.2
    ramp: _Share = 0.3


class Day(_In, frozen=True):
    first_slot: str = "11:00"
    """The first slot's start, Kyiv time (ProZorro's chronograph: WORKING_DAY_START)."""
    last_slot: str = "15:30"
    """The last slot's start (a slot must end by 16:00, WORKING_DAY_END)."""
    slot_minutes: Annotated[int, Meta(ge=1, le=1440)] = 30
    jitter: bool = True
    """Start anywhere in the slot (the chronograph adds 0 to 1,799 s), or at its start."""
    lead_s: _Seconds = 120.0
    """Bidders connect this long before their auction starts."""
    linger_s: _Seconds = 60.0
    """Bidders and watchers stay this long after their auction ended."""


class Rounds(_In, frozen=True):
    rounds: Annotated[int, Meta(ge=1, le=10)] = 3
    first_pause_s: _Seconds = 300.0
    pause_s: _Seconds = 120.0
    turn_s: _Positive = 120.0


class Open(_In, frozen=True):
    duration_s: _Positive = 1200.0
    dynamic_close_s: _Seconds = 120.0
    dynamic_close_cap_s: _Seconds | None = 600.0
    against: Literal["best", "own"] = "best"


class Japanese(_In, frozen=True):
    round_s: _Positive = 60.0
    step_percent: _Percent = 1.0
    floor_percent: _Percent = 50.0


class Dutch(_In, frozen=True):
    interval_s: _Positive = 10.0
    start_percent: _Percent = 50.0
    """The clock starts at this share of the start value and rises to it."""
    step_percent: _Percent = 1.0


class Kind(_In, frozen=True):
    """One ``[[auctions]]`` entry: ``count`` auctions alike."""

    format: Literal["rounds", "open", "japanese", "dutch", "multilot"]
    count: Annotated[int, Meta(ge=0, le=MAX_AUCTIONS)]
    bidders: Bidders | Annotated[int, Meta(ge=2, le=MAX_BIDDERS)] | None = None
    watchers: Watchers | None = None
    slots: list[str] | None = None
    """Only these slot starts (``"11:00"``); default: every slot of the day."""
    lots: list[Literal["rounds", "open", "japanese", "dutch"]] = []
    """``multilot``: the format of each lot (2 to 10 lots)."""
    closing: Literal["together", "staggered"] = "staggered"
    stagger_s: _Seconds = 300.0
    rounds: Rounds | None = None
    open: Open | None = None
    japanese: Japanese | None = None
    dutch: Dutch | None = None


class _ProfileIn(_In, kw_only=True, frozen=True):
    name: Annotated[str, Meta(max_length=100)] = ""
    compression: Annotated[float, Meta(gt=0, le=100_000)] = 60.0
    seed: Annotated[int, Meta(ge=0, le=2**63 - 1)] = 1
    day: Day = Day()
    bidders: Bidders = Bidders()
    watchers: Watchers = Watchers()
    rounds: Rounds = Rounds()
    open: Open = Open()
    japanese: Japanese = Japanese()
    dutch: Dutch = Dutch()
    auctions: Annotated[list[Kind], Meta(min_length=1, max_length=100)]


@dataclass(frozen=True)
class KindPlan:
    """A kind with every default resolved (the profile's tables under the kind's own)."""

    format: str
    count: int
    bidders: Bidders
    watchers: Watchers
    slots: tuple[int, ...]
    """Slot starts, minutes after midnight."""
    lots: tuple[str, ...]
    """The lots' formats (one entry unless ``multilot``)."""
    closing: str
    stagger_s: float
    rounds: Rounds
    open: Open
    japanese: Japanese
    dutch: Dutch
    where: str
    """``auctions[i]``: where errors point."""


@dataclass(frozen=True)
class Profile:
    name: str
    compression: float
    seed: int
    day: Day
    kinds: tuple[KindPlan, ...]
    text: str
    """The document it was read from (Locust's master sends it to its workers)."""

    @property
    def slots(self) -> tuple[int, ...]:
        """Every slot start of the day, minutes after midnight."""
        return day_slots(self.day)


def clock_minutes(text: str, where: str) -> int:
    """``"11:00"`` -> 660 (minutes after midnight)."""
    try:
        moment = dt.time.fromisoformat(text)
    except ValueError:
        raise ProfileError(where, f"not a time of day (HH:MM): {text[:20]!r}") from None
    if moment.second or moment.microsecond:
        raise ProfileError(where, "slots start on whole minutes")
    return moment.hour * 60 + moment.minute


def day_slots(day: Day) -> tuple[int, ...]:
    first = clock_minutes(day.first_slot, "day.first_slot")
    last = clock_minutes(day.last_slot, "day.last_slot")
    if last < first:
        raise ProfileError("day.last_slot", "must not be before day.first_slot")
    return tuple(range(first, last + 1, day.slot_minutes))


def _times_to_text(value: Any) -> Any:
    """TOML's unquoted times (``first_slot = 11:00:00``) as ``"11:00"``."""
    if isinstance(value, dt.time):
        return value.strftime("%H:%M") if not value.second else value.isoformat()
    if isinstance(value, dict):
        return {k: _times_to_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_times_to_text(v) for v in value]
    return value


def _path(message: str) -> tuple[str, str]:
    """msgspec's ``... - at `$.auctions[0].count``` -> (``auctions[0].count``, message)."""
    text, sep, where = message.rpartition(" - at `$")
    if not sep:
        return "", message
    return where.rstrip("`").lstrip("."), text


def parse_profile(text: str, source: str = "profile") -> Profile:
    """Read and check a profile from its TOML or JSON text."""
    if len(text.encode()) > MAX_TEXT_BYTES:
        raise ProfileError("", f"{source}: larger than {MAX_TEXT_BYTES:,} bytes")
    try:
        data: Any = json.loads(text) if text.lstrip().startswith("{") else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError("", f"{source}: not TOML or JSON: {exc}") from None
    try:
        raw = msgspec.convert(_times_to_text(data), _ProfileIn, strict=True)
    except msgspec.ValidationError as exc:
        where, why = _path(str(exc))
        raise ProfileError(where, why) from None
    slots = day_slots(raw.day)
    kinds = []
    total = 0
    for i, kind in enumerate(raw.auctions):
        where = f"auctions[{i}]"
        bidders = raw.bidders if kind.bidders is None else kind.bidders
        if isinstance(bidders, int):
            bidders = Bidders(min=bidders, max=bidders, mean=bidders)
        _check_bidders(bidders, f"{where}.bidders" if kind.bidders is not None else "bidders")
        if kind.slots is None:
            own = slots
        else:
            own = tuple(clock_minutes(s, f"{where}.slots") for s in kind.slots)
            if not own:
                raise ProfileError(f"{where}.slots", "name at least one slot, or leave it out")
        if kind.format == "multilot":
            if not 2 <= len(kind.lots) <= 10:
                raise ProfileError(f"{where}.lots", "a multilot event has 2 to 10 lots")
            lots = tuple(kind.lots)
        elif kind.lots:
            raise ProfileError(f"{where}.lots", "only a multilot kind has lots")
        else:
            lots = (kind.format,)
        total += kind.count
        kinds.append(
            KindPlan(
                format=kind.format,
                count=kind.count,
                bidders=bidders,
                watchers=raw.watchers if kind.watchers is None else kind.watchers,
                slots=own,
                lots=lots,
                closing=kind.closing,
                stagger_s=kind.stagger_s,
                rounds=kind.rounds or raw.rounds,
                open=kind.open or raw.open,
                japanese=kind.japanese or raw.japanese,
                dutch=kind.dutch or raw.dutch,
                where=where,
            )
        )
    _check_bidders(raw.bidders, "bidders")
    if total == 0:
        raise ProfileError("auctions", "plan at least one auction (every count is 0)")
    if total > MAX_AUCTIONS:
        raise ProfileError("auctions", f"{total:,} auctions: at most {MAX_AUCTIONS:,}")
    return Profile(raw.name or source, raw.compression, raw.seed, raw.day, tuple(kinds), text)


def _check_bidders(b: Bidders, where: str) -> None:
    if b.min > b.max:
        raise ProfileError(f"{where}.min", f"{b.min} is above max {b.max}")
    if not b.min <= b.mean <= b.max:
        raise ProfileError(f"{where}.mean", f"{b.mean:g} is not between min and max")
    if b.mean > (b.min + b.max) / 2:
        raise ProfileError(
            f"{where}.mean",
            f"{b.mean:g} is above the middle of {b.min}..{b.max}: the counts follow a power "
            "law that falls with the count (few auctions have many bidders)",
        )


def bundled() -> list[str]:
    """Names of the profiles that come with Underbid."""
    folder = resources.files("client.load") / "profiles"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def load_profile(name_or_path: str) -> Profile:
    """A bundled profile by name (``prozorro-day``) or a profile file by path."""
    path = Path(name_or_path)
    if path.suffix or path.exists() or "/" in name_or_path:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ProfileError("", f"{name_or_path}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ProfileError("", f"{name_or_path}: cannot read: {exc}") from None
        return parse_profile(text, str(path))
    if name_or_path not in bundled():
        raise ProfileError(
            "", f"no bundled profile {name_or_path!r}: {', '.join(bundled())}, or a file path"
        )
    resource = resources.files("client.load") / "profiles" / f"{name_or_path}.toml"
    return parse_profile(resource.read_text(encoding="utf-8"), name_or_path)


__all__ = [
    "KINDS",
    "LOT_FORMATS",
    "Bidders",
    "Day",
    "Dutch",
    "Japanese",
    "KindPlan",
    "Open",
    "Profile",
    "ProfileError",
    "Rounds",
    "Watchers",
    "bundled",
    "day_slots",
    "load_profile",
    "parse_profile",
]
