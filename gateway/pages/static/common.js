/* Underbid pages: what the three pages share.
 *
 * - Underbid.i18n (i18n.js): the words, numbers, money and times.
 * - AuctionSocket, clock (socket.js): the WebSocket protocol and the server's clock.
 * - priceChart (chart.js), roundTable (rounds.js).
 * - Here: the DOM helper, parsing a typed amount, countdowns, the one banner
 *   area, facts, tables, the event log's sentences, rejection reasons from
 *   the engine's codes, a confirmation dialog, the view keeper and HTTP.
 *
 * No dependencies, no build step: a classic script that defines `Underbid`.
 */
"use strict";

(function () {
  const I = window.UnderbidI18n;
  const t = I.t;
  const { AuctionSocket, clock } = window.UnderbidSocket;
  const money = I.money;

  // ------------------------------------------------------------- time
  function formatDuration(ms) {
    if (ms < 0) ms = 0;
    const total = Math.floor(ms / 1000);
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    const pad = (n) => String(n).padStart(2, "0");
    return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`;
  }

  /* Every element with data-deadline shows the time left, by the server's clock. */
  function tickCountdowns() {
    const now = clock.now();
    for (const node of document.querySelectorAll("[data-deadline]")) tickOne(node, now);
    for (const fn of tickers) fn(now);
  }
  const tickers = [];
  setInterval(tickCountdowns, 250);

  function tickOne(node, now) {
    const deadline = Number(node.dataset.deadline);
    if (!deadline) return;
    if (node.dataset.frozen === "true") return;
    const left = deadline - now;
    node.dataset.remainingMs = String(Math.max(0, Math.round(left)));
    node.textContent = formatDuration(left);
    node.classList.toggle("soon", left < 30000);
  }

  /* A countdown to `deadline`. While paused (pausedAt given) it stands still at
   * the time that was left when the pause began, and says so. */
  function countdown(deadline, pausedAt) {
    const span = el("span", { class: "countdown", role: "timer" });
    if (!deadline) {
      span.textContent = "—";
      return span;
    }
    span.dataset.deadline = String(deadline);
    if (typeof pausedAt === "number") {
      const left = Math.max(0, deadline - pausedAt);
      span.dataset.frozen = "true";
      span.dataset.remainingMs = String(left);
      span.textContent = t("countdown.paused", { left: formatDuration(left) });
      return span;
    }
    tickOne(span, clock.now());
    return span;
  }

  // ------------------------------------------------------------ money
  /* "47,500.00", "47 500,5", "47500" -> minor units (an integer), or null.
   *
   * Thousands separators must group by three ("1,185,000"); a lone separator
   * followed by three digits after more than three digits ("1185000,505") is
   * neither a decimal part nor a grouping, so it is refused rather than guessed. */
  function parseAmount(input, exponent) {
    let text = String(input).trim().replace(/[\s\u00a0\u202f'_]/g, "");
    text = text.replace(/[^\d.,-]/g, "");
    if (!/^\d[\d.,]*$/.test(text)) return null;
    let whole = text;
    let fraction = "";
    const lastDot = text.lastIndexOf(".");
    const lastComma = text.lastIndexOf(",");
    const last = Math.max(lastDot, lastComma);
    if (last >= 0) {
      const sep = text[last];
      const after = text.slice(last + 1);
      const count = text.split(sep).length - 1;
      const both = lastDot >= 0 && lastComma >= 0;
      const isDecimal = both || (count === 1 && (after.length !== 3 || exponent >= 3));
      if (isDecimal) {
        whole = text.slice(0, last);
        fraction = after;
      }
      if (/[.,]/.test(whole) && !/^\d{1,3}([.,]\d{3})+$/.test(whole)) return null;
      if (both && whole.includes(sep)) return null;
      if (!isDecimal && !/^\d{1,3}([.,]\d{3})+$/.test(text)) return null;
    }
    whole = whole.replace(/[.,]/g, "");
    if (!/^\d+$/.test(whole) || !/^\d*$/.test(fraction)) return null;
    if (fraction.length > exponent) return null;
    const value = Number(whole + fraction.padEnd(exponent, "0"));
    return Number.isSafeInteger(value) ? value : null;
  }

  // -------------------------------------------------------------- dom
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /* The auction's name in a heading and in the tab's title, with the page's suffix. */
  function showTitle(heading, view, suffixKey, prefix) {
    const name = view.title || view.auction;
    document.title = `${prefix ? `${prefix} · ` : ""}${name} · ${t(suffixKey)}`;
    heading.textContent = name;
  }

  /* "Bidder #3" (the engine's label) in the page's language. */
  function label(text) {
    const match = /^Bidder #(\d+)$/.exec(text || "");
    if (match) return t("label.n", { n: match[1] });
    return text === "Bidder" || !text ? t("label.any") : text;
  }

  // ------------------------------------------------------------- http
  async function api(path, { token, method = "GET", body } = {}) {
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    if (!response.ok) {
      const error = new Error((data && data.detail) || `HTTP ${response.status}`);
      error.status = response.status;
      error.code = data && data.code;
      error.field = data && data.field;
      throw error;
    }
    if (data && typeof data.server_time === "number") clock.observe(data.server_time);
    return data;
  }

  /* api() on one auction's resource: /api/auctions/{id}{rest}. */
  function auctionApi(auctionId, rest, options) {
    return api(`/api/auctions/${encodeURIComponent(auctionId)}${rest || ""}`, options);
  }

  /* The auction's view as a page keeps it, in state.view.
   *
   * setView(view): keep it, unless it is older (a lower seq) than the one kept,
   * and render it. refresh(): fetch /api/auctions/{id} again (with token(), if
   * given), one request at a time: calls made while one is in flight make it
   * fetch once more when it is done. Errors are left to the connection banner.
   * A page whose socket closed for good (state.closed) stops refreshing.
   */
  function viewKeeper({ state, auctionId, token, render }) {
    state.view = state.view || null;
    let refreshing = null;
    let again = false;

    function setView(view) {
      if (!view) return;
      if (state.view && typeof view.seq === "number" && view.seq < state.view.seq) return;
      state.view = view;
      I.setZone(view.time_zone || "UTC");
      I.adopt(view.currency);
      render(view);
    }

    async function refresh() {
      if (state.closed) return;
      if (refreshing) {
        again = true;
        return;
      }
      refreshing = (async () => {
        do {
          again = false;
          try {
            setView(await auctionApi(auctionId, "", { token: token ? token() : undefined }));
          } catch (err) {
            /* the socket's banner tells about the line */
          }
        } while (again);
      })();
      await refreshing;
      refreshing = null;
    }

    return { setView, refresh, current: () => state.view };
  }

  function tokenFromFragment() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    return params.get("token") || "";
  }

  function auctionIdFromPath(prefix) {
    const rest = location.pathname.slice(prefix.length).replace(/^\/+|\/+$/g, "");
    return rest ? decodeURIComponent(rest.split("/")[0]) : "";
  }

  // ------------------------------------------------------------ banners
  /* One banner area (#banner): what matters most is shown, the rest waits.
   * set(kind, text) / clear(kind); the kinds in order of priority. */
  const PRIORITY = ["closed", "disqualified", "your_turn", "paused", "down", "connecting", "ended"];
  const LEVEL = { closed: "bad", disqualified: "bad", your_turn: "turn", paused: "warn", down: "warn", connecting: "warn", ended: "good" };
  const banners = new Map();

  function showBanner() {
    const node = document.getElementById("banner");
    if (!node) return;
    const kind = PRIORITY.find((k) => banners.has(k));
    node.hidden = !kind;
    node.dataset.kind = kind || "";
    node.className = `banner ${kind ? LEVEL[kind] : ""}`;
    node.textContent = kind ? banners.get(kind) : "";
    document.body.dataset.banners = [...banners.keys()].join(" ");
  }

  function banner(kind, text) {
    if (text) banners.set(kind, text);
    else banners.delete(kind);
    showBanner();
  }

  /* The socket's status into the banner area. */
  function connectionStatus(state, detailKey, override) {
    document.body.dataset.connection = state;
    banner("connecting", state === "connecting" ? t("connection.connecting") : "");
    banner("down", state === "down" ? t(detailKey || "connection.lost") : "");
    // A normal closure (1000: the auction ended) needs no alarm: the page says it ended.
    banner("closed", state === "closed" && (detailKey || override) ? override || t(detailKey) : "");
  }

  // ------------------------------------------------------------ reasons
  /* A rejection in the page's language, from the engine's code and fields
   * (`limit`: the largest amount allowed), never the server's English. */
  function reason(code, { limit, view } = {}) {
    if (typeof limit === "number" && view && I.has(`reason.${code}_limit`)) {
      return t(`reason.${code}_limit`, { limit: money(limit, view) });
    }
    return I.has(`reason.${code}`) ? t(`reason.${code}`) : t("reason.unknown", { code: code || "?" });
  }

  /* The official's reason for the pause in force, from the stream ("" if none given). */
  function pauseReason(items) {
    for (let i = items.length - 1; i >= 0; i -= 1) {
      const e = items[i].event;
      if (e.type === "auction_paused") return e.reason || "";
      if (e.type === "auction_resumed") return "";
    }
    return "";
  }

  // ------------------------------------------------------------- stages
  function stageName(lot) {
    const name = t(`stage.${lot.status === "live" ? lot.stage : lot.status}`);
    if (lot.status !== "live") return lot.outcome === "cancelled" ? t("stage.cancelled") : name;
    if (lot.format === "rounds" && lot.round) return t("stage.in_round_of", { stage: name, round: lot.round, rounds: lot.rounds });
    if (lot.format === "japanese" && lot.round) return t("stage.in_round", { stage: name, round: lot.round });
    if (lot.format === "open" && lot.phases > 1) return t("stage.in_phase", { stage: name, phase: lot.phase, phases: lot.phases });
    return name;
  }

  function outcomeName(outcome) {
    return t(`outcome.${outcome || "none"}`);
  }

  // ------------------------------------------------------------- events
  /* A sentence for one event, in the page's language.
   * ctx: { names: {bidder id: name}, own: {label, posted: amount}, officialNames } */
  function describe(event, view, ctx = {}) {
    const m = (a) => money(a, view);
    const names = ctx.names || {};
    const own = ctx.own || {};
    const mine = (b) => own.labels && own.labels.includes(b);
    const labels = ctx.labels || {};
    const who = (b) => {
      if (!b) return t("label.any");
      if (mine(b)) return t("who.you");
      const shown = label(labels[b] || b);
      return names[b] ? `${names[b]} (${shown})` : shown;
    };
    switch (event.type) {
      case "lot_started":
        return t("ev.lot_started");
      case "lot_ended": {
        if (event.outcome === "cancelled") return t("ev.lot_cancelled");
        if (!event.winner) return t("ev.lot_ended_outcome", { outcome: outcomeName(event.outcome) });
        const name = event.winner_name || names[event.winner] || event.winner;
        return t("ev.lot_ended_winner", { name, amount: m(event.amount) });
      }
      case "bid_placed": {
        const amount = typeof event.amount === "number" ? event.amount : null;
        if (event.surrogate_by) return t("ev.bid_surrogate", { who: who(event.bidder), amount: m(amount), official: official(event.surrogate_by) });
        if (mine(event.bidder)) {
          const posted = amount !== null ? amount : event.posted_amount;
          if (view.lots && view.lots.some((l) => l.format === "rounds" && (!event.lot || l.id === event.lot))) {
            return typeof posted === "number" ? t("ev.you_posted", { amount: m(posted) }) : t("ev.you_posted_hidden");
          }
          return typeof posted === "number" ? t("ev.you_bid", { amount: m(posted) }) : t("ev.you_bid_hidden");
        }
        if (amount === null && event.score) return t("ev.bid_score", { who: who(event.bidder), score: I.score(event.score) });
        return amount === null ? t("ev.bid_hidden", { who: who(event.bidder) }) : t("ev.bid", { who: who(event.bidder), amount: m(amount) });
      }
      case "bid_cancelled":
        return mine(event.bidder) ? t("ev.you_cancelled") : t("ev.bid_cancelled", { who: who(event.bidder) });
      case "price_accepted":
        if (mine(event.bidder)) return t("ev.you_accepted", { amount: m(event.price) });
        return event.bidder
          ? t("ev.price_accepted", { who: who(event.bidder), amount: m(event.price) })
          : t("ev.price_accepted_anon", { amount: m(event.price) });
      case "command_rejected":
        return rejectedText(event, view, who);
      case "auction_paused":
        return event.reason ? t("ev.paused_reason", { reason: event.reason }) : t("ev.paused");
      case "auction_resumed":
        return t("ev.resumed", { seconds: I.integer(Math.round((event.shift || 0) / 1000)) });
      case "auction_cancelled":
        return event.reason ? t("ev.cancelled_reason", { reason: event.reason }) : t("ev.cancelled");
      case "bidder_disqualified":
        if (mine(event.bidder)) return event.reason ? t("ev.you_disqualified_reason", { reason: event.reason }) : t("ev.you_disqualified");
        return event.reason
          ? t("ev.disqualified_reason", { who: who(event.bidder), reason: event.reason })
          : t("ev.disqualified", { who: who(event.bidder) });
      case "deadline_extended":
        return t("ev.extended", { seconds: I.integer(Math.round(event.ms / 1000)) });
      case "pause_started":
        return t("ev.pause_started", { round: event.before_round });
      case "round_started":
        return t("ev.round_started", { round: event.round });
      case "turn_started":
        return mine(event.bidder) ? t("ev.your_turn", { round: event.round }) : t("ev.turn_started", { round: event.round, who: who(event.bidder) });
      case "turn_ended": {
        const amount = typeof event.amount === "number" ? m(event.amount) : event.score ? I.score(event.score) : t("ev.same_offer");
        if (mine(event.bidder)) return t(event.changed ? "ev.you_turn_ended_changed" : "ev.you_turn_ended_kept", { amount });
        return t(event.changed ? "ev.turn_ended_changed" : "ev.turn_ended_kept", { who: who(event.bidder), amount });
      }
      case "bidding_opened":
        return t("ev.bidding_opened");
      case "phase_started":
        return t("ev.phase_started", { phase: event.phase });
      case "close_extended":
        return t("ev.close_extended", { time: I.timeOfDay(event.close_at) });
      case "clock_round_started":
        return t("ev.clock_round_started", { round: event.round, amount: m(event.price) });
      case "bidder_dropped":
        if (mine(event.bidder)) return t("ev.you_dropped");
        return event.bidder ? t("ev.dropped", { who: who(event.bidder) }) : t("ev.dropped_anon");
      case "price_changed":
        return t("ev.price_changed", { amount: m(event.price) });
      default:
        return t("ev.other", { type: event.type });
    }
  }

  /* "an official", or "official Olena K." when the control named one. */
  function official(name) {
    return !name || name === "official" ? t("who.official") : t("who.official_named", { name });
  }

  /* A refusal as officials read it: who sent what, and why (the engine's code). */
  function rejectedText(event, view, who) {
    const amount = typeof event.amount === "number" ? money(event.amount, view) : "";
    if (event.surrogate_by) {
      const why = I.has(`reason.surrogate.${event.code}`) ? t(`reason.surrogate.${event.code}`) : reason(event.code, { view });
      return t("ev.rejected_surrogate", { official: official(event.surrogate_by), who: who(event.actor), amount, reason: why });
    }
    const why = reason(event.code, { view });
    if (["pause", "resume", "extend", "cancel_auction", "disqualify"].includes(event.command)) {
      return t("ev.rejected_official", { official: official(event.actor), command: t(`command.${event.command}`), reason: why });
    }
    return amount
      ? t("ev.rejected_bid", { who: who(event.actor), command: t(`command.${event.command}`), amount, reason: why })
      : t("ev.rejected", { who: who(event.actor), command: t(`command.${event.command}`), reason: why });
  }

  function eventLogItem(seq, event, view, ctx) {
    return el(
      "li",
      { "data-seq": seq, "data-type": event.type, "data-command": event.command || null },
      el("time", { datetime: new Date(event.at).toISOString() }, I.timeOfDay(event.at, { zone: false })),
      " ",
      describe(event, view, ctx),
    );
  }

  /* A log (newest first) of `items` ({seq, event}), rebuilt whole (a language switch). */
  function renderLog(log, items, view, ctx, filter) {
    const shown = filter ? items.filter(filter) : items;
    log.replaceChildren(...shown.slice(-500).reverse().map(({ seq, event }) => eventLogItem(seq, event, view, ctx)));
  }

  // -------------------------------------------------------------- facts
  /* One term of a <dl class="facts">; testId marks the value (data-testid). */
  function fact(dl, term, value, testId) {
    dl.append(el("dt", { text: term }), el("dd", { "data-testid": testId || null }, value));
  }

  /* What every page shows first about a lot: its stage and its time: when it
   * starts (and in how long), the time left (an open lot's close, which late
   * bids move, else the lot's deadline), or when it ended. */
  function stageFacts(dl, lot, view) {
    fact(dl, t("fact.stage"), stageName(lot), "stage");
    if (lot.status === "scheduled" && lot.deadline) {
      fact(dl, t("fact.starts"), I.dateTime(lot.deadline), "starts");
      fact(dl, t("fact.starts_in"), countdown(lot.deadline, view.paused ? view.paused_at : null), "countdown");
    } else if (lot.status === "live") {
      const deadline = lot.format === "open" && lot.close_at ? lot.close_at : lot.deadline;
      fact(dl, t("fact.time_left"), countdown(deadline, view.paused ? view.paused_at : null), "countdown");
    } else if (lot.ended_at) {
      fact(dl, t("fact.ended"), I.dateTime(lot.ended_at), "ended-at");
    }
  }

  /* The current price, for the formats whose price moves by the clock. */
  function priceFact(dl, lot, view) {
    if (lot.format === "japanese" || lot.format === "dutch") {
      if (lot.status === "live") {
        fact(dl, t("fact.price"), money(lot.price, view), "price");
        fact(dl, t("fact.next_price"), money(lot.next_price, view), "next-price");
      }
    }
    if (lot.format === "japanese" && lot.status === "live") {
      fact(dl, t("fact.in_confirmed"), `${lot.in} / ${lot.confirmed}`, "in-confirmed");
    }
  }

  /* Starting price, best offer so far and what it saves. */
  function offerFacts(dl, lot, view) {
    const best = bestAmount(lot);
    fact(dl, t("fact.start_value"), money(lot.start_value, view));
    fact(dl, t("fact.best"), money(best, view), "best");
    fact(dl, t("fact.savings"), savings(lot.start_value, best, view), "savings");
  }

  /* "UAH 12,000.00 (12.00 %)": the one way savings are written. */
  function savings(startValue, best, view) {
    if (typeof best !== "number") return "—";
    const saved = startValue - best;
    const pct = startValue ? (saved * 100) / startValue : 0;
    return t("savings", { amount: money(saved, view), percent: I.percent(pct) });
  }

  function bestAmount(lot) {
    if (lot.winner && typeof lot.winner.amount === "number") return lot.winner.amount;
    const amounts = (lot.ladder || []).map((e) => e.amount).filter((a) => typeof a === "number");
    return amounts.length ? Math.min(...amounts) : null;
  }

  /* A table. columns: header texts, or attributes for the <th> ({ text, class });
   * null ones are left out. With no rows and an `empty` text, one row says it. */
  function table({ caption, columns, rows, empty, emptySpan, attrs }) {
    const shown = columns.filter((c) => c !== null && c !== undefined && c !== false);
    const heads = shown.map((c) => el("th", { scope: "col", ...(typeof c === "string" ? { text: c } : c) }));
    const body =
      rows.length || !empty
        ? rows
        : el("tr", {}, el("td", { colspan: emptySpan || shown.length, class: "muted", text: empty }));
    return el(
      "table",
      attrs || {},
      caption ? el("caption", { class: "muted small", text: caption }) : null,
      el("thead", {}, el("tr", {}, heads)),
      el("tbody", {}, body),
    );
  }

  /* What the ranking shows for an entry's amount. */
  function shownAmount(entry, view) {
    if (typeof entry.amount === "number") return money(entry.amount, view);
    if (entry.score) return t("amount.score", { score: scoreMoney(entry.score, view) });
    return entry.rank ? t("amount.hidden") : t("amount.none");
  }

  /* A score (an adjusted amount in minor units) shown as money. */
  function scoreMoney(score, view) {
    const value = window.UnderbidChart.scoreValue(score);
    return value === null ? String(score) : money(Math.round(value), view);
  }

  /* The ranking's bidder cell: a name once names are public, else the label. */
  function bidderCell(entry) {
    if (entry.you) return entry.name ? t("ranking.you_named", { name: entry.name, label: label(entry.label) }) : t("ranking.you", { label: label(entry.label) });
    return entry.name ? `${entry.name} (${label(entry.label)})` : label(entry.label);
  }

  /* A box that says when its content is wider than itself (it scrolls
   * sideways): checked whenever either changes size, not only once drawn
   * (a countdown, a name or a late font widens a table after it was drawn). */
  function watchScrolls(wrap) {
    const update = () => wrap.classList.toggle("scrolls", wrap.scrollWidth > wrap.clientWidth + 1);
    const observer = new ResizeObserver(update);
    observer.observe(wrap);
    for (const child of wrap.children) observer.observe(child);
    requestAnimationFrame(update);
    return wrap;
  }

  /* A wide table inside a scroller that says it scrolls (a phone's ranking). */
  function scroller(child) {
    const wrap = el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": t("table.scrolls") }, child);
    return watchScrolls(wrap);
  }

  /* A lot's card (dashboard, public view): a heading, its facts beside the
   * chart, the round table (rounds), then the ranking table. */
  function lotCard(lot, view, { heading, facts, events, ranking, names }) {
    const own = events.filter((e) => !e.lot || e.lot === lot.id);
    return el(
      "section",
      { class: "card", "data-lot": lot.id, "aria-label": t("lot.named", { lot: lot.title || lot.id }) },
      heading,
      el("div", { class: "grid two" }, el("div", {}, facts), window.UnderbidChart.priceChart(lot, view, own, { now: clock.now() })),
      lot.format === "rounds" ? window.UnderbidRounds.roundTable(lot, view, { names }) : null,
      el("h3", { text: t("ranking.heading") }),
      scroller(ranking),
    );
  }

  /* A modal question with Confirm / Back buttons (keyboard: Enter, Escape). */
  function confirmDialog(question, confirmLabel) {
    return new Promise((resolve) => {
      const dialog = el(
        "dialog",
        { class: "confirm", "aria-labelledby": "confirm-q" },
        el("p", { id: "confirm-q", text: question }),
        el(
          "form",
          { method: "dialog", class: "row" },
          el("button", { value: "yes", class: "primary", text: confirmLabel || t("confirm.confirm") }),
          el("button", { value: "no", text: t("confirm.back"), autofocus: true }),
        ),
      );
      dialog.addEventListener("close", () => {
        resolve(dialog.returnValue === "yes");
        dialog.remove();
      });
      document.body.append(dialog);
      dialog.showModal();
    });
  }

  /* The language switch (in #lang): two buttons, the choice remembered. */
  function languageSwitch() {
    const host = document.getElementById("lang");
    if (!host) return;
    const render = () => {
      host.replaceChildren(
        ...I.languages.map((lang) =>
          el("button", {
            type: "button",
            lang,
            class: "lang-choice",
            "aria-pressed": I.lang === lang ? "true" : "false",
            text: t(`lang.${lang}`),
            onclick: () => I.setLanguage(lang, { remember: true }),
          }),
        ),
      );
      host.setAttribute("aria-label", t("lang.switch"));
    };
    render();
    I.onChange(render);
  }

  /* Run `start` once the catalogues are loaded, with the switch in place. */
  function whenReady(start) {
    I.ready.then(
      () => {
        languageSwitch();
        start();
      },
      () => {
        document.body.textContent = "The page's texts could not be loaded. / Не вдалося завантажити тексти сторінки.";
      },
    );
  }

  window.Underbid = {
    i18n: I,
    t,
    AuctionSocket,
    api,
    auctionApi,
    auctionIdFromPath,
    banner,
    bestAmount,
    bidderCell,
    clock,
    confirmDialog,
    connectionStatus,
    countdown,
    describe,
    el,
    eventLogItem,
    fact,
    formatDuration,
    label,
    lotCard,
    money,
    offerFacts,
    outcomeName,
    parseAmount,
    pauseReason,
    priceFact,
    reason,
    renderLog,
    savings,
    scoreMoney,
    scroller,
    watchScrolls,
    shownAmount,
    showTitle,
    stageFacts,
    stageName,
    table,
    tickCountdowns,
    tickers,
    tokenFromFragment,
    viewKeeper,
    whenReady,
  };
})();
