"""Views: what each role may see of an auction. Built here, never by a caller.

- ``official``: everything, identities included.
- ``bidder``: its own rank, raw amount and what it may bid; the others under
  anonymous labels (``Bidder #N``) and only with what the format shows.
- ``public``: the anonymised auction; no identity until the announcement.

Identities are revealed to everyone once a lot has ended (the announcement).
Under ``features`` scoring only adjusted amounts of others are shown; raw
amounts and coefficients stay hidden (ProZorro's rule). Where a format hides
its ranking while the lot runs (``japanese``: who confirmed), bidders and the
public get the ladder in label order without ranks until the lot ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from auction.core.formats.base import ENDED, FormatRules, LotState
from auction.core.money import score_to_str

if TYPE_CHECKING:
    from auction.core.engine import Auction

ROLES = ("official", "bidder", "public")


def auction_view(auction: Auction, role: str, bidder: str | None = None) -> dict[str, Any]:
    """The whole view of ``auction`` for a role (``bidder`` names the viewer)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if role == "bidder" and not bidder:
        raise ValueError("a bidder view needs the bidder id")
    spec = auction.spec
    lots = [
        lot_view(auction.rules[lot.id], auction.lot_states[lot.id], role, bidder)
        for lot in spec.lots
        if role != "bidder" or bidder in auction.rules[lot.id].bidder_ids
    ]
    return {
        "auction": spec.id,
        "title": spec.title,
        "currency": spec.currency,
        "currency_exponent": spec.currency_exponent,
        "time_zone": spec.time_zone,
        "role": role,
        "seq": auction.state.seq,
        "clock": auction.state.clock,
        "paused": auction.paused,
        "paused_at": auction.state.paused_at,
        "cancelled": auction.state.cancelled,
        "finished": auction.finished,
        "next_deadline": auction.next_deadline(),
        "lots": lots,
    }


def lot_view(
    rules: FormatRules[Any], st: LotState, role: str, bidder: str | None
) -> dict[str, Any]:
    lot = rules.lot
    viewer = bidder if role == "bidder" else None
    revealed = role == "official" or st.status == ENDED
    show_prices = rules.prices_visible() or revealed
    features = lot.scoring == "features"
    ranked = revealed or rules.ranking_visible()
    ranking = rules.ranking(st)
    if not ranked:  # label order: the ranking's order would tell what the format hides
        position = {b: i for i, b in enumerate(st.labels)}
        ranking.sort(key=lambda row: position.get(row[0], len(position)))
    ladder: list[dict[str, Any]] = []
    you: dict[str, Any] | None = None
    labels = rules.labels_of(st)
    for rank, (bidder_id, amount, score) in enumerate(ranking, start=1):
        own = bidder_id == viewer
        entry: dict[str, Any] = {
            "rank": rank if ranked and amount is not None else None,
            "label": labels.get(bidder_id, "Bidder"),
        }
        raw_visible = own or revealed or (show_prices and not features)
        entry["amount"] = amount if raw_visible else None
        if lot.scoring != "price":
            entry["score"] = (
                score_to_str(score) if (show_prices or own) and score is not None else None
            )
        if revealed:
            spec = lot.bidder(bidder_id)
            entry["bidder"] = bidder_id
            entry["name"] = spec.name if spec else bidder_id
        if role == "official" and features:
            entry["coefficient"] = score_to_str(rules.scorer.coefficient(bidder_id))
        if own:
            entry["you"] = True
            you = dict(entry)
        ladder.append(entry)
    view: dict[str, Any] = {
        "id": lot.id,
        "title": lot.title,
        "format": lot.format,
        "scoring": lot.scoring,
        "status": st.status,
        "stage": st.stage,
        "deadline": st.deadline,
        "start_value": lot.start_value,
        "bidders": (
            sum(1 for b in st.labels if b not in st.disqualified) if st.labels else len(lot.bidders)
        ),
        "ranked": ranked,
        "ladder": ladder,
        "started_at": st.started_at,
        "ended_at": st.ended_at,
        "sealed": _sealed(rules, st, role, viewer, show_prices),
    }
    if role == "bidder":
        view["you"] = you or {
            "label": rules.label_of(st, viewer or ""),
            "disqualified": viewer in st.disqualified,
        }
        sealed = lot.bidder(viewer or "")
        view["your_sealed"] = sealed.amount if sealed else None
    if role == "official":
        view["disqualified"] = list(st.disqualified)
        view["rejections"] = st.rejections
    if st.status == ENDED:
        view["outcome"] = st.outcome
        view["winner"] = _winner(rules, st)
    view.update(rules.lot_view(st, role, viewer))
    return view


def _sealed(
    rules: FormatRules[Any], st: LotState, role: str, viewer: str | None, show_prices: bool
) -> list[dict[str, Any]]:
    """The sealed bids that stood when the lot started, by label (where the pages'
    charts begin): amounts as the ladder shows them, none before the start."""
    if not st.labels:
        return []
    revealed = role == "official" or st.status == ENDED
    features = rules.lot.scoring == "features"
    out = []
    for b in st.labels:
        spec = rules.lot.bidder(b)
        if spec is None or spec.amount is None:
            continue
        entry: dict[str, Any] = {
            "label": rules.label_of(st, b),
            "amount": spec.amount
            if revealed or b == viewer or (show_prices and not features)
            else None,
        }
        if revealed:
            entry["bidder"] = b
        if rules.lot.scoring != "price" and (show_prices or b == viewer):
            entry["score"] = score_to_str(rules.scorer.adjusted(b, spec.amount))
        out.append(entry)
    return out


def _winner(rules: FormatRules[Any], st: LotState) -> dict[str, Any] | None:
    if st.winner is None:
        return None
    spec = rules.lot.bidder(st.winner)
    score = (
        rules.scorer.adjusted(st.winner, st.winning_amount)
        if st.winning_amount is not None
        else None
    )
    return {
        "bidder": st.winner,
        "name": spec.name if spec else st.winner,
        "label": rules.label_of(st, st.winner),
        "amount": st.winning_amount,
        "score": score_to_str(score) if score is not None else None,
    }
