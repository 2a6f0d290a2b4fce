/* "Verify this auction" on the public page (docs/record.md, docs/pages.md):
 * the latest signed root of the auction's transparency log, the key that
 * signed it, and the commands a citizen runs to check the whole record.
 * Self-contained: it only reads GET /api/auctions/{id}/checkpoint and the
 * public key list, every few seconds while the page is open. Its words come
 * from the pages' catalogues (i18n.js), like every other text of the page. */
"use strict";

(function () {
  const section = document.getElementById("verify");
  if (!section) return;
  const parts = window.location.pathname.split("/");
  const auctionId = decodeURIComponent(parts[parts.length - 1] || "");
  const base = window.location.origin;
  const api = `${base}/api/auctions/${encodeURIComponent(auctionId)}`;
  const REFRESH_MS = 5000;
  const I = window.UnderbidI18n;
  const t = I.t;

  function item(dl, label, value, id) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    const code = document.createElement("code");
    code.className = "link";
    code.translate = false; // a root, a key name: not words of any language
    code.textContent = value;
    if (id) code.id = id;
    dd.appendChild(code);
    dl.append(dt, dd);
  }

  function render(checkpoint, keys) {
    const body = document.getElementById("verify-body");
    const dl = document.createElement("dl");
    dl.className = "facts";
    item(dl, t("verify.size"), String(checkpoint.size), "verify-size");
    item(dl, t("verify.root"), checkpoint.root, "verify-root");
    item(dl, t("verify.signed_by"), checkpoint.keys.join(", "), "verify-key");
    const windows = (keys.keys || [])
      .map((k) => `${k.name}+${k.key_id}: ${k.not_before || t("verify.always")} – ${k.not_after || t("verify.no_end")}`)
      .join("; ");
    item(dl, t("verify.windows"), windows || "—", "verify-windows");
    const steps = document.createElement("pre");
    steps.id = "verify-command";
    steps.className = "table-wrap";
    steps.translate = false;
    steps.tabIndex = 0; // it scrolls sideways on a phone: the keyboard must reach it
    steps.setAttribute("aria-label", t("verify.commands"));
    steps.textContent =
      `curl -o record.json ${api}/record\n` +
      `underbid verify record.json --keys-url ${base}/.well-known/underbid-keys.json`;
    const note = document.createElement("p");
    note.className = "muted small";
    note.textContent = (keys.ephemeral ? `${t("verify.ephemeral")} ` : "") + t("verify.explain");
    body.replaceChildren(dl, steps, note);
    shown = [checkpoint, keys];
  }

  let shown = null;
  I.onChange(() => {
    if (shown) render(...shown);
  });

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

  I.ready.then(() => {
    refresh();
    window.setInterval(refresh, REFRESH_MS);
  });
})();
