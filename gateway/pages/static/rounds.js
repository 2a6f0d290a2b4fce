/* Underbid pages: ProZorro's round table for `rounds` lots.
 *
 * Bidders by label (names once they are public) × the sealed bid and the
 * amount each held after its turn in every round, from the view's `table`
 * (the engine decides what each role sees: raw amounts, or only the adjusted
 * ones under `features` scoring). Under it the turn order of the current
 * round (or of the next one, during a pause) with the current turn marked,
 * and for a bidder the time until its own turn.
 *
 * A classic script that defines `UnderbidRounds`.
 */
"use strict";

(function () {
  const I = window.UnderbidI18n;
  const t = I.t;

  function cellText(cell, view) {
    if (!cell) return "";
    if (typeof cell.amount === "number") return I.money(cell.amount, view);
    if (cell.score) return window.Underbid.scoreMoney(cell.score, view);
    return t("amount.hidden");
  }

  /* When the viewer's (label `mine`) turn starts, in ms on the server's clock, or
   * null: the rest of this round's turns (or the pause) before it, one
   * turn_ms each. Officials can pause, which moves it. */
  function yourTurnAt(lot, mine) {
    if (lot.status !== "live" || !mine) return null;
    if (lot.stage === "pause" && lot.next_order) {
      const at = lot.next_order.indexOf(mine);
      return at < 0 ? null : lot.deadline + at * lot.turn_ms;
    }
    if (lot.stage === "turn" && lot.order && lot.turn) {
      const current = lot.order.indexOf(lot.turn);
      const yours = lot.order.indexOf(mine);
      if (yours > current) return lot.deadline + (yours - current - 1) * lot.turn_ms;
    }
    return null;
  }

  /* The turn order as a list, the current turn marked (aria-current). */
  function orderList(order, current, mine, names) {
    const U = window.Underbid;
    return U.el(
      "ol",
      { class: "order", "data-testid": "turn-order" },
      order.map((who, i) =>
        U.el(
          "li",
          { class: [who === current ? "current" : "", who === mine ? "mine" : ""].join(" ").trim() || null, "aria-current": who === current ? "step" : null },
          `${i + 1}. `,
          U.bidderCell({ you: who === mine, label: who, name: names && names[who] }),
        ),
      ),
    );
  }

  function roundTable(lot, view, { mine, names } = {}) {
    const U = window.Underbid;
    const rounds = lot.rounds || 0;
    const rowsData = lot.table || [];
    const columns = [
      t("col.bidder"),
      { class: "num", text: t("table.initial") },
      ...Array.from({ length: rounds }, (_, i) => ({
        class: `num${lot.status === "live" && lot.round === i + 1 ? " current" : ""}`,
        text: t("table.round", { round: i + 1 }),
      })),
    ];
    const rows = rowsData.map((row) => {
      const name = row.name || (names && row.bidder && names[row.bidder]);
      const who = U.bidderCell({ you: row.you, name, label: row.label });
      const turnNow = lot.status === "live" && lot.stage === "turn" && lot.turn === row.label;
      const cells = [];
      for (let i = 0; i <= rounds; i += 1) {
        const current = turnNow && i === lot.round;
        cells.push(
          U.el(
            "td",
            { class: `num${current ? " current" : ""}`, "aria-current": current ? "true" : null },
            current ? t("table.bidding_now") : cellText(row.cells[i], view),
          ),
        );
      }
      return U.el(
        "tr",
        { class: [row.you ? "you" : "", turnNow ? "current" : "", row.disqualified ? "out" : ""].join(" ").trim() || null, "data-label": row.label },
        U.el("th", { scope: "row" }, who, row.disqualified ? ` · ${t("rank.disqualified")}` : ""),
        cells,
      );
    });
    const parts = [
      U.el("h3", { text: t("table.heading") }),
      U.scroller(U.table({ caption: t("table.caption"), columns, rows, empty: t("table.empty"), attrs: { class: "rounds", "data-testid": "round-table" } })),
    ];
    if (lot.status === "live") {
      if (lot.stage === "pause" && lot.next_order) {
        parts.push(U.el("p", { class: "small" }, t("table.next_order", { round: lot.round + 1 })), orderList(lot.next_order, null, mine, names));
      } else if (lot.order && lot.order.length) {
        parts.push(U.el("p", { class: "small" }, t("table.order", { round: lot.round })), orderList(lot.order, lot.stage === "turn" ? lot.turn : null, mine, names));
      }
    }
    return U.el("div", { class: "round-table" }, parts);
  }

  window.UnderbidRounds = { roundTable, yourTurnAt };
})();
