/* "Verify this auction" on the public page (docs/record.md, docs/pages.md):
 * the latest signed root of the auction's transparency log, the key that
 * signed it, and the commands a citizen runs to check the whole record.
 * Self-contained: it only reads GET /api/auctions/{id}/checkpoint and the
 * public key list, every few seconds while the page is open. */
"use strict";

(function () {
  const section = document.getElementById("verify");
  if (!section) return;
  const parts = window.location.pathname.split("/");
  const auctionId = decodeURIComponent(parts[parts.length - 1] || "");
  const base = window.location.origin;
  const api = `${base}/api/auctions/${encodeURIComponent(auctionId)}`;
  const REFRESH_MS = 5000;

  function item(dl, label, value, id) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    const code = document.createElement("code");
    code.className = "link";
    code.textContent = value;
    if (id) code.id = id;
    dd.appendChild(code);
    dl.append(dt, dd);
  }

  function render(checkpoint, keys) {
    const body = document.getElementById("verify-body");
    const dl = document.createElement("dl");
    dl.className = "facts";
    item(dl, "Events signed", String(checkpoint.size), "verify-size");
    item(dl, "Signed root (RFC 9162)", checkpoint.root, "verify-root");
    item(dl, "Signed by", checkpoint.keys.join(", "), "verify-key");
    const windows = (keys.keys || [])
      .map((k) => `${k.name}+${k.key_id}: ${k.not_before || "always"} – ${k.not_after || "no end"}`)
      .join("; ");
    item(dl, "Key validity", windows || "—", "verify-windows");
    const steps = document.createElement("pre");
    steps.id = "verify-command";
    steps.className = "table-wrap";
    steps.textContent =
      `curl -o record.json ${api}/record\n` +
      `underbid verify record.json --keys-url ${base}/.well-known/underbid-keys.json`;
    const note = document.createElement("p");
    note.className = "muted small";
    note.textContent =
      (keys.ephemeral
        ? "This server signs with a temporary key: its signatures cannot be checked after it restarts. "
        : "") +
      "The full record is published once the auction has ended; the command checks every " +
      "signature, every event and the result, and names the first thing that does not hold.";
    body.replaceChildren(dl, steps, note);
  }

  let keys = null;
  async function refresh() {
    try {
      if (!keys) {
        const answer = await fetch(`${base}/.well-known/underbid-keys.json`);
        if (answer.ok) keys = await answer.json();
      }
      const answer = await fetch(`${api}/checkpoint`);
      if (answer.ok && keys) {
        render(await answer.json(), keys);
        section.hidden = false;
      }
    } catch (err) {
      /* offline for a moment: the next refresh tries again */
    }
  }

  refresh();
  window.setInterval(refresh, REFRESH_MS);
})();
