/* The officials' dashboard: /dashboard (every auction, create one) and
 * /dashboard/{auction} (the live view and the controls).
 *
 * The operator (or an official) token is typed once and kept in
 * sessionStorage (this tab only); a link may also carry it as #token=...,
 * which is moved to sessionStorage and taken off the address bar. */
"use strict";

(function () {
  const U = window.Underbid;
  const { el, fact, money } = U;
  const $ = (id) => document.getElementById(id);
  const KEY = "underbid.token";
  const auctionId = U.auctionIdFromPath("/dashboard");
  const state = {
    token: "",
    view: null,
    people: null,
    points: [],
    socket: null,
  };

  // ------------------------------------------------------------ token
  const fromLink = U.tokenFromFragment();
  if (fromLink) {
    sessionStorage.setItem(KEY, fromLink);
    history.replaceState(null, "", location.pathname + location.search);
  }
  state.token = sessionStorage.getItem(KEY) || "";

  function say(text, ok) {
    const node = $("message");
    node.className = `answer ${ok === false ? "no" : ok ? "ok" : ""}`;
    node.textContent = text;
  }

  function showTokenForm() {
    $("token-form").hidden = Boolean(state.token);
    $("signed-in").hidden = !state.token;
  }

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token").value.trim();
    sessionStorage.setItem(KEY, state.token);
    $("token").value = "";
    showTokenForm();
    start();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    location.reload();
  });

  // ------------------------------------------------------------- list
  async function loadList() {
    try {
      const data = await U.api("/api/auctions");
      const rows = data.auctions.map((a) => {
        const scheduled = a.state === "running" && a.start_at > data.server_time;
        const stateName = scheduled ? "scheduled" : a.state;
        return el(
          "tr",
          { "data-auction": a.id },
          el("td", {}, el("a", { href: `/dashboard/${encodeURIComponent(a.id)}` }, a.title || a.id), el("div", { class: "muted small", text: a.id })),
          el("td", { text: (a.formats || []).join(", ") }),
          el("td", {}, el("span", { class: `state ${stateName}`, text: stateName })),
          el("td", {}, a.start_at ? (scheduled ? U.countdown(a.start_at) : U.dateTime(a.start_at)) : "—"),
          el("td", {}, a.next_deadline && a.state === "running" ? U.countdown(a.next_deadline) : "—"),
          el("td", {}, a.public ? el("a", { href: `/watch/${encodeURIComponent(a.id)}`, text: "Public view" }) : "not public"),
        );
      });
      $("auctions").tBodies[0].replaceChildren(
        ...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 6, class: "muted", text: "No auctions yet." }))]),
      );
    } catch (err) {
      say(`Could not list the auctions: ${err.message}`, false);
    }
  }

  function exampleSpec() {
    const id = `auction-${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, "")}`;
    return {
      id,
      title: "Office paper, 12 months",
      currency: "EUR",
      start_at: Math.round(U.clock.now() + 60000),
      format: "open",
      start_value: 8000000,
      open: { duration_s: 600, decrement: 10000 },
      bidders: [
        { id: "b1", name: "Papyrus BV" },
        { id: "b2", name: "Blatt & Co KG" },
        { id: "b3", name: "Folio SA" },
      ],
    };
  }

  $("example").addEventListener("click", () => {
    $("spec").value = JSON.stringify(exampleSpec(), null, 2);
  });

  $("create-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    let spec;
    try {
      spec = JSON.parse($("spec").value);
    } catch (err) {
      say(`The spec is not valid JSON: ${err.message}`, false);
      return;
    }
    try {
      const created = await U.api("/api/auctions", { token: state.token, method: "POST", body: spec });
      say(`Created ${created.id}.`, true);
      $("message").append(" ", el("a", { href: `/dashboard/${encodeURIComponent(created.id)}`, text: "Open its live view" }));
      loadList();
    } catch (err) {
      say(`Not created: ${err.message}`, false);
    }
  });

  // ------------------------------------------------------- live view
  const { setView, refresh } = U.viewKeeper({
    state,
    auctionId,
    token: () => state.token,
    render: renderAuction,
  });

  async function loadPeople() {
    if (!state.token) return;
    try {
      state.people = await U.auctionApi(auctionId, "/people", { token: state.token });
      renderPeople();
    } catch (err) {
      /* shown next time */
    }
  }

  function renderAuction() {
    const view = state.view;
    U.showTitle($("auction-title"), view, "dashboard");
    const status = view.cancelled ? "cancelled" : view.finished ? "finished" : view.paused ? "paused" : "running";
    $("auction-state").replaceChildren(
      el("span", { class: `state ${status}`, "data-testid": "auction-state", text: status }),
      " ",
      el("span", { class: "muted small", text: view.auction }),
    );
    $("paused").hidden = !view.paused;
    $("lots").replaceChildren(...view.lots.map((lot) => renderLot(lot, view)));
    const lotSelect = $("control-lot");
    if (lotSelect.options.length !== view.lots.length + 1) {
      lotSelect.replaceChildren(
        el("option", { value: "", text: "All lots" }),
        ...view.lots.map((lot) => el("option", { value: lot.id, text: lot.title || lot.id })),
      );
    }
    $("download-result").disabled = !view.finished;
  }

  function renderLot(lot, view) {
    const facts = el("dl", { class: "facts" });
    U.stageFacts(facts, lot, view);
    if (lot.format === "rounds") fact(facts, "Turn", lot.turn || "—", "turn");
    U.priceFact(facts, lot, view);
    U.offerFacts(facts, lot, view);
    fact(facts, "Rejections", String(lot.rejections || 0));
    if ((lot.disqualified || []).length) {
      const names = bidderNames();
      const who = lot.disqualified.map((id) => (names[id] ? `${names[id]} (${id})` : id));
      fact(facts, "Disqualified", who.join(", "), "disqualified");
    }
    if (lot.status === "ended") fact(facts, "Outcome", String(lot.outcome || "").replace(/_/g, " "), "outcome");
    const pending = lot.pending !== undefined && lot.pending !== null ? money(lot.pending, view) : null;
    if (pending) fact(facts, "Posted this turn", pending);
    const rows = (lot.ladder || []).map((entry) =>
      el(
        "tr",
        {},
        el("td", { text: entry.rank ? `#${entry.rank}` : "—" }),
        el("td", { text: entry.label }),
        el("td", { text: entry.name || entry.bidder || "" }),
        el("td", { class: "num", text: U.shownAmount(entry, view) }),
        lot.scoring !== "price" ? el("td", { class: "num", text: entry.score || "—" }) : null,
      ),
    );
    return U.lotCard(lot, view, {
      heading: el("h3", { text: `Lot ${lot.title || lot.id} · ${lot.format}` }),
      facts,
      points: state.points,
      ranking: U.table({
        columns: [
          "Rank",
          "Label",
          "Supplier",
          { class: "num", text: "Amount" },
          lot.scoring !== "price" ? { class: "num", text: "Score" } : null,
        ],
        rows,
        empty: "No bids yet.",
        emptySpan: 4,
      }),
    });
  }

  function bidderNames() {
    const names = {};
    for (const b of (state.people && state.people.bidders) || []) names[b.id] = b.name;
    return names;
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
        el("td", { text: b.connections ? `connected (${b.connections})` : "not connected" }),
      ),
    );
    $("people").replaceChildren(
      U.table({
        caption: `Watching: ${people.public} public, ${people.officials} officials`,
        columns: ["Supplier", "Id", "Connection"],
        rows,
      }),
    );
    const select = $("control-bidder");
    const seen = new Set();
    const options = [];
    for (const b of people.bidders) {
      if (seen.has(b.id)) continue;
      seen.add(b.id);
      options.push(el("option", { value: b.id, text: `${b.name} (${b.id})` }));
    }
    if (select.options.length !== options.length) select.replaceChildren(...options);
  }

  // ----------------------------------------------------------- controls
  const CONTROL_TEXT = {
    pause: ["Pause the auction? Every deadline stops until it resumes.", "Paused."],
    resume: ["Resume the auction? Deadlines move by the length of the pause.", "Resumed."],
    cancel: ["Cancel the auction? This cannot be undone.", "Cancelled."],
    extend: ["Extend the current deadline?", "Extended."],
    disqualify: ["Disqualify this bidder? This cannot be undone.", "Disqualified."],
    surrogate_bid: ["Place this bid for the bidder (a surrogate bid, recorded with your name)?", "Surrogate bid accepted."],
  };

  async function control(action) {
    const answer = $("control-answer");
    const body = {};
    const lot = $("control-lot").value;
    const reason = $("reason").value.trim();
    if (lot) body.lot = lot;
    // Only the controls that record a reason take one (the API refuses unknown fields).
    if (reason && ["pause", "cancel", "disqualify"].includes(action)) body.reason = reason;
    let question = CONTROL_TEXT[action][0];
    if (action === "extend") {
      const seconds = Number($("extend-seconds").value);
      if (!(seconds > 0)) {
        answer.className = "answer no";
        answer.textContent = "Type a number of seconds above zero.";
        return;
      }
      body.seconds = seconds;
      question = `Extend the current deadline by ${seconds} s?`;
    }
    if (action === "disqualify" || action === "surrogate_bid") {
      body.bidder = $("control-bidder").value;
      const name = bidderNames()[body.bidder];
      question = `${question} Bidder: ${name ? `${name} (${body.bidder})` : body.bidder}${lot ? `, lot ${lot}` : ""}.`;
    }
    if (action === "surrogate_bid") {
      const amount = U.parseAmount($("surrogate-amount").value, state.view.currency_exponent);
      if (amount === null || amount <= 0) {
        answer.className = "answer no";
        answer.textContent = "Type the amount to bid for the bidder.";
        return;
      }
      body.amount = amount;
      body.bid_id = `s-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
      question = `${question} Amount: ${money(amount, state.view)}.`;
    }
    if (!(await U.confirmDialog(question, "Confirm"))) {
      answer.className = "answer";
      answer.textContent = "Nothing was done.";
      return;
    }
    try {
      await U.auctionApi(auctionId, `/controls/${action}`, { token: state.token, method: "POST", body });
      answer.className = "answer ok";
      answer.textContent = CONTROL_TEXT[action][1];
      refresh();
    } catch (err) {
      answer.className = "answer no";
      answer.textContent = `Refused: ${U.reasonWithDetail(err.code, err.message)}`;
    }
  }

  for (const button of document.querySelectorAll("#controls [data-action]")) {
    button.addEventListener("click", () => control(button.dataset.action));
  }

  $("issue-links").addEventListener("click", async () => {
    if (!state.people) await loadPeople();
    const list = $("links");
    list.replaceChildren();
    const seen = new Set();
    for (const b of state.people.bidders) {
      if (seen.has(b.id)) continue;
      seen.add(b.id);
      try {
        const issued = await U.auctionApi(auctionId, "/tokens", {
          token: state.token,
          method: "POST",
          body: { role: "bidder", bidder: b.id },
        });
        const link = `${location.origin}/bid/${encodeURIComponent(auctionId)}#token=${encodeURIComponent(issued.token)}`;
        list.append(
          el(
            "li",
            { "data-bidder": b.id },
            `${b.name} (${b.id}): `,
            el("a", { href: link, target: "_blank", rel: "noopener noreferrer", text: "bidder's page" }),
            " ",
            el("button", {
              type: "button",
              text: "Copy link",
              onclick: async (event) => {
                try {
                  await navigator.clipboard.writeText(link);
                  event.target.textContent = "Copied";
                } catch (err) {
                  event.target.textContent = "Copy failed: open the link and copy its address";
                }
              },
            }),
          ),
        );
      } catch (err) {
        list.append(el("li", { text: `${b.name}: ${err.message}` }));
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
      const answer = $("control-answer");
      answer.className = "answer no";
      answer.textContent = `Could not download: ${err.message}`;
    }
  }

  $("download-result").addEventListener("click", () =>
    download("/result", `${auctionId}-result.json`, false),
  );
  $("download-record").addEventListener("click", () =>
    download("/record", `${auctionId}-record.json`, true),
  );

  // -------------------------------------------------------------- start
  async function startAuction() {
    $("auction-page").hidden = false;
    $("public-link").href = `/watch/${encodeURIComponent(auctionId)}`;
    const rejected = $("rejected");
    const log = $("log");
    if (!state.peopleTimer) state.peopleTimer = setInterval(loadPeople, 5000);
    await loadPeople(); // names for the log, before the first events arrive
    // The socket takes the token the page has: an official token of this
    // auction, or the operator token (an official of every auction).
    const socket = new U.AuctionSocket(auctionId, state.token, {
      onStatus: (s, detail) =>
        U.connectionBanner($("connection"), s, state.refused && s === "closed" ? state.refused : detail),
      onWelcome: (welcome) => {
        state.refused = "";
        setView(welcome.view);
        loadPeople();
      },
      onResync: (view) => setView(view),
      onEvents: (items) => {
        const names = bidderNames();
        U.logEvents(log, items, state.view, { names, points: state.points });
        const refusals = items.filter(({ event }) => event.type === "command_rejected");
        U.logEvents(rejected, refusals, state.view, { names });
        refresh();
      },
      onWake: () => {
        refresh();
        loadPeople();
      },
      onError: (message, code) => {
        if (!code || !(code.startsWith("token_") || code === "auth_failed")) return;
        // Refused before the welcome: a token of another auction, expired, forged...
        state.refused = `This token does not open this auction (${message}). Type another one.`;
        say(`Cannot open this auction: ${message}.`, false);
        if (code.startsWith("token_")) {
          sessionStorage.removeItem(KEY);
          state.token = "";
          state.started = false;
          showTokenForm();
        }
      },
    });
    state.socket = socket;
    window.underbidPage = { socket, state, refresh };
    socket.connect();
  }

  function start() {
    showTokenForm();
    if (!state.token) {
      say("Type the operator token (printed by `underbid serve` and `underbid demo`) or an official's token.");
      if (!auctionId) {
        $("list-page").hidden = false;
        loadList();
      }
      return;
    }
    say("");
    if (state.started) return;
    state.started = true;
    if (auctionId) {
      startAuction();
    } else {
      $("list-page").hidden = false;
      loadList();
      setInterval(loadList, 5000);
      document.addEventListener("visibilitychange", () => {
        if (document.visibilityState === "visible") loadList();
      });
    }
  }

  start();
})();
