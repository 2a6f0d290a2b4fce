/* The bidder's page: /bid/{auction}#token=... (the token never leaves the browser
 * except in the WebSocket hello and the Authorization header of API calls). */
"use strict";

(function () {
  const U = window.Underbid;
  const { el, fact, money } = U;
  const auctionId = U.auctionIdFromPath("/bid/");
  const token = U.tokenFromFragment();
  const state = { view: null, welcome: null, lots: new Map(), reasons: new Map() };

  const $ = (id) => document.getElementById(id);

  function fail(message) {
    U.connectionBanner($("connection"), "closed", message);
    $("who").textContent = message;
  }

  // --------------------------------------------------------------- view
  // refresh(): fetch the view again (debounced) when events say something changed.
  const { setView, refresh } = U.viewKeeper({ state, auctionId, token: () => token, render });

  function render() {
    const view = state.view;
    U.showTitle($("title"), view, "your bids");
    $("paused").hidden = !view.paused;
    const ended = $("ended");
    ended.hidden = !view.finished;
    if (view.finished) {
      ended.textContent = view.cancelled
        ? "The auction was cancelled."
        : "The auction has ended. The result is below.";
    }
    for (const lot of view.lots) renderLot(lot, view);
    renderDisqualified(view);
  }

  /* Disqualified by an official (from one lot or all): say so, with the reason given. */
  function renderDisqualified(view) {
    const out = view.lots.filter((lot) => (lot.you || {}).disqualified);
    const banner = $("disqualified");
    banner.hidden = !out.length;
    if (!out.length) return;
    const some = view.lots.length > 1 && out.length < view.lots.length;
    const where = some ? ` from lot ${out.map((lot) => lot.title || lot.id).join(", ")}` : "";
    const reasons = [...new Set(out.map((lot) => state.reasons.get(lot.id)).filter(Boolean))];
    banner.textContent =
      `An official disqualified you${where}${reasons.length ? `: ${reasons.join("; ")}` : ""}. ` +
      `You can no longer bid${some ? " there" : ""}.`;
  }

  /* Remember why an official disqualified this bidder (the event names its label). */
  function noteDisqualifications(items) {
    for (const { event } of items) {
      if (event.type !== "bidder_disqualified" || !state.view) continue;
      const lot = state.view.lots.find((l) => l.id === event.lot);
      const label = lot && lot.you ? lot.you.label : state.welcome && state.welcome.label;
      if (label && event.bidder === label) state.reasons.set(event.lot, event.reason || "");
    }
  }

  function lotSection(lot, view) {
    let parts = state.lots.get(lot.id);
    if (parts) return parts;
    const id = lot.id.replace(/[^A-Za-z0-9_-]/g, "_");
    const many = view.lots.length > 1;
    const amountId = `amount-${id}`;
    parts = {
      facts: el("dl", { class: "facts" }),
      ranking: el("div", { class: "table-wrap" }),
      answer: el("p", { class: "answer", role: "status", "aria-live": "polite", "data-testid": "answer" }),
      input: el("input", {
        id: amountId,
        name: "amount",
        inputmode: "decimal",
        autocomplete: "off",
        required: true,
        "aria-describedby": `max-${id}`,
      }),
      maxHint: el("p", { id: `max-${id}`, class: "muted small" }),
      bidButton: el("button", { type: "submit", class: "primary", text: "Place bid" }),
      actions: el("div", { class: "row" }),
      form: null,
    };
    const currencyLabel = view.currency ? ` (${view.currency})` : "";
    parts.form = el(
      "form",
      { class: "stack", "aria-label": "Place a bid" },
      el("label", { for: amountId, text: `Your bid${currencyLabel}` }),
      el("div", { class: "row" }, parts.input, parts.bidButton),
      parts.maxHint,
    );
    parts.form.addEventListener("submit", (event) => {
      event.preventDefault();
      placeBid(lot.id);
    });
    const section = el(
      "section",
      { class: "card", "aria-label": many ? `Lot ${lot.title || lot.id}` : "Your auction", "data-lot": lot.id },
      many ? el("h2", { text: `Lot ${lot.title || lot.id}` }) : null,
      parts.facts,
      parts.form,
      parts.actions,
      parts.answer,
      el("h3", { text: "Ranking" }),
      parts.ranking,
    );
    $("lots").append(section);
    state.lots.set(lot.id, parts);
    return parts;
  }

  function renderLot(lot, view) {
    const parts = lotSection(lot, view);
    const you = lot.you || {};
    const live = lot.status === "live" && !you.disqualified;
    const facts = parts.facts;
    facts.replaceChildren();
    U.stageFacts(facts, lot, view);
    if (lot.format === "rounds") {
      const turn = lot.your_turn ? "Your turn" : lot.turn ? `${lot.turn}'s turn` : "—";
      fact(facts, "Whose turn", turn, "turn");
    }
    U.priceFact(facts, lot, view);
    fact(facts, "You are", you.label || state.welcome?.label || "—", "label");
    const rank = you.disqualified ? "disqualified" : you.rank ? `#${you.rank} of ${lot.bidders}` : "no bid yet";
    fact(facts, "Your rank", rank, "rank");
    fact(facts, "Your amount", money(you.amount, view), "your-amount");
    if ("max_bid" in lot) {
      fact(facts, "Largest bid allowed now", money(lot.max_bid, view), "max-bid");
    }
    if (lot.status === "ended" && lot.winner) {
      const w = lot.winner;
      fact(facts, "Winner", `${w.name} (${w.label}) at ${money(w.amount, view)}`, "winner");
    }

    // The bid form: open (any time) and rounds (in one's turn).
    const bids = lot.format === "open" || lot.format === "rounds";
    parts.form.hidden = !bids;
    parts.bidButton.disabled = !live;
    parts.input.disabled = Boolean(you.disqualified);
    parts.maxHint.textContent =
      typeof lot.max_bid === "number"
        ? `You may bid at most ${money(lot.max_bid, view)} right now.`
        : "";

    // Cancel and accept, for the formats that have them, until the lot ends.
    parts.actions.replaceChildren();
    if (lot.status === "ended") {
      /* nothing left to do: the winner is in the facts */
    } else if (lot.format === "rounds") {
      parts.actions.append(
        el("button", {
          type: "button",
          text: "Cancel this turn's bid",
          disabled: !live || !lot.your_turn,
          onclick: () => command(lot.id, { type: "cancel", lot: lot.id }, "Your bid of this turn was cancelled."),
        }),
      );
    } else if (lot.format === "japanese") {
      parts.actions.append(
        el("button", {
          type: "button",
          class: "primary",
          text: `Accept ${money(lot.price, view)}`,
          disabled: !live || lot.you_confirmed || lot.you_dropped,
          onclick: () => command(lot.id, { type: "accept", lot: lot.id }, "You accepted the price."),
        }),
        el("button", {
          type: "button",
          text: "Leave the auction",
          disabled: !live || lot.you_dropped,
          onclick: async () => {
            if (await U.confirmDialog("Leave the auction? You cannot come back.", "Leave")) {
              command(lot.id, { type: "cancel", lot: lot.id }, "You left the auction.");
            }
          },
        }),
      );
    } else if (lot.format === "dutch") {
      parts.actions.append(
        el("button", {
          type: "button",
          class: "primary",
          text: `Take ${money(lot.price, view)}`,
          disabled: !live,
          onclick: async () => {
            if (await U.confirmDialog(`Take the price ${money(lot.price, view)}? This ends the auction.`, "Take it")) {
              command(lot.id, { type: "accept", lot: lot.id }, "You took the price.");
            }
          },
        }),
      );
    }

    // The ranking: the others under their labels, amounts as the format shows them.
    const rows = (lot.ladder || []).map((entry) =>
      el(
        "tr",
        { class: entry.you ? "you" : null },
        el("td", { text: entry.rank ? `#${entry.rank}` : "—" }),
        el("td", {}, entry.you ? `${entry.label} (you)` : entry.name ? `${entry.name} (${entry.label})` : entry.label),
        el("td", { class: "num", text: U.shownAmount(entry, view) }),
      ),
    );
    parts.ranking.replaceChildren(
      U.table({
        caption: `Starting price ${money(lot.start_value, view)}`,
        columns: ["Rank", "Bidder", { class: "num", text: "Amount" }],
        rows,
        empty: "No bids yet.",
      }),
    );
  }

  // ------------------------------------------------------------ commands
  async function command(lotId, message, okText) {
    const parts = state.lots.get(lotId);
    parts.answer.className = "answer";
    parts.answer.textContent = "Sending…";
    // Always name the lot: a bidder of one lot of several sees only that one.
    const answer = await socket.command({ ...message, lot: lotId });
    show(parts, answer, okText);
    refresh();
    return answer;
  }

  function show(parts, answer, okText) {
    if (answer.type === "ack") {
      parts.answer.className = "answer ok";
      parts.answer.dataset.result = "accepted";
      parts.answer.textContent = `Accepted: ${okText}`;
    } else {
      parts.answer.className = "answer no";
      parts.answer.dataset.result = answer.code;
      parts.answer.textContent = `Not accepted: ${U.reasonWithDetail(answer.code, answer.message)}`;
    }
  }

  async function placeBid(lotId) {
    const parts = state.lots.get(lotId);
    const exponent = state.view.currency_exponent;
    const amount = U.parseAmount(parts.input.value, exponent);
    if (amount === null || amount <= 0) {
      parts.answer.className = "answer no";
      parts.answer.dataset.result = "invalid_amount";
      const example = money(123456 * 10 ** exponent + (exponent ? 78 : 0), state.view);
      parts.answer.textContent = `Not sent: type an amount such as ${example}.`;
      parts.input.focus();
      return;
    }
    parts.bidButton.disabled = true;
    try {
      await command(lotId, { type: "bid", lot: lotId, amount }, `your bid of ${money(amount, state.view)} is recorded.`);
    } finally {
      const lot = state.view.lots.find((l) => l.id === lotId);
      parts.bidButton.disabled = !lot || lot.status !== "live" || Boolean((lot.you || {}).disqualified);
    }
  }

  // -------------------------------------------------------------- wire
  const log = $("log");

  if (!auctionId || !token) {
    fail("This page needs the link the officials sent you (it ends with #token=…).");
    return;
  }

  const socket = new U.AuctionSocket(auctionId, token, {
    onStatus: (s, detail) => U.connectionBanner($("connection"), s, detail),
    onWelcome: (welcome) => {
      state.welcome = welcome;
      $("who").textContent = welcome.label ? `You bid as ${welcome.label}. The others see only this label until the announcement.` : "";
      setView(welcome.view);
    },
    onResync: (view) => setView(view),
    onEvents: (items) => {
      U.logEvents(log, items, state.view);
      noteDisqualifications(items);
      refresh();
    },
    onWake: () => refresh(),
    onError: (message, code) => {
      if (code && code.startsWith("token_")) fail(U.reason(code, "This link is not valid. Ask the officials for a new one."));
    },
  });
  window.underbidPage = { socket, state, refresh };
  socket.connect();
})();
