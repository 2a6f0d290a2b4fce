/* The public view: /watch/{auction}. No token (the auction must be public);
 * anonymised while it runs, the result with names once it is announced. */
"use strict";

(function () {
  const U = window.Underbid;
  const { el, fact, money, t } = U;
  const auctionId = U.auctionIdFromPath("/watch/");
  const state = { view: null, items: [], result: null, closed: "" };
  const $ = (id) => document.getElementById(id);
  const { setView, refresh } = U.viewKeeper({ state, auctionId, render });

  async function loadResult() {
    if (state.result) return;
    try {
      state.result = await U.auctionApi(auctionId, "/result");
      render();
    } catch (err) {
      /* not announced yet */
    }
  }

  function events() {
    return state.items.map((i) => i.event);
  }

  function render() {
    const view = state.view;
    if (!view) return;
    U.showTitle($("title"), view, "title.public");
    $("zone").textContent = t("zone.times", { zone: U.i18n.zoneLabel() });
    const lot = view.lots.find((l) => l.status !== "ended") || view.lots[0];
    U.banner("paused", view.paused ? pausedText() : "");
    U.banner("ended", view.finished ? t(view.cancelled ? "banner.cancelled" : "banner.ended_public") : "");
    if (view.finished) loadResult();
    void lot;
    $("intro").textContent = t(view.finished ? "public.intro_after" : "public.intro");
    $("lots").replaceChildren(...view.lots.map((l) => renderLot(l, view)));
    if (state.result) renderResult();
    U.renderLog($("log"), state.items, view, {});
  }

  function pausedText() {
    const reason = U.pauseReason(state.items);
    return reason ? t("banner.paused_reason", { reason }) : t("banner.paused");
  }

  function renderLot(lot, view) {
    const facts = el("dl", { class: "facts" });
    U.stageFacts(facts, lot, view);
    if (lot.format === "rounds" && lot.status === "live") fact(facts, t("fact.turn"), lot.turn ? U.label(lot.turn) : "—", "turn");
    U.priceFact(facts, lot, view);
    U.offerFacts(facts, lot, view);
    fact(facts, t("fact.bidders"), U.i18n.integer(lot.bidders), "bidders");
    const rows = (lot.ladder || []).map((entry) =>
      el(
        "tr",
        {},
        el("td", { text: entry.rank ? `#${entry.rank}` : "—" }),
        el("td", { text: U.bidderCell(entry) }),
        el("td", { class: "num", text: U.shownAmount(entry, view) }),
      ),
    );
    return U.lotCard(lot, view, {
      heading: view.lots.length > 1 ? el("h2", { text: t("lot.named", { lot: lot.title || lot.id }) }) : null,
      facts,
      events: events(),
      ranking: U.table({
        columns: [t("col.rank"), t("col.bidder"), { class: "num", text: t("col.amount") }],
        rows,
        empty: t("ranking.empty"),
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
          r.lots.length > 1 ? el("h3", { text: t("lot.named", { lot: lot.title || lot.lot }) }) : null,
          el("p", { class: "big" }, w ? t("result.winner", { name: w.name, amount: money(w.amount, r) }) : t("result.none", { outcome: U.outcomeName(lot.outcome) })),
          w ? el("p", {}, t("result.savings", { savings: U.savings(lot.start_value, w.amount, r), start: money(lot.start_value, r) })) : null,
          U.scroller(
            U.table({
              columns: [t("col.rank"), t("col.supplier"), { class: "num", text: t("col.amount") }],
              rows: (lot.ranking || []).map((e) =>
                el("tr", {}, el("td", { text: e.rank ? `#${e.rank}` : "—" }), el("td", { text: `${e.name} (${U.label(e.label)})` }), el("td", { class: "num", text: typeof e.amount === "number" ? money(e.amount, r) : t("amount.none") })),
              ),
            }),
          ),
        ),
      );
    }
    $("result").hidden = false;
  }

  U.whenReady(() => {
    U.i18n.onChange(render);
    window.addEventListener("resize", () => render());
    if (!auctionId) {
      U.connectionStatus("closed", "close.no_auction_in_address");
      return;
    }
    const socket = new U.AuctionSocket(auctionId, "", {
      onStatus: (s, detail) => {
        if (s === "closed") state.closed = detail || "closed";
        U.connectionStatus(s, state.refusal || detail);
      },
      onWelcome: (welcome) => setView(welcome.view),
      onResync: (view) => setView(view),
      onEvents: (items) => {
        state.items.push(...items);
        if (state.items.length > 20000) state.items.splice(0, state.items.length - 20000);
        render();
        refresh();
      },
      onWake: () => refresh(),
      onError: (message, code) => {
        // A private auction and one that does not exist are refused alike, on
        // purpose (docs/api.md): the page cannot tell them apart, and says so.
        if (code === "token_missing") state.refusal = "public.not_found";
      },
    });
    window.underbidPage = { socket, state, refresh };
    socket.connect();
  });
})();
