/* The dashboard's webhook panel (/dashboard, operators only): every endpoint
 * with its state and the outbox's counts, from GET /api/webhooks every 5 s;
 * a disabled endpoint (it answered 410 Gone) gets an "Enable" button.
 * Hidden when no endpoint is configured or the token is not an operator's.
 * Its words come from the catalogues (webhooks.*), like every page's. */
"use strict";

(function () {
  const U = window.Underbid;
  const I = U.i18n;
  const { el } = U;
  const $ = (id) => document.getElementById(id);
  if (U.auctionIdFromPath("/dashboard")) return; // the list page only
  const token = () => sessionStorage.getItem("underbid.token") || "";
  let last = null;

  function lastProblem(endpoint) {
    const latest = [...endpoint.waiting, ...endpoint.dead_recent]
      .filter((d) => d.last_error)
      .sort((a, b) => (b.finished_at || b.created_at) - (a.finished_at || a.created_at))[0];
    if (!latest) return "—";
    return I.t("webhooks.last_problem", { kind: latest.kind, error: latest.last_error, count: latest.attempts });
  }

  function row(endpoint) {
    const stateCell = el(
      "td",
      {},
      endpoint.disabled
        ? el("span", { class: "state paused", text: I.t("webhooks.disabled") })
        : el("span", { class: "state running", text: I.t("webhooks.enabled") }),
    );
    if (endpoint.disabled) {
      stateCell.append(el("div", { class: "muted small", text: endpoint.disabled }));
      const button = el("button", { type: "button", text: I.t("webhooks.enable"), "data-endpoint": endpoint.name });
      button.addEventListener("click", () => enable(endpoint.name, button));
      stateCell.append(button);
    }
    return el(
      "tr",
      { "data-endpoint": endpoint.name },
      el("td", {}, el("strong", { text: endpoint.name }), el("div", { class: "muted small", text: endpoint.url })),
      stateCell,
      el("td", { class: "num", text: I.integer(endpoint.pending) }),
      el("td", { class: "num", text: I.integer(endpoint.delivered) }),
      el("td", { class: "num", text: I.integer(endpoint.dead) }),
      el("td", { class: "small", text: lastProblem(endpoint) }),
    );
  }

  function render() {
    if (!last) return;
    $("webhooks-section").hidden = last.endpoints.length === 0;
    $("webhooks").tBodies[0].replaceChildren(...last.endpoints.map(row));
  }

  async function load() {
    if (!token()) return;
    try {
      last = await U.api("/api/webhooks", { token: token() });
    } catch (err) {
      last = null;
      $("webhooks-section").hidden = true; // not an operator, or the server is away
      return;
    }
    render();
  }

  async function enable(name, button) {
    button.disabled = true;
    try {
      await U.api(`/api/webhooks/${encodeURIComponent(name)}/enable`, { token: token(), method: "POST" });
    } catch (err) {
      button.disabled = false;
      button.title = err.message;
    }
    load();
  }

  I.ready.then(() => {
    I.onChange(render);
    load();
    setInterval(load, 5000);
    window.addEventListener("storage", load);
    $("token-form").addEventListener("submit", () => setTimeout(load, 0));
  });
})();
