/* The public view: /watch/{auction}. No token (the auction must be public);
 * anonymised while it runs, the result with names once it is announced. */
"use strict";

(function () {
  const U = window.Underbid;
  const { el, money } = U;
  const auctionId = U.auctionIdFromPath("/watch/");
  const state = { view: null, points: [], refreshing: null, again: false, result: null };
  const $ = (id) => document.getElementById(id);

  function setView(view) {
    if (!view) return;
    if (state.view && typeof view.seq === "number" && view.seq < state.view.seq) return;
    state.view = view;
    render();
  }

  async function refresh() {
    if (state.refreshing) {
      state.again = true;
      return;
    }
    state.refreshing = (async () => {
      do {
        state.again = false;
        try {
          setView(await U.api(`/api/auctions/${encodeURIComponent(auctionId)}`));
        } catch (err) {
          /* the banner tells about the line */
        }
      } while (state.again);
    })();
    await state.refreshing;
    state.refreshing = null;
  }

  async function loadResult() {
    if (state.result) return;
    try {
      state.result = await U.api(`/api/auctions/${encodeURIComponent(auctionId)}/result`);
      renderResult();
    } catch (err) {
      /* not announced yet */
    }
  }

  function render() {
    const view = state.view;
    document.title = `${view.title || view.auction} · live`;
    $("title").textContent = view.title || view.auction;
    $("paused").hidden = !view.paused;
    $("ended").hidden = !view.finished;
    if (view.finished) {
      $("ended").textContent = view.cancelled ? "The auction was cancelled." : "The auction has ended.";
      loadResult();
    }
    $("lots").replaceChildren(...view.lots.map((lot) => renderLot(lot, view)));
  }

  function renderLot(lot, view) {
    const live = lot.status === "live";
    const deadline = lot.format === "open" && lot.close_at ? lot.close_at : lot.deadline;
    const best = U.bestAmount(lot);
    const facts = el("dl", { class: "facts" });
    const add = (term, value, testId) =>
      facts.append(el("dt", { text: term }), el("dd", { "data-testid": testId || null }, value));
    add("Stage", U.stageName(lot), "stage");
    add("Time left", U.countdown(live ? deadline : null, view.paused), "countdown");
    if (lot.format === "rounds") add("Whose turn", lot.turn || "—", "turn");
    if (lot.format === "japanese" || lot.format === "dutch") add("Current price", money(lot.price, view), "price");
    add("Starting price", money(lot.start_value, view));
    add("Best offer", money(best, view), "best");
    add("Savings", U.savings(lot.start_value, best, view), "savings");
    add("Bidders", String(lot.bidders));
    const rows = (lot.ladder || []).map((entry) =>
      el(
        "tr",
        {},
        el("td", { text: entry.rank ? `#${entry.rank}` : "—" }),
        el("td", { text: entry.name ? `${entry.name} (${entry.label})` : entry.label }),
        el("td", { class: "num", text: U.shownAmount(entry, view) }),
      ),
    );
    const points = state.points.filter((p) => !p.lot || p.lot === lot.id);
    return el(
      "section",
      { class: "card", "data-lot": lot.id, "aria-label": `Lot ${lot.title || lot.id}` },
      view.lots.length > 1 ? el("h2", { text: `Lot ${lot.title || lot.id}` }) : null,
      el(
        "div",
        { class: "grid two" },
        el("div", {}, facts),
        U.priceChart(points, lot.start_value, view, "Price over time"),
      ),
      el("h3", { text: "Ranking" }),
      el(
        "div",
        { class: "table-wrap" },
        el(
          "table",
          {},
          el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Rank" }), el("th", { scope: "col", text: "Bidder" }), el("th", { scope: "col", class: "num", text: "Amount" }))),
          el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 3, class: "muted", text: "No bids yet." }))),
        ),
      ),
    );
  }

  function renderResult() {
    const r = state.result;
    const body = $("result-body");
    body.replaceChildren();
    for (const lot of r.lots) {
      const w = lot.winner;
      body.append(
        el(
          "div",
          { class: "card", "data-testid": "result" },
          r.lots.length > 1 ? el("h3", { text: `Lot ${lot.title || lot.lot}` }) : null,
          el("p", { class: "big" }, w ? `Winner: ${w.name} at ${money(w.amount, r)}` : `No winner (${String(lot.outcome).replace(/_/g, " ")})`),
          w ? el("p", {}, `Savings: ${money(lot.savings, r)} (${lot.savings_percent} %) against ${money(lot.start_value, r)}`) : null,
          el(
            "table",
            {},
            el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Rank" }), el("th", { scope: "col", text: "Supplier" }), el("th", { scope: "col", class: "num", text: "Amount" }))),
            el(
              "tbody",
              {},
              (lot.ranking || []).map((e) =>
                el("tr", {}, el("td", { text: e.rank ? `#${e.rank}` : "—" }), el("td", { text: `${e.name} (${e.label})` }), el("td", { class: "num", text: typeof e.amount === "number" ? money(e.amount, r) : "no bid" })),
              ),
            ),
          ),
        ),
      );
    }
    $("result").hidden = false;
  }

  const log = $("log");
  const socket = new U.AuctionSocket(auctionId, "", {
    onStatus: (s, detail) =>
      U.connectionBanner($("connection"), s, state.notPublic ? "This auction is not public." : detail),
    onWelcome: (welcome) => setView(welcome.view),
    onResync: (view) => setView(view),
    onEvents: (items) => {
      for (const { seq, event } of items) {
        log.prepend(U.eventLogItem(seq, event, state.view));
        const point = U.pricePoint(event);
        if (point) state.points.push(point);
      }
      refresh();
    },
    onWake: () => refresh(),
    onError: (message, code) => {
      if (code === "token_missing") state.notPublic = true;
    },
  });
  window.underbidPage = { socket, state, refresh };
  if (!auctionId) {
    U.connectionBanner($("connection"), "closed", "No auction in the address.");
  } else {
    socket.connect();
  }
})();
