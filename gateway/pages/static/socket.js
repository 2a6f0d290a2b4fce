/* Underbid pages: one auction's WebSocket (docs/protocol.md, "underbid.v1.json").
 *
 * hello (token, last_seq); resume without gaps or duplicates after a drop;
 * commands answered once (resent with the same bid_id after a reconnect); the
 * server's clock offset from every frame (Underbid.clock). A close the page
 * cannot recover from (a bad link, too many tabs...) stops it for good: its
 * pending commands are answered at once ("closed") and so is every later one,
 * so that nothing hangs in "Sending…".
 *
 * Status callback: onStatus(state, detailKey) with state "connecting", "live",
 * "down" (will retry) or "closed" (will not), and detailKey an i18n key.
 * A classic script that defines `UnderbidSocket`.
 */
"use strict";

(function () {
  const SUBPROTOCOL = "underbid.v1.json";
  const FATAL_CLOSES = {
    1008: "close.1008",
    4001: "close.4001",
    4003: "close.4003",
    4004: "close.4004",
    4008: "close.4008",
  };

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

  /* callbacks: onWelcome(welcome), onEvents([{seq, event}], serverTime),
   * onResync(view), onStatus(state, detailKey), onError(message, code), onWake(). */
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
      this.state = "connecting";
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
        let fatal = FATAL_CLOSES[event.code];
        if (event.code === 4008 && this.lastError === "too_many_connections") fatal = "close.too_many";
        if (fatal || event.code === 1000) {
          this.stopped = true;
          this.state = "closed";
          this.failPending("closed", "");
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
          this.state = "down";
          this.cb.onStatus("down", "connection.cannot");
        } else {
          this.state = "down";
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
      this.state = "down";
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
          this.state = "live";
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
          this.lastError = data.code;
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
      if (this.stopped) return Promise.resolve({ type: "rejected", bid_id: bidId, code: "closed", message: "" });
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

  window.UnderbidSocket = { AuctionSocket, clock };
})();
