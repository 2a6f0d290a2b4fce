/* The officials' dashboard: /dashboard (every auction, create one) and
 * /dashboard/{auction} (the live view, the controls, the printable protocol).
 *
 * The operator (or an official) token is typed once and kept in
 * sessionStorage (this tab only); a link may also carry it as #token=...,
 * which is moved to sessionStorage and taken off the address bar. A token is
 * said to be signed in only once the server took it (the list page asks the
 * server; the live page's socket welcomes it). */
"use strict";

(function () {
  const U = window.Underbid;
  const { el, fact, money, t } = U;
  const I = U.i18n;
  const $ = (id) => document.getElementById(id);
  const KEY = "underbid.token";
  const auctionId = U.auctionIdFromPath("/dashboard");
  const state = { token: "", view: null, people: null, items: [], socket: null, list: null, signedIn: "" };
  const CONTROL_ACTIONS = ["pause", "resume", "cancel", "extend", "disqualify", "surrogate_bid"];

  // ------------------------------------------------------------ token
  const fromLink = U.tokenFromFragment();
  if (fromLink) {
    sessionStorage.setItem(KEY, fromLink);
    history.replaceState(null, "", location.pathname + location.search);
  }
  state.token = sessionStorage.getItem(KEY) || "";

  /* The page's message; `text` may be a function, so that a language switch re-says it. */
  function say(text, ok) {
    state.said = [text, ok];
    const node = $("message");
    node.className = `answer ${ok === false ? "no" : ok ? "ok" : ""}`;
    node.textContent = typeof text === "function" ? text() : text;
  }

  function showTokenForm() {
    $("token-form").hidden = Boolean(state.token);
    $("signed-in").hidden = !state.signedIn;
    $("signed-in-text").textContent = state.signedIn ? t(state.signedIn) : "";
  }

  function forgetToken(messageKey) {
    sessionStorage.removeItem(KEY);
    state.token = "";
    state.signedIn = "";
    state.started = false;
    showTokenForm();
    if (messageKey) say(() => t(messageKey), false);
  }

  /* Whether the server takes the token as the operator's: an empty spec is
   * refused as invalid (422) only after the token was accepted. Nothing is created. */
  async function checkOperator() {
    try {
      await U.api("/api/auctions", { token: state.token, method: "POST", body: {} });
      return "dashboard.signed_in_operator";
    } catch (err) {
      if (err.status === 422) return "dashboard.signed_in_operator";
      if (err.status === 403 || (err.status === 401 && err.code === "token_wrong_auction")) return "official";
      return null;
    }
  }

  // ------------------------------------------------------------- list
  async function loadList() {
    try {
      state.list = await U.api("/api/auctions", { token: state.token }); // the operator sees private ones too
      renderList();
    } catch (err) {
      say(() => t("list.failed"), false);
    }
  }

  function renderList() {
    const data = state.list;
    if (!data) return;
    const rows = data.auctions.map((a) => {
      I.setZone(a.time_zone || "UTC");
      const scheduled = a.state === "running" && a.start_at > data.server_time;
      const stateName = scheduled ? "scheduled" : a.state;
      return el(
        "tr",
        { "data-auction": a.id },
        el("td", {}, el("a", { href: `/dashboard/${encodeURIComponent(a.id)}` }, a.title || a.id), el("div", { class: "muted small", text: a.id })),
        el("td", { text: (a.formats || []).map((f) => t(`format.${f}`)).join(", ") }),
        el("td", {}, el("span", { class: `state ${stateName}`, "data-state": stateName, text: t(`state.${stateName}`) })),
        el("td", {}, a.start_at ? el("span", {}, I.dateTime(a.start_at), scheduled ? el("br") : null, scheduled ? U.countdown(a.start_at) : null) : "—"),
        el("td", {}, a.next_deadline && a.state === "running" ? U.countdown(a.next_deadline) : "—"),
        el("td", {}, a.public ? el("a", { href: `/watch/${encodeURIComponent(a.id)}`, text: t("people.public") }) : t("list.not_public")),
      );
    });
    $("auctions").tBodies[0].replaceChildren(
      ...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 6, class: "muted", text: t("list.empty") }))]),
    );
    const wrap = $("auctions").parentElement; // a phone scrolls the list sideways: say so
    if (!wrap.dataset.watched) {
      wrap.dataset.watched = "1";
      U.watchScrolls(wrap);
    }
  }

  function exampleSpec() {
    const id = `auction-${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, "")}`;
    return {
      id,
      title: t("create.example_title"),
      currency: "UAH",
      time_zone: "Europe/Kyiv",
      start_at: Math.round(U.clock.now() + 60000),
      format: "open",
      start_value: 8000000,
      open: { duration_s: 600, decrement: 10000 },
      bidders: [
        { id: "b1", name: "Papir LLC" },
        { id: "b2", name: "Arkush PE" },
        { id: "b3", name: "Folio LLC" },
      ],
    };
  }

  // ------------------------------------------------------- live view
  const { setView, refresh } = U.viewKeeper({ state, auctionId, token: () => state.token, render: renderAuction });

  async function loadPeople() {
    if (!state.token || !auctionId) return;
    try {
      state.people = await U.auctionApi(auctionId, "/people", { token: state.token });
      renderPeople();
      if (state.view) renderAuction();
    } catch (err) {
      /* shown next time */
    }
  }

  /* Supplier names by bidder id (officials may see them) and by label. */
  function bidderNames() {
    const names = {};
    for (const b of (state.people && state.people.bidders) || []) names[b.id] = b.name;
    for (const lot of (state.view && state.view.lots) || []) {
      for (const entry of lot.ladder || []) if (entry.name) names[entry.label] = entry.name;
    }
    return names;
  }

  /* Labels by bidder id (the officials' ladder has both). */
  function bidderLabels() {
    const labels = {};
    for (const lot of (state.view && state.view.lots) || []) {
      for (const entry of lot.ladder || []) if (entry.bidder) labels[entry.bidder] = entry.label;
    }
    return labels;
  }

  function statusOf(view) {
    return view.cancelled ? "cancelled" : view.finished ? "finished" : view.paused ? "paused" : view.lots.every((l) => l.status === "scheduled") ? "scheduled" : "running";
  }

  function renderAuction() {
    const view = state.view;
    if (!view) return;
    U.showTitle($("auction-title"), view, "title.dashboard");
    const status = statusOf(view);
    $("auction-state").replaceChildren(
      el("span", { class: `state ${status}`, "data-testid": "auction-state", "data-state": status, text: t(`state.${status}`) }),
      " ",
      el("span", { class: "muted small", text: view.auction }),
      " · ",
      el("span", { class: "muted small", text: t("zone.times", { zone: I.zoneLabel() }) }),
    );
    $("protocol-head").textContent = t("protocol.head", { id: view.auction, time: I.dateTime(U.clock.now()) });
    U.banner("paused", view.paused ? pausedText() : "");
    U.banner("ended", view.finished ? t(view.cancelled ? "banner.cancelled" : "banner.ended_official") : "");
    const names = bidderNames();
    $("lots").replaceChildren(...view.lots.map((lot) => renderLot(lot, view, names)));
    const lotSelect = $("control-lot");
    const wanted = [["", t("controls.all_lots")], ...view.lots.map((lot) => [lot.id, lot.title || lot.id])];
    const current = lotSelect.value;
    lotSelect.replaceChildren(...wanted.map(([value, text]) => el("option", { value, text })));
    lotSelect.value = wanted.some(([v]) => v === current) ? current : "";
    $("download-result").disabled = !view.finished;
    renderPeople();
    renderControls();
    const ctx = { names, labels: bidderLabels() };
    U.renderLog($("log"), state.items, view, ctx);
    // Refused bids (a supplier's own or entered for it by an official); refused
    // official actions are told in the events log, in their own words.
    U.renderLog($("rejected"), state.items, view, ctx, ({ event }) =>
      event.type === "command_rejected" && ["place_bid", "cancel_bid", "accept_price"].includes(event.command),
    );
  }

  function pausedText() {
    const reason = U.pauseReason(state.items);
    return reason ? t("banner.paused_official_reason", { reason }) : t("banner.paused_official");
  }

  function renderLot(lot, view, names) {
    const facts = el("dl", { class: "facts" });
    U.stageFacts(facts, lot, view);
    if (lot.format === "rounds" && lot.status === "live") {
      const who = lot.turn ? (names[lot.turn] ? `${names[lot.turn]} (${U.label(lot.turn)})` : U.label(lot.turn)) : "—";
      fact(facts, t("fact.turn"), who, "turn");
    }
    U.priceFact(facts, lot, view);
    U.offerFacts(facts, lot, view);
    fact(facts, t("fact.rejections"), I.integer(lot.rejections || 0));
    if ((lot.disqualified || []).length) {
      fact(facts, t("fact.disqualified"), lot.disqualified.map((id) => (names[id] ? `${names[id]} (${id})` : id)).join(", "), "disqualified");
    }
    if (lot.status === "ended") fact(facts, t("fact.outcome"), U.outcomeName(lot.outcome), "outcome");
    if (lot.status === "ended" && lot.winner) {
      fact(facts, t("fact.winner"), t("winner.line", { name: lot.winner.name, label: U.label(lot.winner.label), amount: money(lot.winner.amount, view) }), "winner");
    }
    if (typeof lot.pending === "number") fact(facts, t("fact.posted_official"), money(lot.pending, view), "pending");
    const scored = lot.scoring !== "price";
    const rows = (lot.ladder || []).map((entry) =>
      el(
        "tr",
        {},
        el("td", { text: entry.rank ? `#${entry.rank}` : "—" }),
        el("td", { text: U.label(entry.label) }),
        el("td", { text: entry.name || names[entry.bidder] || entry.bidder || "" }),
        el("td", { class: "num", text: U.shownAmount(entry, view) }),
        scored ? el("td", { class: "num", text: entry.score ? U.scoreMoney(entry.score, view) : "—" }) : null,
      ),
    );
    return U.lotCard(lot, view, {
      heading: el("h3", { text: t("lot.heading", { lot: lot.title || lot.id, format: t(`format.${lot.format}`) }) }),
      facts,
      events: state.items.map((i) => i.event),
      names,
      ranking: U.table({
        columns: [t("col.rank"), t("col.label"), t("col.supplier"), { class: "num", text: t("col.amount") }, scored ? { class: "num", text: t("col.score") } : null],
        rows,
        empty: t("ranking.empty"),
        attrs: { class: "ranking" },
      }),
    });
  }

  function renderPeople() {
    const people = state.people;
    if (!people) return;
    const rows = people.bidders.map((b) =>
      el(
        "tr",
        { "data-bidder": b.id },
        el("td", { text: b.name }),
        el("td", { class: "small", text: b.id }),
        el("td", { text: b.connections ? t("people.connected", { n: b.connections }) : t("people.not_connected") }),
      ),
    );
    $("people").replaceChildren(
      U.scroller(
        U.table({
          caption: t("people.watching", { public: people.public, officials: people.officials }),
          columns: [t("col.supplier"), t("col.id"), t("col.connection")],
          rows,
        }),
      ),
    );
    const select = $("control-bidder");
    const current = select.value;
    const seen = new Set();
    const options = [];
    for (const b of people.bidders) {
      if (seen.has(b.id)) continue;
      seen.add(b.id);
      options.push(el("option", { value: b.id, text: `${b.name} (${b.id})` }));
    }
    select.replaceChildren(...options);
    if (seen.has(current)) select.value = current;
  }

  // ----------------------------------------------------------- controls
  /* Why an official action cannot be taken now (null: it can). */
  function controlWhy(action) {
    const view = state.view;
    if (!view) return t("why.offline");
    if (state.closed) return t("why.closed");
    if (view.finished) return t("controls.why_finished");
    const chosen = $("control-lot").value;
    const lots = view.lots.filter((l) => !chosen || l.id === chosen);
    const live = lots.some((l) => l.status !== "ended");
    if (!live) return t("controls.why_lot_ended");
    if (action === "pause" && view.paused) return t("controls.why_paused");
    if (action === "resume" && !view.paused) return t("controls.why_not_paused");
    if (action === "extend" && !lots.some((l) => l.status === "live")) return t("controls.why_not_live");
    if (action === "surrogate_bid") {
      if (view.paused) return t("why.paused");
      if (!lots.some((l) => l.status === "live")) return t("controls.why_not_live");
      if (lots.every((l) => l.format === "japanese" || l.format === "dutch")) return t("controls.why_no_bids");
    }
    return null;
  }

  function renderControls() {
    const whys = [];
    for (const button of document.querySelectorAll("#controls [data-action]")) {
      const why = controlWhy(button.dataset.action);
      button.disabled = Boolean(why);
      button.title = why || "";
      if (why && !whys.includes(why)) whys.push(why);
    }
    const finished = state.view && state.view.finished;
    for (const input of document.querySelectorAll("#controls input, #controls select")) input.disabled = Boolean(finished);
    $("controls-why").textContent = finished ? t("controls.why_finished") : "";
  }

  function answer(cls, text) {
    state.answered = [cls, text];
    const node = $("control-answer");
    node.className = `answer ${cls}`;
    node.textContent = typeof text === "function" ? text() : text;
  }

  async function control(action) {
    const view = state.view;
    const body = {};
    const lot = $("control-lot").value;
    const reason = $("reason").value.trim();
    if (lot) body.lot = lot;
    // Only the controls that record a reason take one (the API refuses unknown fields).
    if (reason && ["pause", "cancel", "disqualify"].includes(action)) body.reason = reason;
    const names = bidderNames();
    let question = t(`controls.ask_${action}`);
    if (action === "extend") {
      const seconds = Number($("extend-seconds").value);
      if (!(seconds > 0)) return answer("no", () => t("controls.seconds_needed"));
      body.seconds = seconds;
      question = t("controls.ask_extend_by", { seconds: I.integer(seconds) });
    }
    if (action === "disqualify" || action === "surrogate_bid") {
      body.bidder = $("control-bidder").value;
      const who = names[body.bidder] ? `${names[body.bidder]} (${body.bidder})` : body.bidder;
      question = `${question} ${t("controls.ask_bidder", { who })}${lot ? ` ${t("controls.ask_lot", { lot })}` : ""}`;
    }
    if (action === "surrogate_bid") {
      const amount = U.parseAmount($("surrogate-amount").value, view.currency_exponent);
      if (amount === null || amount <= 0) return answer("no", () => t("controls.amount_needed"));
      body.amount = amount;
      body.bid_id = `s-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
      question = `${question} ${t("controls.ask_amount", { amount: money(amount, view) })}`;
    }
    if (!(await U.confirmDialog(question, t("confirm.confirm")))) return answer("", () => t("controls.nothing_done"));
    try {
      await U.auctionApi(auctionId, `/controls/${action}`, { token: state.token, method: "POST", body });
      answer("ok", () => t(`controls.done_${action}`));
      $("reason").value = ""; // a reason belongs to the action it was typed for
      if (action === "surrogate_bid") $("surrogate-amount").value = "";
      refresh();
    } catch (err) {
      const why = () =>
        action === "surrogate_bid" && I.has(`reason.surrogate.${err.code}`) ? t(`reason.surrogate.${err.code}`) : U.reason(err.code, { view });
      answer("no", () => t("controls.refused", { reason: why() }));
    }
  }

  for (const button of document.querySelectorAll("#controls [data-action]")) {
    button.addEventListener("click", () => control(button.dataset.action));
  }
  $("control-lot").addEventListener("change", renderControls);
  void CONTROL_ACTIONS;

  $("issue-links").addEventListener("click", async () => {
    if (!state.people) await loadPeople();
    const list = $("links");
    list.replaceChildren();
    const seen = new Set();
    for (const b of state.people.bidders) {
      if (seen.has(b.id)) continue;
      seen.add(b.id);
      try {
        const issued = await U.auctionApi(auctionId, "/tokens", { token: state.token, method: "POST", body: { role: "bidder", bidder: b.id } });
        const link = `${location.origin}/bid/${encodeURIComponent(auctionId)}#token=${encodeURIComponent(issued.token)}`;
        list.append(
          el(
            "li",
            { "data-bidder": b.id },
            `${b.name} (${b.id}): `,
            el("a", { href: link, target: "_blank", rel: "noopener noreferrer", text: t("links.page") }),
            " ",
            el("button", {
              type: "button",
              text: t("links.copy"),
              onclick: async (event) => {
                try {
                  await navigator.clipboard.writeText(link);
                  event.target.textContent = t("links.copied");
                } catch (err) {
                  event.target.textContent = t("links.copy_failed");
                }
              },
            }),
          ),
        );
      } catch (err) {
        list.append(el("li", { text: `${b.name}: ${U.reason(err.code)}` }));
      }
    }
  });

  async function download(what, filename, withToken) {
    try {
      const data = await U.auctionApi(auctionId, what, { token: withToken ? state.token : undefined });
      const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
      const url = URL.createObjectURL(blob);
      const a = el("a", { href: url, download: filename });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (err) {
      answer("no", () => t("downloads.failed", { reason: U.reason(err.code) }));
    }
  }

  $("download-result").addEventListener("click", () => download("/result", `${auctionId}-result.json`, false));
  $("download-record").addEventListener("click", () => download("/record", `${auctionId}-record.json`, true));
  $("print").addEventListener("click", () => window.print());

  // -------------------------------------------------------------- start
  async function startAuction() {
    $("auction-page").hidden = false;
    $("public-link").href = `/watch/${encodeURIComponent(auctionId)}`;
    if (!state.peopleTimer) state.peopleTimer = setInterval(loadPeople, 5000);
    await loadPeople(); // names for the log, before the first events arrive
    // The socket takes the token the page has: an official token of this
    // auction, or the operator token (an official of every auction).
    const socket = new U.AuctionSocket(auctionId, state.token, {
      onStatus: (s, detail) => {
        if (s === "closed") state.closed = detail || "closed";
        U.connectionStatus(s, detail, state.refused && s === "closed" ? state.refused : "");
        renderControls();
      },
      onWelcome: (welcome) => {
        state.refused = "";
        state.signedIn = "dashboard.signed_in_official";
        showTokenForm();
        setView(welcome.view);
        loadPeople();
      },
      onResync: (view) => setView(view),
      onEvents: (items) => {
        state.items.push(...items);
        if (state.items.length > 20000) state.items.splice(0, state.items.length - 20000);
        renderAuction();
        refresh();
      },
      onWake: () => {
        refresh();
        loadPeople();
      },
      onError: (message, code) => {
        if (!code || !(code.startsWith("token_") || code === "auth_failed")) return;
        // Refused before the welcome: a token of another auction, expired, forged...
        state.refused = t("dashboard.token_refused");
        say(() => t("dashboard.cannot_open"), false);
        if (code.startsWith("token_")) forgetToken();
      },
    });
    state.socket = socket;
    window.underbidPage = { socket, state, refresh };
    socket.connect();
  }

  async function start() {
    showTokenForm();
    if (!auctionId) {
      $("list-page").hidden = false;
      loadList();
    }
    if (!state.token) {
      say(() => t("dashboard.type_token"));
      return;
    }
    if (state.started) return;
    state.started = true;
    if (auctionId) {
      say("");
      startAuction();
      return;
    }
    const who = await checkOperator();
    if (who === null) {
      forgetToken("dashboard.token_invalid");
      return;
    }
    if (who === "official") {
      state.signedIn = "dashboard.signed_in_official_only";
      say(() => t("dashboard.official_only"));
    } else {
      state.signedIn = who;
      say("");
    }
    showTokenForm();
    setInterval(loadList, 5000);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") loadList();
    });
  }

  U.whenReady(() => {
    I.onChange(() => {
      showTokenForm();
      renderList();
      renderAuction();
      if (state.said) say(...state.said);
      if (state.answered) answer(...state.answered);
    });
    window.addEventListener("resize", () => renderAuction());
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      state.token = $("token").value.trim();
      sessionStorage.setItem(KEY, state.token);
      $("token").value = "";
      start();
    });
    $("forget").addEventListener("click", () => {
      sessionStorage.removeItem(KEY);
      location.reload();
    });
    const creator = window.UnderbidCreate.setUp({ form: $("create-form"), token: () => state.token, onCreated: () => loadList() });
    $("example").addEventListener("click", () => {
      $("spec").value = JSON.stringify(exampleSpec(), null, 2);
    });
    $("json-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const out = $("create-form").querySelector("#create-answer");
      let spec;
      try {
        spec = JSON.parse($("spec").value);
      } catch (err) {
        out.className = "answer no";
        out.textContent = t("create.bad_json");
        return;
      }
      await creator.submit(spec, out, false);
    });
    start();
  });
})();
