/* Underbid pages: what the three pages share.
 *
 * - AuctionSocket: the WebSocket protocol (docs/protocol.md) with the
 *   "underbid.v1.json" subprotocol: hello (token, last_seq), resume without
 *   gaps or duplicates after a drop, commands answered once (resent with the
 *   same bid_id after a reconnect), the server's clock offset from every frame.
 * - money / parseAmount: amounts are integers in minor units; shown with the
 *   currency and thousands separators (Intl.NumberFormat), parsed back exactly.
 * - countdowns: deadline - (Date.now() + offset), the offset taken from the
 *   server_time of the last frame, so a browser clock that is off does not matter.
 *
 * No dependencies, no build step: a classic script that defines `Underbid`.
 */
"use strict";

(function () {
  const SUBPROTOCOL = "underbid.v1.json";
  const FATAL_CLOSES = {
    1008: "The server closed the connection: the page broke the protocol.",
    4001: "This link is not valid (or has expired). Ask the officials for a new one.",
    4003: "This server does not accept connections from this page's address.",
    4004: "There is no such auction on this server.",
    4008: "Too many connections: close the other tabs of this page.",
  };

  // ------------------------------------------------------------- time
  const clock = {
    offset: 0, // server_time - Date.now(), from the last frame carrying server_time
    known: false,
    observe(serverTime) {
      if (typeof serverTime !== "number") return;
      clock.offset = serverTime - Date.now();
      clock.known = true;
    },
    now() {
      return Date.now() + clock.offset;
    },
  };

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
    for (const el of document.querySelectorAll("[data-deadline]")) {
      const deadline = Number(el.dataset.deadline);
      if (!deadline) continue;
      const left = deadline - now;
      el.dataset.remainingMs = String(Math.max(0, Math.round(left)));
      if (el.dataset.frozen === "true") continue;
      el.textContent = formatDuration(left);
      el.classList.toggle("soon", left < 30000);
    }
  }
  setInterval(tickCountdowns, 250);

  function countdown(deadline, frozen) {
    const span = document.createElement("span");
    span.className = "countdown";
    span.setAttribute("role", "timer");
    if (deadline) {
      span.dataset.deadline = String(deadline);
      span.textContent = formatDuration(deadline - clock.now());
      if (frozen) {
        span.dataset.frozen = "true";
        span.textContent = "paused";
      }
    } else {
      span.textContent = "—";
    }
    return span;
  }

  // ------------------------------------------------------------ money
  function decimalText(amount, exponent) {
    const negative = amount < 0;
    let digits = String(Math.abs(amount));
    if (exponent > 0) {
      digits = digits.padStart(exponent + 1, "0");
      digits = digits.slice(0, -exponent) + "." + digits.slice(-exponent);
    }
    return (negative ? "-" : "") + digits;
  }

  function money(amount, view) {
    if (amount === null || amount === undefined) return "—";
    const exponent = view && Number.isInteger(view.currency_exponent) ? view.currency_exponent : 2;
    const currency = (view && view.currency) || "";
    const text = decimalText(amount, exponent);
    try {
      return new Intl.NumberFormat(undefined, {
        style: "currency",
        currency,
        minimumFractionDigits: exponent,
        maximumFractionDigits: exponent,
      }).format(text);
    } catch (err) {
      const plain = new Intl.NumberFormat(undefined, {
        minimumFractionDigits: exponent,
        maximumFractionDigits: exponent,
      }).format(text);
      return currency ? `${plain} ${currency}` : plain;
    }
  }

  /* "47,500.00", "47 500,5", "47500" -> minor units (an integer), or null. */
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
      const isDecimal =
        (lastDot >= 0 && lastComma >= 0) || (count === 1 && after.length !== 3) ||
        (count === 1 && after.length === 3 && exponent >= 3);
      if (isDecimal) {
        whole = text.slice(0, last);
        fraction = after;
      }
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
  function showTitle(heading, view, suffix) {
    const name = view.title || view.auction;
    document.title = `${name} · ${suffix}`;
    heading.textContent = name;
  }

  function timeOfDay(ms) {
    return new Date(ms).toLocaleTimeString(undefined, { hour12: false });
  }

  function dateTime(ms) {
    return new Date(ms).toLocaleString(undefined, { hour12: false });
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
      throw error;
    }
    if (data && typeof data.server_time === "number") clock.observe(data.server_time);
    return data;
  }

  /* The auction's view as a page keeps it, in state.view.
   *
   * setView(view): keep it, unless it is older (a lower seq) than the one kept,
   * and render it. refresh(): fetch /api/auctions/{id} again (with token(), if
   * given), one request at a time: calls made while one is in flight make it
   * fetch once more when it is done. Errors are left to the connection banner.
   */
  function viewKeeper({ state, auctionId, token, render }) {
    state.view = state.view || null;
    let refreshing = null;
    let again = false;

    function setView(view) {
      if (!view) return;
      if (state.view && typeof view.seq === "number" && view.seq < state.view.seq) return;
      state.view = view;
      render(view);
    }

    async function refresh() {
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

  /* api() on one auction's resource: /api/auctions/{id}{rest}. */
  function auctionApi(auctionId, rest, options) {
    return api(`/api/auctions/${encodeURIComponent(auctionId)}${rest || ""}`, options);
  }

  function tokenFromFragment() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    return params.get("token") || "";
  }

  function auctionIdFromPath(prefix) {
    const rest = location.pathname.slice(prefix.length).replace(/^\/+|\/+$/g, "");
    return rest ? decodeURIComponent(rest.split("/")[0]) : "";
  }

  // ------------------------------------------------------------ socket
  /* One auction's WebSocket with resume and reconnect.
   *
   * callbacks: onWelcome(welcome), onEvents([{seq, event}], serverTime),
   * onResync(view), onStatus(state, detail), onError(message).
   * state: "connecting", "live", "down" (will retry), "closed" (will not).
   */
  class AuctionSocket {
    constructor(auctionId, token, callbacks) {
      this.auctionId = auctionId;
      this.token = token || "";
      this.cb = callbacks;
      this.lastSeq = null; // the last seq processed; null: never welcomed
      this.pending = new Map(); // bid_id -> {message, resolve}
      this.ws = null;
      this.backoff = 250;
      this.retryTimer = null;
      this.stopped = false;
      this.everWelcomed = false;
      this.pingTimer = null;
      this.pongDue = null;
      this.nonce = 0;
      this.held = false; // test hook: keep the connection down
      document.addEventListener("visibilitychange", () => {
        if (document.visibilityState === "visible") this.wake();
      });
      window.addEventListener("online", () => this.wake());
      window.addEventListener("pageshow", () => this.wake());
    }

    url() {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      return `${scheme}//${location.host}/ws/auctions/${encodeURIComponent(this.auctionId)}`;
    }

    connect() {
      // One socket at a time: a wake-up (pageshow, online) may come first.
      if (this.stopped || this.held || this.ws) return;
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
      this.attempts = (this.attempts || 0) + 1;
      this.cb.onStatus("connecting");
      let ws;
      try {
        ws = new WebSocket(this.url(), [SUBPROTOCOL]);
      } catch (err) {
        this.scheduleRetry();
        return;
      }
      this.ws = ws;
      this.welcomed = false;
      ws.onopen = () => {
        // First connection: ask from seq 0, so the history the server still
        // keeps fills the log and the chart; after a drop: resume after the last.
        const lastSeq = this.lastSeq === null ? 0 : this.lastSeq;
        this.resumeFrom = lastSeq;
        ws.send(JSON.stringify({ type: "hello", token: this.token, last_seq: lastSeq }));
      };
      ws.onmessage = (msg) => {
        if (ws !== this.ws) return;
        let data;
        try {
          data = JSON.parse(msg.data);
        } catch (err) {
          return;
        }
        this.receive(data);
      };
      ws.onclose = (event) => {
        if (ws !== this.ws) return;
        this.ws = null;
        clearInterval(this.pingTimer);
        this.pingTimer = null;
        const fatal = FATAL_CLOSES[event.code];
        if (fatal || event.code === 1000) {
          this.stopped = true;
          this.failPending("closed", fatal || "The connection was closed.");
          this.cb.onStatus("closed", fatal || "");
          return;
        }
        if (!this.welcomed) {
          // Failed attempts in a row, on the page for whoever needs to know.
          this.failures = (this.failures || 0) + 1;
          document.body.dataset.failedAttempts = String(this.failures);
        }
        if (!this.everWelcomed && this.failures >= 3) {
          // A browser hides why a handshake failed (a refused Origin looks like a dead server).
          this.cb.onStatus(
            "down",
            "Cannot connect to the auction. Retrying… If this lasts, the server may be down " +
              "or may not accept this page's address (its security.allowed_origins setting).",
          );
        } else {
          this.cb.onStatus("down");
        }
        this.scheduleRetry();
      };
    }

    scheduleRetry() {
      if (this.stopped || this.held || this.retryTimer !== null) return;
      const delay = this.backoff * (0.75 + Math.random() * 0.5);
      this.backoff = Math.min(this.backoff * 2, 4000);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.connect();
      }, delay);
    }

    /* The tab woke up or the network came back: check the line at once. */
    wake() {
      if (this.stopped || this.held) return;
      if (!this.ws) {
        this.backoff = 250;
        this.connect();
      } else if (this.ws.readyState === WebSocket.OPEN) {
        this.ping();
      }
      if (this.cb.onWake) this.cb.onWake();
    }

    ping() {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
      if (this.pongDue !== null && Date.now() > this.pongDue) {
        // No answer to the last ping: the line is dead even if nobody said so.
        this.ws.close(4000, "no pong");
        this.dropped(this.ws);
        return;
      }
      this.nonce += 1;
      this.pingSent = performance.now();
      if (this.pongDue === null) this.pongDue = Date.now() + 10000;
      this.ws.send(JSON.stringify({ type: "ping", nonce: this.nonce }));
    }

    dropped(ws) {
      if (ws !== this.ws) return;
      this.ws = null;
      clearInterval(this.pingTimer);
      this.pingTimer = null;
      this.cb.onStatus("down");
      this.scheduleRetry();
    }

    receive(data) {
      if (typeof data.server_time === "number" && data.type !== "pong") {
        clock.observe(data.server_time);
      }
      switch (data.type) {
        case "welcome": {
          this.welcomed = true;
          this.everWelcomed = true;
          this.failures = 0;
          document.body.dataset.failedAttempts = "0";
          this.backoff = 250;
          // Events after resumeFrom follow (or, if they were too old, the
          // stream goes on after welcome.seq: either way, skip what is not newer).
          this.lastSeq = this.resyncing ? data.seq : Math.min(this.resumeFrom, data.seq);
          this.resyncing = false;
          this.pongDue = null;
          clearInterval(this.pingTimer);
          this.pingTimer = setInterval(() => this.ping(), 15000);
          this.cb.onStatus("live");
          this.cb.onWelcome(data);
          for (const [bidId, entry] of this.pending) {
            this.ws.send(JSON.stringify(entry.message)); // same bid_id: never bids twice
            void bidId;
          }
          break;
        }
        case "resync":
          if (!this.welcomed) this.resyncing = true;
          this.lastSeq = data.seq;
          this.cb.onResync(data.view);
          break;
        case "event":
          this.events([{ seq: data.seq, event: data.event }], data.server_time);
          break;
        case "events":
          this.events(data.items || [], data.server_time);
          break;
        case "ack":
        case "rejected": {
          const entry = this.pending.get(data.bid_id);
          if (entry) {
            this.pending.delete(data.bid_id);
            entry.resolve(data);
          }
          break;
        }
        case "pong":
          this.pongDue = null;
          if (this.pingSent !== undefined) {
            const rtt = performance.now() - this.pingSent;
            clock.observe(data.server_time + rtt / 2);
          }
          break;
        case "error":
          if (this.cb.onError) this.cb.onError(data.message || data.code, data.code);
          break;
        case "slow_consumer":
          break; // the server closes next; we reconnect and resume
        default:
          break; // unknown types are ignored (protocol v1 is additive)
      }
    }

    events(items, serverTime) {
      const fresh = [];
      for (const item of items) {
        if (this.lastSeq !== null && item.seq <= this.lastSeq) continue;
        this.lastSeq = item.seq;
        fresh.push(item);
      }
      if (fresh.length) this.cb.onEvents(fresh, serverTime);
    }

    /* Send a bid/cancel/accept; resolves with the server's ack or rejected. */
    command(message, timeoutMs = 15000) {
      const bidId =
        message.bid_id ||
        `p-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
      const full = { ...message, bid_id: bidId };
      return new Promise((resolve) => {
        this.pending.set(bidId, { message: full, resolve });
        if (this.ws && this.ws.readyState === WebSocket.OPEN && this.welcomed) {
          this.ws.send(JSON.stringify(full));
        }
        setTimeout(() => {
          if (this.pending.has(bidId)) {
            this.pending.delete(bidId);
            resolve({ type: "rejected", bid_id: bidId, code: "timeout", message: "" });
          }
        }, timeoutMs);
      });
    }

    failPending(code, message) {
      for (const [bidId, entry] of this.pending) {
        entry.resolve({ type: "rejected", bid_id: bidId, code, message });
      }
      this.pending.clear();
    }

    // Test hooks (also handy from the console): drop the line, bring it back.
    hold() {
      this.held = true;
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
      if (this.ws) {
        const ws = this.ws;
        ws.close(4000, "held");
        this.dropped(ws);
      }
    }

    release() {
      this.held = false;
      this.backoff = 250;
      this.connect();
    }
  }

  // ------------------------------------------------------- statuses
  function connectionBanner(node, state, detail) {
    // A normal closure (1000: the auction ended) needs no alarm: the page says it ended.
    node.hidden = state === "live" || (state === "closed" && !detail);
    node.dataset.state = state;
    node.className = `banner ${state === "closed" ? "bad" : "warn"}`;
    if (state === "connecting") {
      node.textContent = "Connecting to the auction…";
    } else if (state === "down") {
      node.textContent =
        detail ||
        "Connection lost. Reconnecting… Nothing is lost: missed events appear once the line is back.";
    } else if (state === "closed") {
      node.textContent = detail || "The connection is closed.";
    } else {
      node.textContent = "";
    }
  }

  const REASONS = {
    step_too_small: "The bid does not improve enough on the amount it must beat.",
    above_ceiling: "The bid is above the largest amount allowed.",
    amount_not_positive: "The amount must be greater than zero.",
    not_your_turn: "It is not your turn.",
    auction_not_started: "The auction has not started yet.",
    auction_closed: "Bidding is closed.",
    auction_paused: "The auction is paused by an official.",
    bidder_disqualified: "You were disqualified by an official.",
    bidder_dropped: "You have left this auction.",
    unknown_bidder: "You are not admitted to this lot.",
    unknown_lot: "There is no such lot.",
    lot_required: "Choose a lot.",
    nothing_to_cancel: "There is nothing to cancel in this turn.",
    already_accepted: "You already accepted this price.",
    not_supported: "This auction's format does not allow that.",
    unavailable: "The server could not record it just now. Try again.",
    forbidden: "Only bidders may bid.",
    timeout: "No answer from the server. Check the connection and try again.",
    closed: "The connection is closed.",
    not_paused: "The auction is not paused.",
    already_paused: "The auction is already paused.",
    invalid_extension: "The extension must be positive, for a deadline still ahead.",
  };

  function reason(code, message) {
    return REASONS[code] || message || code || "Refused.";
  }

  /* The reason, and the server's own words after it when they say more. */
  function reasonWithDetail(code, message) {
    const detail = message && reason(code) !== message ? ` (${message})` : "";
    return `${reason(code, message)}${detail}`;
  }

  const STAGES = {
    scheduled: "Scheduled",
    live: "Live",
    ended: "Ended",
    bidding: "Bidding",
    pause: "Pause between rounds",
    round: "Round",
    turn: "Turn",
    turn_over: "Turn over",
    clock: "Clock",
  };

  function stageName(lot) {
    const name = STAGES[lot.stage] || lot.stage || lot.status;
    if (lot.status !== "live") return STAGES[lot.status] || name;
    if (lot.format === "rounds" && lot.round) {
      return `${name} · round ${lot.round} of ${lot.rounds}`;
    }
    if (lot.format === "japanese" && lot.round) return `${name} · round ${lot.round}`;
    if (lot.format === "open" && lot.phases > 1) return `${name} · phase ${lot.phase} of ${lot.phases}`;
    return name;
  }

  /* A sentence for one event, in the auction's own words. */
  function describe(event, view, names) {
    const m = (a) => money(a, view);
    const who = (b) => (b && names && names[b] ? `${names[b]} (${b})` : b || "A bidder");
    switch (event.type) {
      case "lot_started":
        return "The auction started.";
      case "lot_ended": {
        if (event.outcome === "cancelled") return "The auction was cancelled.";
        if (!event.winner) return `The auction ended: ${event.outcome.replace(/_/g, " ")}.`;
        const name = event.winner_name || event.winner;
        return `The auction ended. Winner: ${name} at ${m(event.amount)}.`;
      }
      case "bid_placed":
        return event.amount === null || event.amount === undefined
          ? `${who(event.bidder)} placed a bid.`
          : `${who(event.bidder)} bid ${m(event.amount)}${event.surrogate_by ? ` (entered by ${event.surrogate_by})` : ""}.`;
      case "bid_cancelled":
        return `${who(event.bidder)} cancelled this turn's bid.`;
      case "price_accepted":
        return `${who(event.bidder)} accepted ${m(event.price)}.`;
      case "command_rejected":
        return `Rejected: ${who(event.actor)} (${event.command}${event.amount !== null && event.amount !== undefined ? ` ${m(event.amount)}` : ""}): ${event.message || event.code} [${event.code}]`;
      case "auction_paused":
        return `Paused by an official${event.reason ? `: ${event.reason}` : ""}.`;
      case "auction_resumed":
        return "Resumed; every deadline moved by the pause.";
      case "auction_cancelled":
        return `Cancelled by an official${event.reason ? `: ${event.reason}` : ""}.`;
      case "bidder_disqualified":
        return `${who(event.bidder)} was disqualified${event.reason ? `: ${event.reason}` : ""}.`;
      case "deadline_extended":
        return `An official extended the deadline by ${Math.round(event.ms / 1000)} s.`;
      case "pause_started":
        return `Pause before round ${event.before_round}.`;
      case "round_started":
        return `Round ${event.round} started.`;
      case "turn_started":
        return `Round ${event.round}: ${who(event.bidder)}'s turn.`;
      case "turn_ended":
        return event.changed
          ? `${who(event.bidder)} ended the turn at ${event.amount === null ? "a new score" : m(event.amount)}.`
          : `${who(event.bidder)} kept ${event.amount === null ? "the same offer" : m(event.amount)}.`;
      case "bidding_opened":
        return "Bidding is open.";
      case "phase_started":
        return `Phase ${event.phase} started.`;
      case "close_extended":
        return `A late bid moved the close to ${timeOfDay(event.close_at)}.`;
      case "clock_round_started":
        return `Round ${event.round}: the price is ${m(event.price)}.`;
      case "bidder_dropped":
        return `${who(event.bidder)} left the auction.`;
      case "price_changed":
        return `The price is now ${m(event.price)}.`;
      default:
        return event.type.replace(/_/g, " ");
    }
  }

  /* The price an event puts on the chart: [at, amount] or null. */
  function pricePoint(event) {
    const amount =
      event.type === "bid_placed" || event.type === "turn_ended"
        ? event.amount
        : event.type === "clock_round_started" || event.type === "price_changed"
          ? event.price
          : event.type === "lot_ended"
            ? event.amount
            : null;
    if (typeof amount !== "number") return null;
    return { at: event.at, amount, lot: event.lot || "" };
  }

  /* An SVG chart of price over time: the best (lowest) amount so far, by lot. */
  function priceChart(points, startValue, view, title) {
    const NS = "http://www.w3.org/2000/svg";
    const width = 600;
    const height = 220;
    const pad = { left: 10, right: 10, top: 14, bottom: 22 };
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("class", "chart");
    svg.setAttribute("role", "img");
    const best = [];
    let low = startValue;
    for (const p of points) {
      if (p.amount < low || !best.length) low = Math.min(low, p.amount);
      best.push({ at: p.at, amount: low });
    }
    const label = best.length
      ? `${title}: from ${money(startValue, view)} to ${money(low, view)} over ${best.length} changes`
      : `${title}: no price yet`;
    svg.setAttribute("aria-label", label);
    const t = document.createElementNS(NS, "title");
    t.textContent = label;
    svg.append(t);
    if (!best.length) return svg;
    const t0 = best[0].at;
    const t1 = Math.max(best[best.length - 1].at, t0 + 1);
    const hi = Math.max(startValue, ...best.map((b) => b.amount));
    const lo = Math.min(...best.map((b) => b.amount));
    const span = Math.max(hi - lo, 1);
    const x = (at) => pad.left + ((at - t0) / (t1 - t0)) * (width - pad.left - pad.right);
    const y = (a) => pad.top + ((hi - a) / span) * (height - pad.top - pad.bottom);
    let d = `M ${x(t0).toFixed(1)} ${y(startValue).toFixed(1)}`;
    for (const b of best) d += ` H ${x(b.at).toFixed(1)} V ${y(b.amount).toFixed(1)}`;
    const path = document.createElementNS(NS, "path");
    path.setAttribute("d", d);
    path.setAttribute("class", "line");
    svg.append(path);
    const last = best[best.length - 1];
    const dot = document.createElementNS(NS, "circle");
    dot.setAttribute("cx", x(last.at).toFixed(1));
    dot.setAttribute("cy", y(last.amount).toFixed(1));
    dot.setAttribute("r", "4");
    dot.setAttribute("class", "dot");
    svg.append(dot);
    const top = document.createElementNS(NS, "text");
    top.setAttribute("x", String(pad.left));
    top.setAttribute("y", "11");
    top.textContent = money(hi, view);
    svg.append(top);
    const bottom = document.createElementNS(NS, "text");
    bottom.setAttribute("x", String(pad.left));
    bottom.setAttribute("y", String(height - 6));
    bottom.textContent = `${money(lo, view)} · ${timeOfDay(t0)} – ${timeOfDay(t1)}`;
    svg.append(bottom);
    return svg;
  }

  function savings(startValue, best, view) {
    if (typeof best !== "number") return "—";
    const saved = startValue - best;
    const percent = startValue ? ((saved * 100) / startValue).toFixed(2) : "0";
    return `${money(saved, view)} (${percent} %)`;
  }

  function bestAmount(lot) {
    if (lot.winner && typeof lot.winner.amount === "number") return lot.winner.amount;
    const amounts = (lot.ladder || []).map((e) => e.amount).filter((a) => typeof a === "number");
    return amounts.length ? Math.min(...amounts) : null;
  }

  /* Events into a log (newest first) and, given `points`, their prices for the chart. */
  function logEvents(log, items, view, { names, points } = {}) {
    for (const { seq, event } of items) {
      log.prepend(eventLogItem(seq, event, view, names));
      if (!points) continue;
      const point = pricePoint(event);
      if (point) points.push(point);
    }
  }

  /* A lot's card (dashboard, public view): a heading, its facts beside the
   * chart of its prices (from `points`, every lot's), then the ranking table. */
  function lotCard(lot, view, { heading, facts, points, ranking }) {
    const own = points.filter((p) => !p.lot || p.lot === lot.id);
    return el(
      "section",
      { class: "card", "data-lot": lot.id, "aria-label": `Lot ${lot.title || lot.id}` },
      heading,
      el("div", { class: "grid two" }, el("div", {}, facts), priceChart(own, lot.start_value, view, "Price over time")),
      el("h3", { text: "Ranking" }),
      el("div", { class: "table-wrap" }, ranking),
    );
  }

  // ------------------------------------------------------------ facts
  /* One term of a <dl class="facts">; testId marks the value (data-testid). */
  function fact(dl, term, value, testId) {
    dl.append(el("dt", { text: term }), el("dd", { "data-testid": testId || null }, value));
  }

  /* What every page shows first about a lot: its stage and the time left
   * (an open lot's close, which late bids move, else the lot's deadline). */
  function stageFacts(dl, lot, view) {
    const live = lot.status === "live";
    const deadline = lot.format === "open" && lot.close_at ? lot.close_at : lot.deadline;
    fact(dl, "Stage", stageName(lot), "stage");
    fact(dl, "Time left", countdown(live ? deadline : null, view.paused), "countdown");
  }

  /* The current price, for the formats whose price moves by the clock. */
  function priceFact(dl, lot, view) {
    if (lot.format === "japanese" || lot.format === "dutch") {
      fact(dl, "Current price", money(lot.price, view), "price");
      if (lot.status === "live") fact(dl, "Next price", money(lot.next_price, view), "next-price");
    }
    if (lot.format === "japanese" && lot.status === "live") {
      fact(dl, "In / confirmed", `${lot.in} / ${lot.confirmed}`, "in-confirmed");
    }
  }

  /* Starting price, best offer so far and what it saves. */
  function offerFacts(dl, lot, view) {
    const best = bestAmount(lot);
    fact(dl, "Starting price", money(lot.start_value, view));
    fact(dl, "Best offer", money(best, view), "best");
    fact(dl, "Savings", savings(lot.start_value, best, view), "savings");
  }

  /* A table. columns: header texts, or attributes for the <th> ({ text, class });
   * null ones are left out. With no rows and an `empty` text, one row says it
   * (across emptySpan columns, by default all of them). */
  function table({ caption, columns, rows, empty, emptySpan }) {
    const shown = columns.filter((c) => c !== null && c !== undefined && c !== false);
    const heads = shown.map((c) => el("th", { scope: "col", ...(typeof c === "string" ? { text: c } : c) }));
    const body =
      rows.length || !empty
        ? rows
        : el("tr", {}, el("td", { colspan: emptySpan || shown.length, class: "muted", text: empty }));
    return el(
      "table",
      {},
      caption ? el("caption", { class: "muted small", text: caption }) : null,
      el("thead", {}, el("tr", {}, heads)),
      el("tbody", {}, body),
    );
  }

  function eventLogItem(seq, event, view, names) {
    return el(
      "li",
      { "data-seq": seq, "data-type": event.type },
      el("time", { datetime: new Date(event.at).toISOString() }, timeOfDay(event.at)),
      " ",
      describe(event, view, names),
    );
  }

  /* A modal question with Confirm / Back buttons (keyboard: Enter, Escape). */
  function confirmDialog(question, confirmLabel = "Confirm") {
    return new Promise((resolve) => {
      const dialog = el(
        "dialog",
        { class: "confirm", "aria-labelledby": "confirm-q" },
        el("p", { id: "confirm-q", text: question }),
        el(
          "form",
          { method: "dialog", class: "row" },
          el("button", { value: "yes", class: "primary", text: confirmLabel }),
          el("button", { value: "no", text: "Back", autofocus: true }),
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

  /* What the ranking shows for an entry's amount. */
  function shownAmount(entry, view) {
    if (typeof entry.amount === "number") return money(entry.amount, view);
    if (entry.score) return `score ${entry.score}`;
    return entry.rank ? "hidden" : "no bid";
  }

  window.Underbid = {
    shownAmount,
    confirmDialog,
    AuctionSocket,
    api,
    auctionApi,
    auctionIdFromPath,
    bestAmount,
    clock,
    connectionBanner,
    countdown,
    dateTime,
    describe,
    el,
    eventLogItem,
    fact,
    formatDuration,
    logEvents,
    lotCard,
    money,
    offerFacts,
    parseAmount,
    priceChart,
    priceFact,
    pricePoint,
    reason,
    reasonWithDetail,
    savings,
    showTitle,
    stageFacts,
    stageName,
    table,
    tickCountdowns,
    timeOfDay,
    tokenFromFragment,
    viewKeeper,
  };
})();
