"""Text rendering of a running auction: the live ladder for terminals.

The ladder shown while an auction runs is the public, anonymised view (what
anyone may watch); names appear once a lot has ended.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, TextIO

from auction.core.commands import AnyCommand
from auction.core.engine import Auction, Outcome
from auction.core.events import (
    AuctionCancelled,
    AuctionPaused,
    AuctionResumed,
    BidCancelled,
    BidderDisqualified,
    BidderDropped,
    BiddingOpened,
    BidPlaced,
    ClockRoundStarted,
    CloseExtended,
    CommandRejected,
    DeadlineExtended,
    Event,
    LotEnded,
    LotStarted,
    PauseStarted,
    PhaseStarted,
    PriceAccepted,
    PriceChanged,
    RoundStarted,
    TurnEnded,
    TurnStarted,
)
from auction.core.money import format_amount
from auction.core.views import auction_view


class LadderPrinter:
    """Prints one line per event and the ladder after each change of ranking."""

    def __init__(self, auction: Auction, out: TextIO, *, verbose: bool = False) -> None:
        self.auction = auction
        self.out = out
        self.verbose = verbose
        self.start = auction.spec.start_at
        self.multi = len(auction.spec.lots) > 1

    def money(self, value: int | None) -> str:
        if value is None:
            return "-"
        spec = self.auction.spec
        return format_amount(value, spec.currency, spec.currency_exponent)

    def score(self, text: str) -> str:
        """A score (exact text) shown as money, rounded to the minor unit."""
        spec = self.auction.spec
        return format_amount(Fraction(text), spec.currency, spec.currency_exponent)

    def clock(self, ms: int) -> str:
        sign = "-" if ms < self.start else "+"  # a scripted action before the start
        offset = abs(ms - self.start) // 1000
        hours, rest = divmod(offset, 3600)
        return f"{sign}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"

    def label(self, lot: str, bidder: str) -> str:
        rules = self.auction.rules.get(lot)
        if rules is None:
            return bidder
        return rules.label_of(self.auction.lot_states[lot], bidder)

    def public_amount(self, lot: str, bidder: str, amount: int) -> str:
        """An amount as the public view shows it: only the score under ``features``
        scoring (raw amounts stay hidden), nothing when only ranks are shown."""
        rules = self.auction.rules[lot]
        if not rules.prices_visible():
            return "(amount hidden)"
        if rules.lot.scoring == "features":
            spec = self.auction.spec
            score = rules.scorer.adjusted(bidder, amount)
            return "scored " + format_amount(score, spec.currency, spec.currency_exponent)
        return self.money(amount)

    def __call__(
        self, now: int, events: list[Event], outcome: Outcome | None, command: AnyCommand | None
    ) -> None:
        ladder_changed = False
        for ev in events:
            line = self.describe(ev)
            if line:
                where = f"[lot {ev.lot}] " if self.multi and ev.lot else ""
                self.out.write(f"{self.clock(ev.at)} {where}{line}\n")
            if isinstance(
                ev, TurnEnded | PriceAccepted | BidderDropped | LotEnded | LotStarted
            ) or (isinstance(ev, BidPlaced) and self.auction.rules[ev.lot].lot.format != "rounds"):
                ladder_changed = True
        if ladder_changed:
            self.print_ladder()
        self.out.flush()

    def describe(self, ev: Event) -> str:
        lab = self.label
        if isinstance(ev, LotStarted):
            return f"lot starts with {len(ev.labels)} bidders"
        if isinstance(ev, PauseStarted):
            return f"pause before round {ev.before_round} until {self.clock(ev.deadline)}"
        if isinstance(ev, RoundStarted):
            order = ", ".join(lab(ev.lot, b) for b in ev.order)
            return f"round {ev.round} begins; turn order: {order}"
        if isinstance(ev, TurnStarted):
            return f"turn of {lab(ev.lot, ev.bidder)} until {self.clock(ev.deadline)}"
        if isinstance(ev, BidPlaced):
            fmt = self.auction.rules[ev.lot].lot.format
            by = f" (surrogate by {ev.surrogate_by})" if ev.surrogate_by else ""
            if fmt == "rounds":
                return f"{lab(ev.lot, ev.bidder)} posts a bid, hidden until the turn ends{by}"
            shown = self.public_amount(ev.lot, ev.bidder, ev.amount)
            return f"{lab(ev.lot, ev.bidder)} bids {shown}{by}"
        if isinstance(ev, BidCancelled):
            return f"{lab(ev.lot, ev.bidder)} cancels this turn's bid"
        if isinstance(ev, TurnEnded):
            change = self.public_amount(ev.lot, ev.bidder, ev.amount) if ev.changed else "no change"
            return f"turn of {lab(ev.lot, ev.bidder)} ends: {change}"
        if isinstance(ev, BiddingOpened):
            return f"bidding opens; closes at {self.clock(ev.close_at)}"
        if isinstance(ev, PhaseStarted):
            return f"phase {ev.phase} begins"
        if isinstance(ev, CloseExtended):
            return f"late bid: the close moves to {self.clock(ev.close_at)}"
        if isinstance(ev, ClockRoundStarted):
            return f"round {ev.round}: price {self.money(ev.price)} until {self.clock(ev.deadline)}"
        if isinstance(ev, PriceChanged):
            return f"clock price {self.money(ev.price)}" if self.verbose or ev.step == 0 else ""
        if isinstance(ev, PriceAccepted):
            if self.auction.rules[ev.lot].lot.format == "japanese":
                # The public sees how many confirmed, never who (docs/formats.md).
                return f"a bidder confirms {self.money(ev.price)}"
            return f"{lab(ev.lot, ev.bidder)} accepts {self.money(ev.price)}"
        if isinstance(ev, BidderDropped):
            why = "withdrew" if ev.reason == "withdrew" else "did not confirm"
            return f"a bidder drops out ({why})"
        if isinstance(ev, CommandRejected):
            by_bidder = ev.command in ("place_bid", "cancel_bid", "accept_price")
            who = lab(ev.lot, ev.actor) if ev.lot and by_bidder else ev.actor
            amount = f" {self.money(ev.amount)}" if ev.amount is not None else ""
            return f"REJECTED {ev.command}{amount} from {who}: {ev.code} ({ev.message})"
        if isinstance(ev, AuctionPaused):
            return f"PAUSED by {ev.official}" + (f": {ev.reason}" if ev.reason else "")
        if isinstance(ev, AuctionResumed):
            return f"RESUMED by {ev.official}; deadlines move {ev.shift // 1000} s later"
        if isinstance(ev, DeadlineExtended):
            return f"EXTENDED by {ev.official}: +{ev.ms // 1000} s"
        if isinstance(ev, BidderDisqualified):
            why = f": {ev.reason}" if ev.reason else ""
            return f"{lab(ev.lot, ev.bidder)} DISQUALIFIED by {ev.official}{why}"
        if isinstance(ev, AuctionCancelled):
            return f"CANCELLED by {ev.official}" + (f": {ev.reason}" if ev.reason else "")
        if isinstance(ev, LotEnded):
            return self.ended(ev)
        return ""

    def ended(self, ev: LotEnded) -> str:
        if ev.outcome == "completed" and ev.winner is not None:
            spec = self.auction.spec.lot(ev.lot)
            bidder = spec.bidder(ev.winner) if spec else None
            name = bidder.name if bidder else ev.winner
            return f"ANNOUNCEMENT: {name} wins at {self.money(ev.amount)}"
        if ev.outcome == "insufficient_bidders":
            standing = f"; the sole bid of {self.money(ev.amount)} stands" if ev.amount else ""
            return f"fewer than two bidders: no live auction{standing}"
        return f"lot ends: {ev.outcome.replace('_', ' ')}"

    def print_ladder(self) -> None:
        view = auction_view(self.auction, "public")
        for lot in view["lots"]:
            prefix = f"lot {lot['id']} " if self.multi else ""
            rows = [entry for entry in lot["ladder"] if entry["rank"] is not None]
            if rows:
                cells = " | ".join(self._cell(entry) for entry in rows)
            elif lot["format"] == "japanese" and lot["status"] == "live":
                # No ranking while it runs: its order would say who confirmed.
                cells = (
                    f"{lot['in']} of {lot['bidders']} bidders still in; {lot['confirmed']} "
                    f"confirmed {self.money(lot['price'])} (who stays hidden)"
                )
            else:
                continue
            self.out.write(f"           {prefix}ladder: {cells}\n")

    def _cell(self, entry: dict[str, Any]) -> str:
        name = entry.get("name") or entry["label"]
        score = entry.get("score")
        if entry.get("amount") is not None:
            shown = self.money(entry["amount"])
            if score is not None:
                shown += f" (scored {self.score(score)})"
        elif score is not None:
            shown = f"scored {self.score(score)}"
        else:
            shown = "hidden"
        return f"{entry['rank']}. {name} {shown}"


def print_result(res: dict[str, Any], out: TextIO) -> None:
    """The result (:func:`auction.core.record.result`) as a short text table."""
    cur, exp = res["currency"], res["currency_exponent"]

    def money(value: int | None) -> str:
        return "-" if value is None else format_amount(value, cur, exp)

    out.write("\nRESULT\n")
    for lot in res["lots"]:
        out.write(f"lot {lot['lot']} ({lot['format']}): {lot['outcome'] or lot['status']}\n")
        winner = lot["winner"]
        if winner:
            out.write(
                f"  winner: {winner['name']} ({winner['label']}) at {money(winner['amount'])}"
                f"; savings {money(lot['savings'])} ({lot['savings_percent']} %)\n"
            )
        for row in lot["ranking"]:
            if row["amount"] is None:
                continue
            score = ""
            if row["score"] not in (None, str(row["amount"])):
                score = f"  scored {format_amount(Fraction(row['score']), cur, exp)}"
            out.write(f"  {row['rank']:>2}. {row['name']:<28} {money(row['amount']):>20}{score}\n")
