"""Scoring: how a raw amount becomes the amount that ranks.

- ``price``: the amount itself (an ``int``).
- ``features`` (MEAT, ProZorro): ``coef = 1 + sum(p_i) / (1 - sum(m_j))`` where
  ``p_i`` are the bidder's chosen values and ``m_j`` each feature's maximum;
  ``adjusted = amount / coef``, an exact :class:`~fractions.Fraction`.
- ``lifecycle``: ``adjusted = amount + non_price_cost``.

Lower adjusted amounts rank better. In ``rounds`` the step rule applies to
the raw amount (ProZorro); in ``open`` the decrement applies to the adjusted
amount that ranks (the best adjusted bid, or one's own).
"""

from __future__ import annotations

from fractions import Fraction

from auction.core.money import Amount, Score, floor_fraction
from auction.core.spec import LotSpec


class Scorer:
    """Adjusted amounts for one lot. Built once per lot; pure."""

    __slots__ = ("_adders", "_coefs", "scoring")

    def __init__(self, lot: LotSpec) -> None:
        self.scoring = lot.scoring
        self._coefs: dict[str, Fraction] = {}
        self._adders: dict[str, int] = {}
        if lot.scoring == "features":
            max_sum = sum((max(f.values) for f in lot.features), Fraction(0))
            for b in lot.bidders:
                chosen = sum(b.features.values(), Fraction(0))
                self._coefs[b.id] = 1 + chosen / (1 - max_sum)
        elif lot.scoring == "lifecycle":
            self._adders = {b.id: b.non_price_cost for b in lot.bidders}

    def coefficient(self, bidder: str) -> Fraction:
        """The features coefficient of a bidder (1 for other scorings)."""
        return self._coefs.get(bidder, Fraction(1))

    def adjusted(self, bidder: str, amount: Amount) -> Score:
        """The amount that ranks: exact, never a float."""
        if self.scoring == "price":
            return amount
        if self.scoring == "features":
            result = Fraction(amount) / self._coefs[bidder]
            return result.numerator if result.denominator == 1 else result
        return amount + self._adders[bidder]

    def max_raw_for(self, bidder: str, adjusted_limit: Score) -> Amount:
        """The largest raw amount whose adjusted amount is at most ``adjusted_limit``."""
        if self.scoring == "price":
            return floor_fraction(Fraction(adjusted_limit))
        if self.scoring == "features":
            return floor_fraction(Fraction(adjusted_limit) * self._coefs[bidder])
        return floor_fraction(Fraction(adjusted_limit)) - self._adders[bidder]
