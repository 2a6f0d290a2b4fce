/* Underbid pages: languages, numbers, money and times.
 *
 * Every word a page shows comes from a catalogue, static/i18n/<lang>.json: a
 * flat JSON object of keys and texts with {placeholders}, no code, so that a
 * translator edits one file. Both catalogues have the same keys (a test
 * checks it); a key missing at run time shows as ⟦key⟧ and is listed in
 * <body data-missing-keys>, so that a test sees it too.
 *
 * The language: the one chosen with the page's switch (remembered in
 * localStorage), else Ukrainian for an auction in UAH or a browser that
 * prefers Ukrainian, else English.
 *
 * Numbers and money use Intl with the language's locale (uk-UA, en-GB);
 * times are shown in the auction's time zone (the spec's time_zone) with the
 * zone named. Amounts are integers in minor units: a float never holds one.
 *
 * A classic script that defines `UnderbidI18n`; common.js exposes it as
 * Underbid.i18n. No dependencies, no build step.
 */
"use strict";

(function () {
  const KEY = "underbid.lang";
  const LANGUAGES = ["uk", "en"];
  const LOCALES = { uk: "uk-UA", en: "en-GB" };
  const catalogues = {};
  const missing = new Set();
  const listeners = [];
  const state = { lang: "en", zone: "UTC", chosen: false };

  function saved() {
    try {
      const value = localStorage.getItem(KEY);
      return LANGUAGES.includes(value) ? value : null;
    } catch (err) {
      return null;
    }
  }

  function browserPrefersUkrainian() {
    const prefs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || ""];
    return prefs.some((l) => /^uk\b/i.test(l));
  }

  /* The language for an auction in `currency` (or none known yet). */
  function preferred(currency) {
    const choice = saved();
    if (choice) return choice;
    if (currency === "UAH" || browserPrefersUkrainian()) return "uk";
    return "en";
  }

  async function load() {
    await Promise.all(
      LANGUAGES.map(async (lang) => {
        const response = await fetch(`/pages/static/i18n/${lang}.json`, { cache: "no-cache" });
        catalogues[lang] = await response.json();
      }),
    );
    setLanguage(preferred(null), { quiet: true });
  }

  const ready = load();

  function setLanguage(lang, { remember = false, quiet = false } = {}) {
    if (!LANGUAGES.includes(lang)) return;
    if (remember) {
      try {
        localStorage.setItem(KEY, lang);
      } catch (err) {
        /* private mode: this page only */
      }
    }
    const changed = lang !== state.lang;
    state.lang = lang;
    document.documentElement.lang = lang;
    applyStatic(document);
    if (changed && !quiet) for (const fn of listeners) fn(lang);
  }

  /* The auction's currency is known: Ukrainian for UAH unless the switch said otherwise. */
  function adopt(currency) {
    if (state.chosen) return;
    state.chosen = true;
    setLanguage(preferred(currency));
  }

  function onChange(fn) {
    listeners.push(fn);
  }

  function has(key) {
    return typeof (catalogues[state.lang] || {})[key] === "string";
  }

  function t(key, params) {
    const table = catalogues[state.lang] || {};
    let text = table[key];
    if (typeof text !== "string") {
      missing.add(key);
      if (document.body) document.body.dataset.missingKeys = [...missing].join(" ");
      return `⟦${key}⟧`;
    }
    if (params) {
      text = text.replace(/\{(\w+)\}/g, (whole, name) =>
        params[name] === undefined || params[name] === null ? whole : String(params[name]),
      );
    }
    return text;
  }

  /* Static HTML: data-i18n (text), data-i18n-label (aria-label), data-i18n-title (<title>). */
  function applyStatic(root) {
    if (!catalogues[state.lang]) return;
    for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of root.querySelectorAll("[data-i18n-label]")) {
      node.setAttribute("aria-label", t(node.dataset.i18nLabel));
    }
  }

  function locale() {
    return LOCALES[state.lang];
  }

  // ------------------------------------------------------------ numbers
  function decimalText(amount, exponent) {
    const negative = amount < 0;
    let digits = String(Math.abs(amount));
    if (exponent > 0) {
      digits = digits.padStart(exponent + 1, "0");
      digits = digits.slice(0, -exponent) + "." + digits.slice(-exponent);
    }
    return (negative ? "-" : "") + digits;
  }

  /* An amount in minor units with its currency, in the page's language. */
  function money(amount, view) {
    if (amount === null || amount === undefined) return "—";
    const exponent = view && Number.isInteger(view.currency_exponent) ? view.currency_exponent : 2;
    const currency = (view && view.currency) || "";
    const text = decimalText(amount, exponent);
    const digits = { minimumFractionDigits: exponent, maximumFractionDigits: exponent };
    try {
      return new Intl.NumberFormat(locale(), { style: "currency", currency, ...digits }).format(text);
    } catch (err) {
      const plain = new Intl.NumberFormat(locale(), digits).format(text);
      return currency ? `${plain} ${currency}` : plain;
    }
  }

  /* A short amount for a chart's axis: no currency, fewer digits. */
  function shortMoney(amount, view) {
    const exponent = view && Number.isInteger(view.currency_exponent) ? view.currency_exponent : 2;
    return new Intl.NumberFormat(locale(), { notation: "compact", maximumFractionDigits: 2 }).format(
      decimalText(amount, exponent),
    );
  }

  function integer(n) {
    return new Intl.NumberFormat(locale()).format(n);
  }

  /* A percentage with two decimals: the same text wherever savings are shown. */
  function percent(value) {
    return new Intl.NumberFormat(locale(), { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(value);
  }

  /* A score (an exact decimal string from the engine) in the locale's digits. */
  function score(text) {
    if (typeof text !== "string" || !/^-?\d+(\.\d+)?$/.test(text)) return String(text);
    const [whole, fraction] = text.split(".");
    const sep = state.lang === "uk" ? "," : ".";
    return new Intl.NumberFormat(locale()).format(whole) + (fraction ? sep + fraction.slice(0, 2) : "");
  }

  // -------------------------------------------------------------- times
  /* The auction's zone; an unknown one falls back to UTC (named as such). */
  function setZone(zone) {
    try {
      new Intl.DateTimeFormat("en", { timeZone: zone });
      state.zone = zone;
    } catch (err) {
      state.zone = "UTC";
    }
  }

  function zoneName(ms) {
    const parts = new Intl.DateTimeFormat(locale(), { timeZone: state.zone, timeZoneName: "short" })
      .formatToParts(ms === undefined ? Date.now() : ms);
    const part = parts.find((p) => p.type === "timeZoneName");
    return part ? part.value : state.zone;
  }

  function timeOfDay(ms, { seconds = true, zone = true } = {}) {
    const options = { timeZone: state.zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    if (seconds) options.second = "2-digit";
    const text = new Intl.DateTimeFormat(locale(), options).format(ms);
    return zone ? `${text} ${zoneName(ms)}` : text;
  }

  /* "1 December 2026, 22:10 EET": never a month/day order to guess. */
  function dateTime(ms) {
    const text = new Intl.DateTimeFormat(locale(), {
      timeZone: state.zone,
      day: "numeric",
      month: "long",
      year: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    }).format(ms);
    return `${text} ${zoneName(ms)}`;
  }

  /* The zone as a sentence's object: "Europe/Kyiv (EET)". */
  function zoneLabel() {
    const short = zoneName();
    return short && short !== state.zone ? `${state.zone} (${short})` : state.zone;
  }

  window.UnderbidI18n = {
    ready,
    t,
    has,
    adopt,
    setLanguage,
    onChange,
    applyStatic,
    get lang() {
      return state.lang;
    },
    get zone() {
      return state.zone;
    },
    languages: LANGUAGES,
    locale,
    money,
    shortMoney,
    integer,
    percent,
    score,
    setZone,
    zoneName,
    zoneLabel,
    timeOfDay,
    dateTime,
    decimalText,
  };
})();
