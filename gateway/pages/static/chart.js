/* Underbid pages: the chart of a lot's price over time.
 *
 * What it plots is a fold of the events the role received (the projection
 * decides what a role sees; the page adds nothing of its own):
 *
 * - open and rounds: the best standing amount (the ranking's first), starting
 *   at the lot's start from the sealed bids (view.sealed), or from the starting
 *   price when there are none. open: every bid_placed changes the bidder's
 *   standing amount; rounds: only turn_ended does (a post counts when the turn
 *   ends, a cancelled one never). A disqualified bidder's amount leaves the
 *   ranking, so the best may go up. Under non-price scoring the adjusted
 *   amount (the score) is plotted, as the ranking orders by it.
 * - japanese and dutch: the clock's price (clock_round_started,
 *   price_changed), then the price the winner took (lot_ended).
 *
 * A step chart: each value holds until the next; the line reaches "now"
 * while the lot is live. Axes with ticks in the auction's time zone and
 * currency. The points are on the <svg> as data-points ([at, value] pairs) so
 * that a test can check them against the journal.
 */
"use strict";

(function () {
  const NS = "http://www.w3.org/2000/svg";

  /* A score's text ("425000", "1275000/3") as a number, for plotting only. */
  function scoreValue(text) {
    if (typeof text !== "string") return null;
    const [num, den] = text.split("/");
    const value = den ? Number(num) / Number(den) : Number(num);
    return Number.isFinite(value) ? value : null;
  }

  /* What a ranking entry, sealed bid or event counts with: the adjusted amount
   * (score) under non-price scoring, else the amount; null if hidden. */
  function standing(lot, item) {
    if (lot.scoring !== "price") return scoreValue(item.score);
    return typeof item.amount === "number" ? item.amount : null;
  }

  function keyOf(role, item) {
    return role === "official" ? item.bidder || item.label : item.label || item.bidder;
  }

  /* The points [{at, value}] of one lot from the events (in seq order). */
  function series(lot, events, role) {
    const points = [];
    const push = (at, value) => {
      if (typeof value !== "number") return;
      const last = points[points.length - 1];
      if (last && last.value === value) return;
      if (last && last.at === at) points.pop();
      const before = points[points.length - 1];
      if (before && before.value === value) return;
      points.push({ at, value });
    };
    let hidden = false;
    if (lot.format === "japanese" || lot.format === "dutch") {
      for (const event of events) {
        if (event.type === "clock_round_started" || event.type === "price_changed") push(event.at, event.price);
        else if (event.type === "lot_ended" && typeof event.amount === "number") push(event.at, event.amount);
      }
      return { points, hidden, kind: "price" };
    }
    const amounts = new Map();
    const best = () => {
      let low = null;
      for (const value of amounts.values()) if (low === null || value < low) low = value;
      return low === null ? lot.start_value : low;
    };
    const seed = (at) => {
      amounts.clear();
      for (const entry of lot.sealed || []) {
        const value = standing(lot, entry);
        if (value === null) hidden = true;
        else amounts.set(keyOf(role, entry), value);
      }
      push(at, best());
    };
    let seeded = false;
    for (const event of events) {
      if (!seeded && (event.type === "lot_started" || event.type === "bidding_opened")) {
        seed(event.at);
        seeded = true;
        continue;
      }
      if (!seeded) continue;
      const counts = lot.format === "rounds" ? event.type === "turn_ended" : event.type === "bid_placed";
      if (counts) {
        const value = standing(lot, event);
        if (value === null) {
          hidden = true;
          continue;
        }
        amounts.set(keyOf(role, event), value);
        push(event.at, best());
      } else if (event.type === "bidder_disqualified") {
        amounts.delete(keyOf(role, event));
        push(event.at, best());
      }
    }
    if (!seeded && typeof lot.started_at === "number") seed(lot.started_at); // history too old
    return { points, hidden, kind: "best" };
  }

  /* Round numbers for an axis from lo to hi: about `count` ticks. */
  function ticks(lo, hi, count) {
    const span = hi - lo || 1;
    const raw = span / count;
    const magnitude = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
    return out;
  }

  function timeTicks(t0, t1, count) {
    const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200].map((s) => s * 1000);
    const raw = (t1 - t0) / count;
    const step = steps.find((s) => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(t0 / step) * step; v <= t1; v += step) out.push(v);
    return out;
  }

  function node(tag, attrs, text) {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = text;
    return n;
  }

  /* The chart of one lot: an <svg> (or, before the lot starts, a sentence). */
  function priceChart(lot, view, events, { now }) {
    const I = window.UnderbidI18n;
    const t = I.t;
    const role = view.role;
    const { points, hidden, kind } = series(lot, events, role);
    const title = t(kind === "price" ? "chart.price_title" : "chart.best_title");
    const width = window.innerWidth < 640 ? 360 : 640;
    const height = window.innerWidth < 640 ? 240 : 260;
    const pad = { left: 92, right: 12, top: 14, bottom: 44 };
    const svg = node("svg", {
      viewBox: `0 0 ${width} ${height}`,
      class: "chart",
      role: "img",
      "data-points": JSON.stringify(points.map((p) => [p.at, p.value])),
      "data-kind": kind,
    });
    const show = (value) => I.money(Math.round(value), view);
    let label;
    if (!points.length) {
      label = hidden
        ? t("chart.hidden")
        : lot.status === "scheduled" && lot.deadline
          ? t("chart.not_started", { time: I.dateTime(lot.deadline) })
          : t("chart.empty");
    } else {
      label = t("chart.summary", {
        title,
        from: show(points[0].value),
        to: show(points[points.length - 1].value),
        count: points.length - 1,
      });
    }
    svg.setAttribute("aria-label", label);
    svg.append(node("title", {}, label));
    if (!points.length) {
      svg.append(node("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "empty" }, label));
      return svg;
    }
    const t0 = points[0].at;
    const end = lot.status === "ended" && lot.ended_at ? lot.ended_at : Math.max(now, points[points.length - 1].at);
    const t1 = Math.max(end, t0 + 10000);
    const values = points.map((p) => p.value);
    let lo = Math.min(...values);
    let hi = Math.max(...values);
    const margin = Math.max((hi - lo) * 0.08, Math.abs(hi) * 0.005, 1);
    lo -= margin;
    hi += margin;
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    const x = (at) => pad.left + ((at - t0) / (t1 - t0)) * plotW;
    const y = (v) => pad.top + ((hi - v) / (hi - lo)) * plotH;
    const axes = node("g", { class: "axes" });
    axes.append(node("line", { x1: pad.left, y1: pad.top, x2: pad.left, y2: pad.top + plotH }));
    axes.append(node("line", { x1: pad.left, y1: pad.top + plotH, x2: pad.left + plotW, y2: pad.top + plotH }));
    for (const v of ticks(lo, hi, height < 250 ? 4 : 5)) {
      axes.append(node("line", { x1: pad.left - 4, y1: y(v), x2: pad.left + plotW, y2: y(v), class: "grid" }));
      axes.append(node("text", { x: pad.left - 6, y: y(v) + 4, "text-anchor": "end" }, I.shortMoney(Math.round(v), view)));
    }
    for (const at of timeTicks(t0, t1, width < 400 ? 3 : 5)) {
      axes.append(node("line", { x1: x(at), y1: pad.top + plotH, x2: x(at), y2: pad.top + plotH + 4 }));
      axes.append(
        node("text", { x: x(at), y: pad.top + plotH + 16, "text-anchor": "middle" }, I.timeOfDay(at, { zone: false })),
      );
    }
    axes.append(
      node(
        "text",
        { x: pad.left + plotW / 2, y: height - 6, "text-anchor": "middle", class: "axis-title" },
        t("chart.axis_time", { zone: I.zoneName(t0) }),
      ),
    );
    axes.append(
      node(
        "text",
        { x: 4, y: pad.top + plotH / 2, "text-anchor": "middle", "dominant-baseline": "hanging", class: "axis-title", transform: `rotate(-90 4 ${pad.top + plotH / 2})` },
        t(kind === "price" ? "chart.axis_price" : "chart.axis_amount", { currency: view.currency }),
      ),
    );
    svg.append(axes);
    let d = `M ${x(points[0].at).toFixed(1)} ${y(points[0].value).toFixed(1)}`;
    for (const p of points.slice(1)) d += ` H ${x(p.at).toFixed(1)} V ${y(p.value).toFixed(1)}`;
    d += ` H ${x(t1).toFixed(1)}`;
    svg.append(node("path", { d, class: "line" }));
    const last = points[points.length - 1];
    svg.append(node("circle", { cx: x(last.at).toFixed(1), cy: y(last.value).toFixed(1), r: 4, class: "dot" }));
    return svg;
  }

  window.UnderbidChart = { series, priceChart, scoreValue, standing };
})();
