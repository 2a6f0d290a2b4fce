/* The public view: /watch/{auction}. No token (the auction must be public);
 * anonymised while it runs, the result with names once it is announced. */
"use strict";

(function () {
  const U = window.Underbid;
  const { el, fact, money } = U;
  const auctionId = U.auctionIdFromPath("/watch/");
  const state = { view: null, points: [], result: null };
  const $ = (id) => document.getElementById(id);
  const { setView, refresh } = U.viewKeeper({ state, auctionId, render });

  async function loadResult() {
    if (state.result) return;
    try {
      state.result = await U.auctionApi(auctionId, "/result");
      renderResult();
    } catch (err) {
      /* not announced yet */
    }
  }

  function render() {
    const view = state.view;
    U.showTitle($("title"), view, "live");
    $("paused").hidden = !view.paused;
    $("ended").hidden = !view.finished;
    if (view.finished) {
      $("ended").textContent = view.cancelled ? "The auction was cancelled." : "The auction has ended.";
      loadResult();
    }
    $("lots").replaceChildren(...view.lots.map((lot) => renderLot(lot, view)));
  }

  function renderLot(lot, view) {
    const facts = el("dl", { class: "facts" });
    U.stageFacts(facts, lot, view);
    if (lot.format === "rounds") fact(facts, "Whose turn", lot.turn || "—", "turn");
    U.priceFact(facts, lot, view);
    U.offerFacts(facts, lot, view);
    fact(facts, "Bidders", String(lot.bidders), "bidders");
    const rows = (lot.ladder || []).map((entry) =>
      el(
        "tr",
        {},
        el("td", { text: entry.rank ? `#${entry.rank}` : "—" }),
        el("td", { text: entry.name ? `${entry.name} (${entry.label})` : entry.label }),
        el("td", { class: "num", text: U.shownAmount(entry, view) }),
      ),
    );
    return U.lotCard(lot, view, {
      heading: view.lots.length > 1 ? el("h2", { text: `Lot ${lot.title || lot.id}` }) : null,
      facts,
      points: state.points,
      ranking: U.table({
        columns: ["Rank", "Bidder", { class: "num", text: "Amount" }],
        rows,
        empty: "No bids yet.",
      }),
    });
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
          U.table({
            columns: ["Rank", "Supplier", { class: "num", text: "Amount" }],
            rows: (lot.ranking || []).map((e) =>
              el("tr", {}, el("td", { text: e.rank ? `#${e.rank}` : "—" }), el("td", { text: `${e.name} (${e.label})` }), el("td", { class: "num", text: typeof e.amount === "number" ? money(e.amount, r) : "no bid" })),
            ),
          }),
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
      U.logEvents(log, items, state.view, { points: state.points });
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
