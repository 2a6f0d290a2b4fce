/* The bidder's page: /bid/{auction}#token=... (the token never leaves the browser
 * except in the WebSocket hello and the Authorization header of API calls).
 *
 * It follows its own bidder: its amount (and, in `rounds`, what it posted in
 * this turn), rank and history from the stream; an answer belongs to the turn
 * (or pause) it was given in and goes with it; the bid controls are enabled
 * exactly when the engine would take a command from this bidder, and say why
 * not; the amount typed is shown back as understood, and a cut of 30 % or
 * more, or a tie, asks for confirmation. */
"use strict";

(function () {
  const U = window.Underbid;
  const { el, fact, money, t } = U;
  const I = U.i18n;
  const auctionId = U.auctionIdFromPath("/bid/");
  const token = U.tokenFromFragment();
  const SOUND_KEY = "underbid.sound";
  const BIG_CUT = 0.3; // ProZorro's page asks before a cut of 30 % or more
  const state = {
    view: null,
    welcome: null,
    items: [],
    lots: new Map(),
    reasons: new Map(),
    posted: {}, // lot id -> the amount this bidder posted in the current turn (rounds)
    answers: new Map(), // lot id -> { key, cls, result, text }
    wasTurn: new Map(),
    closed: "",
    connection: "connecting",
  };
  const $ = (id) => document.getElementById(id);
  const { setView, refresh } = U.viewKeeper({ state, auctionId, token: () => token, render });

  // ------------------------------------------------------------- state
  /* The moment an answer belongs to: a new turn, round, pause or stage ends it. */
  function momentKey(lot, view) {
    return [lot.status, lot.stage, lot.round || 0, lot.turn || "", lot.phase || 0, view.paused ? "paused" : ""].join("|");
  }

  function ownLabels() {
    const view = state.view;
    const labels = view ? view.lots.map((l) => (l.you || {}).label).filter(Boolean) : [];
    if (state.welcome && state.welcome.label) labels.push(state.welcome.label);
    return [...new Set(labels)];
  }

  /* Whether the engine would take `what` ("bid", "cancel", "accept", "leave")
   * from this bidder now: null if so, else the reason (a sentence). */
  function whyNot(lot, view, what) {
    const you = lot.you || {};
    if (state.closed) return t("why.closed");
    if (state.connection !== "live") return t("why.offline");
    if (you.disqualified) return t("why.disqualified");
    if (lot.status === "scheduled") return t("why.not_started", { time: I.dateTime(lot.deadline) });
    if (lot.status === "ended") return t("why.ended");
    if (view.paused) return t("why.paused");
    if (lot.format === "rounds") {
      if (!lot.your_turn) {
        const at = window.UnderbidRounds.yourTurnAt(lot, you.label);
        if (lot.stage === "pause") return t("why.pause", { round: lot.round + 1 });
        return at ? t("why.not_your_turn_at", { time: I.timeOfDay(at) }) : t("why.not_your_turn");
      }
      if (what === "cancel" && (lot.your_pending === null || lot.your_pending === undefined)) return t("why.nothing_to_cancel");
      if (what === "bid" && typeof lot.max_bid !== "number") return t("why.no_room");
    }
    if (lot.format === "open" && what === "bid" && typeof lot.max_bid !== "number") return t("why.no_room");
    if (lot.format === "japanese") {
      if (lot.you_dropped) return t("why.dropped");
      if (what === "accept" && lot.you_confirmed) return t("why.confirmed");
    }
    return null;
  }

  // --------------------------------------------------------------- view
  function render() {
    const view = state.view;
    if (!view) return;
    const turns = view.lots.filter((l) => l.your_turn && l.status === "live" && !view.paused);
    U.showTitle($("title"), view, "title.bidder", turns.length ? t("title.your_turn") : "");
    $("zone").textContent = t("zone.times", { zone: I.zoneLabel() });
    const label = (state.welcome && state.welcome.label) || (view.lots[0] && (view.lots[0].you || {}).label);
    if (label) $("who").textContent = t(view.finished ? "bidder.who_after" : "bidder.who", { label: U.label(label) });
    U.banner("paused", view.paused ? pausedText() : "");
    renderTurnBanner(view, turns);
    U.banner("ended", view.finished ? endedText(view) : "");
    const gone = new Set(state.lots.keys());
    for (const lot of view.lots) {
      renderLot(lot, view);
      gone.delete(lot.id);
    }
    renderDisqualified(view);
    U.renderLog($("log"), state.items, view, { own: { labels: ownLabels(), posted: state.posted } });
  }

  function pausedText() {
    const reason = U.pauseReason(state.items);
    return reason ? t("banner.paused_reason", { reason }) : t("banner.paused");
  }

  function renderTurnBanner(view, turns) {
    if (!turns.length) {
      U.banner("your_turn", "");
      document.body.dataset.yourTurn = "false";
    } else {
      const lot = turns[0];
      const where = view.lots.length > 1 ? ` (${t("lot.named", { lot: lot.title || lot.id })})` : "";
      U.banner("your_turn", t("banner.your_turn", { time: I.timeOfDay(lot.deadline), where }));
      document.body.dataset.yourTurn = "true";
    }
    for (const lot of view.lots) {
      const now = Boolean(lot.your_turn && lot.status === "live");
      if (now && !state.wasTurn.get(lot.id)) beep();
      state.wasTurn.set(lot.id, now);
    }
  }

  function endedText(view) {
    if (view.cancelled) return t("banner.cancelled");
    const lines = view.lots.map((lot) => {
      const you = lot.you || {};
      const prefix = view.lots.length > 1 ? `${lot.title || lot.id}: ` : "";
      if (lot.winner && lot.winner.label === you.label) return prefix + t("result.you_won", { amount: money(lot.winner.amount, view) });
      if (you.disqualified) return prefix + t("result.you_disqualified");
      if (you.rank) return prefix + t("result.your_rank", { rank: you.rank, count: lot.bidders, amount: money(you.amount, view) });
      return prefix + t("result.no_rank");
    });
    return `${t("banner.ended")} ${lines.join(" ")}`;
  }

  /* Disqualified by an official (from one lot or all): say so, with the reason given. */
  function renderDisqualified(view) {
    const out = view.lots.filter((lot) => (lot.you || {}).disqualified);
    if (!out.length) {
      U.banner("disqualified", "");
      return;
    }
    const some = view.lots.length > 1 && out.length < view.lots.length;
    const reasons = [...new Set(out.map((lot) => state.reasons.get(lot.id)).filter(Boolean))].join("; ");
    const where = some ? out.map((lot) => lot.title || lot.id).join(", ") : "";
    const key = some ? (reasons ? "banner.disqualified_lots_reason" : "banner.disqualified_lots") : reasons ? "banner.disqualified_reason" : "banner.disqualified";
    U.banner("disqualified", t(key, { lots: where, reason: reasons }));
  }

  /* Remember why an official disqualified this bidder (the event names its label). */
  function noteEvents(items) {
    for (const { event } of items) {
      if (!state.view) continue;
      const lot = state.view.lots.find((l) => l.id === event.lot) || (state.view.lots.length === 1 ? state.view.lots[0] : null);
      const mine = ownLabels();
      if (event.type === "bidder_disqualified" && mine.includes(event.bidder)) {
        state.reasons.set(event.lot || (lot && lot.id), event.reason || "");
      }
      const lotId = event.lot || (lot && lot.id) || "";
      if (event.type === "bid_placed" && mine.includes(event.bidder) && typeof event.amount !== "number") {
        event.posted_amount = state.posted[lotId]; // the amount of our own ack, which came first
      }
      const ownEnd = (event.type === "turn_ended" || event.type === "bid_cancelled") && mine.includes(event.bidder);
      if (event.type === "turn_started" || ownEnd) delete state.posted[lotId];
    }
  }

  function lotSection(lot, view) {
    let parts = state.lots.get(lot.id);
    if (parts) return parts;
    const id = lot.id.replace(/[^A-Za-z0-9_-]/g, "_");
    const amountId = `amount-${id}`;
    parts = {
      heading: el("h2"),
      facts: el("dl", { class: "facts" }),
      chart: el("div", { class: "chart-box" }),
      table: el("div"),
      ranking: el("div"),
      result: el("div", { class: "result", "data-testid": "your-result" }),
      answer: el("p", { class: "answer", role: "status", "aria-live": "polite", "data-testid": "answer" }),
      echo: el("p", { id: `echo-${id}`, class: "muted small", "aria-live": "polite", "data-testid": "understood" }),
      why: el("p", { id: `why-${id}`, class: "why small", "data-testid": "why" }),
      label: el("label", { for: amountId }),
      input: el("input", {
        id: amountId,
        name: "amount",
        inputmode: "decimal",
        autocomplete: "off",
        "aria-describedby": `echo-${id} why-${id} max-${id}`,
      }),
      maxHint: el("p", { id: `max-${id}`, class: "muted small" }),
      bidButton: el("button", { type: "submit", class: "primary" }),
      actions: el("div", { class: "row" }),
      form: null,
      section: null,
    };
    parts.form = el("form", { class: "stack" }, parts.label, el("div", { class: "row" }, parts.input, parts.bidButton), parts.echo, parts.maxHint);
    parts.form.addEventListener("submit", (event) => {
      event.preventDefault();
      placeBid(lot.id);
    });
    parts.input.addEventListener("input", () => echo(lot.id));
    parts.section = el(
      "section",
      { class: "card", "data-lot": lot.id },
      parts.heading,
      el("div", { class: "grid two" }, el("div", {}, parts.facts), parts.chart),
      parts.form,
      parts.actions,
      parts.why,
      parts.answer,
      parts.result,
      parts.table,
      parts.ranking,
    );
    $("lots").append(parts.section);
    state.lots.set(lot.id, parts);
    return parts;
  }

  /* A button that says why it cannot act instead of going grey and silent. */
  function setEnabled(button, why) {
    button.setAttribute("aria-disabled", why ? "true" : "false");
    button.classList.toggle("off", Boolean(why));
  }

  function renderLot(lot, view) {
    const parts = lotSection(lot, view);
    const you = lot.you || {};
    const many = view.lots.length > 1;
    parts.section.setAttribute("aria-label", many ? t("lot.named", { lot: lot.title || lot.id }) : t("bidder.your_auction"));
    parts.heading.hidden = !many;
    parts.heading.textContent = t("lot.named", { lot: lot.title || lot.id });
    const key = momentKey(lot, view);
    const kept = state.answers.get(lot.id);
    // What was accepted last stays beside the result once the lot ends (a Dutch take ends it).
    const lastWord = kept && lot.status === "ended" && kept.result === "accepted";
    if (kept && kept.key !== key && !lastWord) {
      // The turn (or pause) it answered is over: the answer and the typed text go.
      state.answers.delete(lot.id);
      parts.input.value = "";
      parts.echo.textContent = "";
    }
    showAnswer(parts, state.answers.get(lot.id));

    const facts = parts.facts;
    facts.replaceChildren();
    U.stageFacts(facts, lot, view);
    if (lot.format === "rounds" && lot.status === "live") {
      const at = window.UnderbidRounds.yourTurnAt(lot, you.label);
      let turn;
      if (lot.your_turn) turn = el("strong", { class: "your-turn" }, t("turn.yours"));
      else if (at) turn = el("span", {}, t("turn.in"), " ", U.countdown(at, view.paused ? view.paused_at : null));
      else turn = lot.turn ? t("turn.of", { label: U.label(lot.turn) }) : "—";
      fact(facts, t("fact.turn"), turn, "turn");
    }
    U.priceFact(facts, lot, view);
    fact(facts, t("fact.you"), U.label(you.label || (state.welcome && state.welcome.label) || ""), "label");
    const rank = you.disqualified
      ? t("rank.disqualified")
      : you.rank
        ? t("rank.of", { rank: you.rank, count: lot.bidders })
        : lot.ranked === false
          ? t("rank.hidden") // the format ranks no one until the end (japanese)
          : t("rank.none");
    fact(facts, t("fact.rank"), rank, "rank");
    if (lot.status === "scheduled") {
      fact(facts, t("fact.your_sealed"), money(lot.your_sealed, view), "your-amount");
    } else {
      fact(facts, t("fact.your_amount"), money(you.amount, view), "your-amount");
    }
    if (lot.format === "rounds" && typeof lot.your_pending === "number") {
      fact(facts, t("fact.posted"), t("posted.counts", { amount: money(lot.your_pending, view) }), "posted");
    }
    if (typeof lot.max_bid === "number" && lot.status === "live") fact(facts, t("fact.max_bid"), money(lot.max_bid, view), "max-bid");
    if (lot.status === "ended" && lot.winner) {
      const w = lot.winner;
      fact(facts, t("fact.winner"), t("winner.line", { name: w.name, label: U.label(w.label), amount: money(w.amount, view) }), "winner");
    }
    const events = state.items.map((i) => i.event).filter((e) => !e.lot || e.lot === lot.id);
    parts.chart.replaceChildren(window.UnderbidChart.priceChart(lot, view, events, { now: U.clock.now() }));

    // The bid form: open (any time) and rounds (in one's turn), until the lot ends.
    const bids = (lot.format === "open" || lot.format === "rounds") && lot.status !== "ended";
    parts.form.hidden = !bids;
    parts.label.textContent = t("form.label", { currency: view.currency });
    parts.bidButton.textContent = t("form.place");
    const why = whyNot(lot, view, "bid");
    setEnabled(parts.bidButton, bids ? why : null);
    parts.input.disabled = Boolean(you.disqualified) || lot.status === "ended" || Boolean(state.closed);
    parts.maxHint.textContent = typeof lot.max_bid === "number" && lot.status === "live" ? t("form.max", { amount: money(lot.max_bid, view) }) : "";
    renderActions(lot, view, parts);
    const actionWhy = lot.format === "japanese" ? whyNot(lot, view, "accept") : lot.format === "dutch" ? whyNot(lot, view, "accept") : why;
    parts.why.textContent = lot.status === "ended" ? "" : actionWhy || "";
    parts.why.hidden = !parts.why.textContent;

    parts.table.replaceChildren(lot.format === "rounds" ? window.UnderbidRounds.roundTable(lot, view, { mine: you.label }) : "");
    renderResult(lot, view, parts);
    renderRanking(lot, view, parts);
  }

  function renderActions(lot, view, parts) {
    parts.actions.replaceChildren();
    if (lot.status === "ended") return;
    const act = (what, fn) => () => {
      const why = whyNot(lot, view, what);
      if (why) return say(lot.id, { cls: "no", result: "not_now", text: () => whyNot(lot, state.view, what) || why });
      return fn();
    };
    const button = (attrs, what, fn) => {
      const b = el("button", { type: "button", ...attrs, onclick: act(what, fn) });
      setEnabled(b, whyNot(lot, view, what));
      return b;
    };
    if (lot.format === "rounds") {
      parts.actions.append(
        button({ text: t("form.cancel") }, "cancel", () => command(lot.id, { type: "cancel" }, () => t("ok.cancel"))),
      );
    } else if (lot.format === "japanese") {
      parts.actions.append(
        button({ class: "primary", text: t("form.accept", { amount: money(lot.price, view) }) }, "accept", () => command(lot.id, { type: "accept" }, () => t("ok.accept"))),
        button({ text: t("form.leave") }, "leave", async () => {
          if (await U.confirmDialog(t("confirm.leave"), t("confirm.leave_button"))) command(lot.id, { type: "cancel" }, () => t("ok.leave"));
        }),
      );
    } else if (lot.format === "dutch") {
      parts.actions.append(
        button({ class: "primary", text: t("form.take", { amount: money(lot.price, view) }) }, "accept", async () => {
          if (await U.confirmDialog(t("confirm.take", { amount: money(lot.price, view) }), t("confirm.take_button"))) {
            command(lot.id, { type: "accept" }, () => t("ok.take"));
          }
        }),
      );
    }
  }

  /* After the end: the bidder's own result, then the whole ranking (with names). */
  function renderResult(lot, view, parts) {
    parts.result.replaceChildren();
    if (lot.status !== "ended") return;
    const you = lot.you || {};
    let text;
    if (lot.outcome === "cancelled") text = t("banner.cancelled");
    else if (lot.winner && lot.winner.label === you.label) text = t("result.you_won", { amount: money(lot.winner.amount, view) });
    else if (you.disqualified) text = t("result.you_disqualified");
    else if (you.rank) text = t("result.your_rank", { rank: you.rank, count: lot.bidders, amount: money(you.amount, view) });
    else text = t("result.no_rank");
    parts.result.append(el("p", { class: "big" }, text));
    if (lot.winner) parts.result.append(el("p", {}, t("result.savings", { savings: U.savings(lot.start_value, lot.winner.amount, view), start: money(lot.start_value, view) })));
  }

  function renderRanking(lot, view, parts) {
    const rows = (lot.ladder || []).map((entry) =>
      el(
        "tr",
        { class: entry.you ? "you" : null },
        el("td", { text: entry.rank ? `#${entry.rank}` : "—" }),
        el("td", {}, U.bidderCell(entry)),
        el("td", { class: "num", text: U.shownAmount(entry, view) }),
      ),
    );
    parts.ranking.replaceChildren(
      el("h3", { text: t(lot.status === "ended" ? "ranking.final" : "ranking.heading") }),
      U.scroller(
        U.table({
          caption: t(lot.status === "ended" ? "ranking.caption_after" : "ranking.caption", { amount: money(lot.start_value, view) }),
          columns: [t("col.rank"), t("col.bidder"), { class: "num", text: t("col.amount") }],
          rows,
          empty: t("ranking.empty"),
        }),
      ),
    );
  }

  // ------------------------------------------------------------ answers
  function say(lotId, answer) {
    const lot = state.view.lots.find((l) => l.id === lotId);
    const kept = { ...answer, key: lot ? momentKey(lot, state.view) : "" };
    state.answers.set(lotId, kept);
    showAnswer(state.lots.get(lotId), kept);
  }

  function showAnswer(parts, answer) {
    if (!parts) return;
    parts.answer.className = `answer ${answer ? answer.cls : ""}`;
    parts.answer.textContent = answer ? (typeof answer.text === "function" ? answer.text() : answer.text) : "";
    if (answer && answer.result) parts.answer.dataset.result = answer.result;
    else delete parts.answer.dataset.result;
  }

  /* The amount as the page understood it, while it is typed. */
  function echo(lotId) {
    const parts = state.lots.get(lotId);
    const view = state.view;
    const text = parts.input.value.trim();
    if (!text) {
      parts.echo.textContent = "";
      return;
    }
    const amount = U.parseAmount(text, view.currency_exponent);
    parts.echo.textContent =
      amount === null || amount <= 0 ? t("form.not_understood", { example: example(view) }) : t("form.understood", { amount: money(amount, view) });
    parts.echo.classList.toggle("bad", amount === null || amount <= 0);
  }

  function example(view) {
    const exponent = view.currency_exponent;
    return money(123456 * 10 ** exponent + (exponent ? 78 : 0), view);
  }

  // ------------------------------------------------------------ commands
  async function command(lotId, message, okText, amount) {
    say(lotId, { cls: "", result: "sending", text: () => t("answer.sending") });
    // Always name the lot: a bidder of one lot of several sees only that one.
    const answer = await socket.command({ ...message, lot: lotId });
    if (answer.type === "ack") {
      if (typeof amount === "number") state.posted[lotId] = amount;
      say(lotId, { cls: "ok", result: "accepted", text: () => t("answer.accepted", { what: okText() }) });
    } else {
      const view = state.view;
      const why = () => U.reason(answer.code, { limit: answer.limit, view });
      say(lotId, { cls: "no", result: answer.code, text: () => t("answer.not_accepted", { reason: why() }) });
    }
    refresh();
    return answer;
  }

  /* Questions before a bid that is probably a typo: a cut of 30 % or more of
   * the amount it improves on, or an amount equal to another bidder's. */
  async function confirmed(lot, amount) {
    const view = state.view;
    const you = lot.you || {};
    const reference = typeof you.amount === "number" ? you.amount : typeof lot.max_bid === "number" ? lot.max_bid : lot.start_value;
    if (reference > 0 && (reference - amount) / reference >= BIG_CUT) {
      const pct = I.percent(((reference - amount) * 100) / reference);
      const question = t("confirm.cut", { percent: pct, from: money(reference, view), to: money(amount, view) });
      if (!(await U.confirmDialog(question, t("form.place")))) return false;
    }
    const tie = (lot.ladder || []).find((e) => !e.you && e.amount === amount);
    if (tie) {
      const question = t("confirm.tie", { amount: money(amount, view), label: U.label(tie.label) });
      if (!(await U.confirmDialog(question, t("form.place")))) return false;
    }
    return true;
  }

  async function placeBid(lotId) {
    const parts = state.lots.get(lotId);
    const view = state.view;
    const lot = view.lots.find((l) => l.id === lotId);
    const why = whyNot(lot, view, "bid");
    if (why) {
      say(lotId, { cls: "no", result: "not_now", text: () => t("answer.not_sent", { reason: whyNot(lot, view, "bid") || why }) });
      return;
    }
    const amount = U.parseAmount(parts.input.value, view.currency_exponent);
    if (amount === null || amount <= 0) {
      say(lotId, { cls: "no", result: "invalid_amount", text: () => t("answer.invalid", { example: example(view) }) });
      parts.input.focus();
      return;
    }
    if (!(await confirmed(lot, amount))) {
      say(lotId, { cls: "", result: "backed_out", text: () => t("answer.backed_out") });
      return;
    }
    const ok = () => t(lot.format === "rounds" ? "ok.posted" : "ok.bid", { amount: money(amount, view) });
    parts.bidButton.setAttribute("aria-disabled", "true");
    try {
      await command(lotId, { type: "bid", amount }, ok, amount);
    } finally {
      render();
    }
  }

  // --------------------------------------------------------------- sound
  let audio = null;
  function beep() {
    if (!$("sound").checked || !audio) return;
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.value = 0.15;
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.35);
  }

  function setUpSound() {
    const box = $("sound");
    try {
      box.checked = localStorage.getItem(SOUND_KEY) === "on";
    } catch (err) {
      box.checked = false;
    }
    box.addEventListener("change", () => {
      try {
        localStorage.setItem(SOUND_KEY, box.checked ? "on" : "off");
      } catch (err) {
        /* this page only */
      }
      if (box.checked && !audio && window.AudioContext) audio = new AudioContext(); // a click: allowed to sound
    });
  }

  // -------------------------------------------------------------- wire
  let socket = null;

  U.whenReady(() => {
    setUpSound();
    I.onChange(() => {
      render();
      for (const lotId of state.lots.keys()) echo(lotId);
    });
    window.addEventListener("resize", () => render());
    if (!auctionId || !token) {
      U.connectionStatus("closed", "close.no_link");
      $("who").textContent = t("close.no_link");
      return;
    }
    socket = new U.AuctionSocket(auctionId, token, {
      onStatus: (s, detail) => {
        state.connection = s;
        if (s === "closed") state.closed = detail || "closed";
        U.connectionStatus(s, detail);
        document.body.classList.toggle("stale", s === "closed" && Boolean(detail));
        render();
      },
      onWelcome: (welcome) => {
        state.welcome = welcome;
        setView(welcome.view);
      },
      onResync: (view) => setView(view),
      onEvents: (items) => {
        state.items.push(...items);
        if (state.items.length > 20000) state.items.splice(0, state.items.length - 20000);
        noteEvents(items);
        render();
        refresh();
      },
      onWake: () => refresh(),
      onError: () => {},
    });
    window.underbidPage = { socket, state, refresh };
    socket.connect();
  });
})();
