/* The dashboard's form to create an auction of any format (docs/spec.md).
 *
 * One lot, the format's own settings, the admitted bidders (with their sealed
 * bids); amounts are typed as money and sent in minor units; the start is a
 * wall-clock time in the auction's own time zone. Every control carries the
 * spec path it fills (data-field, as in `bidders[1].amount`), so that the
 * server's 422 invalid_spec problem, which names that path in `field`, is
 * shown at the control itself. Specs the form cannot express (several lots,
 * features) are pasted as JSON below it.
 *
 * A classic script that defines `UnderbidCreate`.
 */
"use strict";

(function () {
  const FORMATS = {
    open: [
      ["open.duration_s", "number", 600],
      ["open.decrement", "amount", "1000"],
      ["open.dynamic_close_s", "number", 0],
    ],
    rounds: [
      ["minimal_step", "amount", "1000"],
      ["rounds.rounds", "number", 3],
      ["rounds.first_pause_s", "number", 300],
      ["rounds.turn_s", "number", 120],
      ["rounds.pause_s", "number", 120],
    ],
    japanese: [
      ["japanese.round_s", "number", 60],
      ["japanese.step", "amount", "1000"],
      ["japanese.floor", "amount", "1"],
    ],
    dutch: [
      ["dutch.start_price", "amount", "60000"],
      ["dutch.limit_price", "amount", "100000"],
      ["dutch.step", "amount", "1000"],
      ["dutch.interval_s", "number", 10],
    ],
  };

  /* Milliseconds of a wall-clock "YYYY-MM-DDTHH:MM" in `zone` (two passes settle DST). */
  function wallClockToMs(value, zone) {
    const match = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)/.exec(value || "");
    if (!match) return null;
    const [y, mo, d, h, mi] = match.slice(1).map(Number);
    const wanted = Date.UTC(y, mo - 1, d, h, mi);
    let guess = wanted;
    for (let i = 0; i < 2; i += 1) guess = wanted - offsetAt(guess, zone);
    return guess;
  }

  function offsetAt(ms, zone) {
    const parts = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    }).formatToParts(ms);
    const get = (type) => Number(parts.find((p) => p.type === type).value);
    return Date.UTC(get("year"), get("month") - 1, get("day"), get("hour") % 24, get("minute"), get("second")) - Math.floor(ms / 1000) * 1000;
  }

  function msToWallClock(ms, zone) {
    const local = ms + offsetAt(ms, zone);
    return new Date(local).toISOString().slice(0, 16);
  }

  function setUp({ form, token, onCreated }) {
    const U = window.Underbid;
    const { el, t } = U;
    const I = U.i18n;
    const state = { bidders: 3 };

    function fieldRow(path, kind, value, extra) {
      const id = `f-${path.replace(/[^A-Za-z0-9]/g, "-")}`;
      const input =
        kind === "select"
          ? el("select", { id, "data-field": path }, extra.map((o) => el("option", { value: o, text: extra.labels ? extra.labels[o] : o })))
          : el("input", {
              id,
              "data-field": path,
              "data-kind": kind,
              type: kind === "number" ? "number" : kind === "datetime" ? "datetime-local" : kind === "checkbox" ? "checkbox" : "text",
              inputmode: kind === "amount" ? "decimal" : null,
              min: kind === "number" ? "0" : null,
              autocomplete: "off",
              "aria-describedby": `${id}-error`,
            });
      if (kind === "checkbox") input.checked = Boolean(value);
      else if (value !== undefined && value !== null) input.value = String(value);
      return el(
        "div",
        { class: "field", "data-for": path },
        el("label", { for: id, text: t(`create.f.${path.replace(/\[\d+\]/g, "")}`) }),
        input,
        el("span", { id: `${id}-error`, class: "field-error", role: "alert" }),
      );
    }

    /* Clock formats start from no bid: only open and rounds take sealed bids. */
    function sealedBids() {
      const select = form.querySelector("[data-field=format]");
      return !select || select.value === "open" || select.value === "rounds";
    }

    function bidderRows() {
      const rows = [];
      for (let i = 0; i < state.bidders; i += 1) {
        rows.push(
          el(
            "fieldset",
            { class: "bidder", "data-index": i },
            el("legend", { text: t("create.bidder_n", { n: i + 1 }) }),
            fieldRow(`bidders[${i}].id`, "text", `s${i + 1}`),
            fieldRow(`bidders[${i}].name`, "text", ""),
            sealedBids() ? fieldRow(`bidders[${i}].amount`, "amount", "") : null,
          ),
        );
      }
      return rows;
    }

    function build() {
      const zone = I.zone && I.zone !== "UTC" ? I.zone : "Europe/Kyiv";
      const startIn = msToWallClock(U.clock.now() + 10 * 60000, zone);
      const format = fieldRow("format", "select", "open", Object.assign(["open", "rounds", "japanese", "dutch"], {
        labels: { open: t("format.open"), rounds: t("format.rounds"), japanese: t("format.japanese"), dutch: t("format.dutch") },
      }));
      const currency = fieldRow("currency", "select", "UAH", ["UAH", "EUR", "USD"]);
      form.replaceChildren(
        el(
          "div",
          { class: "grid two" },
          el(
            "fieldset",
            {},
            el("legend", { text: t("create.auction") }),
            fieldRow("id", "text", `auction-${new Date().toISOString().slice(0, 16).replace(/[-:T]/g, "")}`),
            fieldRow("title", "text", ""),
            currency,
            fieldRow("time_zone", "text", zone),
            fieldRow("start_at", "datetime", startIn),
            fieldRow("public", "checkbox", true),
          ),
          el("fieldset", { id: "format-fields" }, el("legend", { text: t("create.lot") }), format, fieldRow("start_value", "amount", "100000"), el("div", { id: "format-specific" })),
        ),
        el("div", { id: "bidder-rows", class: "bidders" }, bidderRows()),
        el(
          "div",
          { class: "row" },
          el("button", { type: "button", id: "add-bidder", text: t("create.add_bidder"), onclick: () => resizeBidders(1) }),
          el("button", { type: "button", id: "remove-bidder", text: t("create.remove_bidder"), onclick: () => resizeBidders(-1) }),
          el("button", { type: "submit", class: "primary", text: t("create.submit") }),
        ),
        el("p", { id: "create-answer", class: "answer", role: "status", "aria-live": "polite" }),
      );
      form.querySelector("[data-field=format]").addEventListener("change", showFormat);
      showFormat();
    }

    function resizeBidders(by) {
      const kept = readBidders();
      state.bidders = Math.max(2, Math.min(50, state.bidders + by));
      form.querySelector("#bidder-rows").replaceChildren(...bidderRows());
      kept.forEach((b, i) => {
        for (const key of ["id", "name", "amount"]) {
          const input = form.querySelector(`[data-field="bidders[${i}].${key}"]`);
          if (input) input.value = b[key];
        }
      });
    }

    function readBidders() {
      const value = (fs, path) => {
        const input = fs.querySelector(`[data-field="${path}"]`);
        return input ? input.value : "";
      };
      return [...form.querySelectorAll("fieldset.bidder")].map((fs, i) => ({
        id: value(fs, `bidders[${i}].id`),
        name: value(fs, `bidders[${i}].name`),
        amount: value(fs, `bidders[${i}].amount`),
      }));
    }

    function showFormat() {
      const format = form.querySelector("[data-field=format]").value;
      resizeBidders(0);
      form.querySelector("#format-specific").replaceChildren(...FORMATS[format].map(([path, kind, value]) => fieldRow(path, kind, value)));
    }

    function clearErrors() {
      for (const node of form.querySelectorAll(".field-error")) node.textContent = "";
      for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
    }

    function markError(path, text, detail) {
      const input = form.querySelector(`[data-field="${path}"]`);
      if (!input) return false;
      input.setAttribute("aria-invalid", "true");
      const out = document.getElementById(input.getAttribute("aria-describedby"));
      out.replaceChildren(text);
      if (detail && detail.startsWith(`${path}: `)) detail = detail.slice(path.length + 2); // the field is shown already
      if (detail && I.lang !== "en") out.append(" ", el("span", { lang: "en", text: `(${detail})` }));
      else if (detail) out.append(" ", `(${detail})`);
      return true;
    }

    /* The spec from the form, or null after marking what is missing or unreadable. */
    function read() {
      clearErrors();
      let ok = true;
      const value = (path) => form.querySelector(`[data-field="${path}"]`);
      const spec = {};
      const put = (path, v) => {
        const keys = path.split(".");
        let at = spec;
        for (const k of keys.slice(0, -1)) at = at[k] = at[k] || {};
        at[keys[keys.length - 1]] = v;
      };
      const exponent = 2;
      for (const input of form.querySelectorAll("[data-field]")) {
        const path = input.dataset.field;
        if (path.startsWith("bidders[")) continue;
        const kind = input.dataset.kind || "select";
        const raw = kind === "checkbox" ? input.checked : input.value.trim();
        if (kind === "checkbox") put(path, raw);
        else if (raw === "") {
          if (path === "title") continue;
          ok = markError(path, t("create.required")) && false;
        } else if (kind === "amount") {
          const amount = U.parseAmount(raw, exponent);
          if (amount === null) ok = markError(path, t("create.not_amount")) && false;
          else put(path, amount);
        } else if (kind === "number") put(path, Number(raw));
        else if (kind === "datetime") {
          const zone = value("time_zone").value.trim() || "UTC";
          let ms = null;
          try {
            ms = wallClockToMs(raw, zone);
          } catch (err) {
            ok = markError("time_zone", t("create.bad_zone")) && false;
          }
          if (ms === null) ok = markError(path, t("create.required")) && false;
          else put(path, ms);
        } else put(path, raw);
      }
      const format = spec.format;
      spec.bidders = readBidders().map((b, i) => {
        const bidder = { id: b.id.trim() };
        if (!bidder.id) ok = markError(`bidders[${i}].id`, t("create.required")) && false;
        if (b.name.trim()) bidder.name = b.name.trim();
        if (b.amount.trim()) {
          const amount = U.parseAmount(b.amount, exponent);
          if (amount === null) ok = markError(`bidders[${i}].amount`, t("create.not_amount")) && false;
          else bidder.amount = amount;
        } else if (format === "rounds") {
          ok = markError(`bidders[${i}].amount`, t("create.sealed_required")) && false;
        }
        return bidder;
      });
      return ok ? spec : null;
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const answer = form.querySelector("#create-answer");
      const spec = read();
      if (!spec) {
        answer.className = "answer no";
        answer.textContent = t("create.fix_fields");
        const first = form.querySelector("[aria-invalid=true]");
        if (first) first.focus();
        return;
      }
      await submit(spec, answer, true);
    });

    async function submit(spec, answer, fromForm) {
      try {
        const created = await U.api("/api/auctions", { token: token(), method: "POST", body: spec });
        answer.className = "answer ok";
        answer.replaceChildren(t("create.created", { id: created.id }), " ", el("a", { href: `/dashboard/${encodeURIComponent(created.id)}`, text: t("create.open_live") }));
        onCreated(created);
      } catch (err) {
        answer.className = "answer no";
        if (err.code === "invalid_spec" && err.field && fromForm && markError(err.field, t("create.server_invalid"), err.message)) {
          answer.textContent = t("create.fix_fields");
          form.querySelector("[aria-invalid=true]").focus();
          return;
        }
        const where = err.field ? t("create.at_field", { field: err.field }) : "";
        answer.replaceChildren(t("create.not_created", { where }), " ", el("span", { lang: "en", text: err.message }));
      }
    }

    build();
    I.onChange(() => {
      const kept = new Map([...form.querySelectorAll("[data-field]")].map((i) => [i.dataset.field, i.type === "checkbox" ? i.checked : i.value]));
      build();
      const format = kept.get("format");
      if (format) {
        form.querySelector("[data-field=format]").value = format;
        showFormat();
      }
      for (const input of form.querySelectorAll("[data-field]")) {
        if (!kept.has(input.dataset.field)) continue;
        if (input.type === "checkbox") input.checked = kept.get(input.dataset.field);
        else input.value = kept.get(input.dataset.field);
      }
    });
    return { submit };
  }

  window.UnderbidCreate = { setUp, wallClockToMs, msToWallClock };
})();
