"""What the browser test modules share: the stage, a clock that jumps, axe-core,
screenshots with the sideways-scroll check, and the language checks.

- :class:`Stage`: one server and one browser; :meth:`Stage.page` opens a page in
  a context of its own (its own storage), in a language chosen the way a
  person does (the page's switch, remembered in localStorage) or left to the
  page (``lang=None``: the auction's currency and the browser's locale decide).
- :class:`JumpClock`: the wall clock plus an offset the test moves forward, so
  that a `rounds` lot with ProZorro's two-minute turns reaches its next turn at
  once: :func:`next_deadline` jumps to the auction's next deadline and fires it.
- :func:`accessible`: axe-core (shipped inside ``axe-playwright-python``,
  nothing fetched) on the page as it is; serious and critical violations fail.
- :func:`shots`: desktop and phone screenshots, no sideways scrolling, axe at both.
- :func:`assert_one_language`: no catalogue key missing and no text of the
  other language on the page.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.pages import STATIC
from tests.gateway.server_fixture import LiveServer, eventually, live_server

TIMEOUT_MS = 10_000
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
CATALOGUES = {
    lang: json.loads((STATIC / "i18n" / f"{lang}.json").read_text()) for lang in ("en", "uk")
}


class JumpClock:
    """Wall-clock time plus an offset that only grows (:meth:`jump`)."""

    def __init__(self) -> None:
        self.offset = 0

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset

    def jump(self, ms: int) -> None:
        self.offset += max(0, ms)


async def next_deadline(server: LiveServer, clock: JumpClock, auction_id: str) -> None:
    """Jump to the auction's next deadline, fire it and wait until it is durable."""
    runtime = server.gateway.runtime
    auction = runtime.auction(auction_id)
    deadline = auction.next_deadline()
    assert deadline is not None, "the auction has no deadline ahead"
    seq = auction.state.seq
    clock.jump(deadline - clock.now_ms())
    await runtime.tick()
    await eventually(lambda: runtime.durable_seq(auction_id) > seq, what="the deadline's events")


@dataclass
class Stage:
    server: LiveServer
    browser: Any
    contexts: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    clock: JumpClock = field(default_factory=JumpClock)
    pages: dict[str, Any] = field(default_factory=dict)

    async def page(
        self,
        url: str,
        *,
        lang: str | None = "en",
        locale: str = "en-US",
        viewport: dict[str, int] | None = None,
        skew_ms: int | None = None,
    ) -> Any:
        """A page in its own context (its own storage, its own network)."""
        context = await self.browser.new_context(locale=locale, viewport=viewport or DESKTOP)
        self.contexts.append(context)
        if lang is not None:
            await context.add_init_script(f"localStorage.setItem('underbid.lang', {lang!r})")
        page = await context.new_page()
        if skew_ms is not None:
            await page.clock.install(time=(time.time_ns() // 1_000_000 + skew_ms) / 1000)
        page.on("pageerror", lambda exc: self.errors.append(f"{url}: {exc}"))
        await page.goto(url)
        return page

    async def bidder(self, auction_id: str, bidder: str, **options: Any) -> Any:
        token = await self.server.issue(auction_id, bidder=bidder)
        return await self.page(f"{self.server.base_url}/bid/{auction_id}#token={token}", **options)

    async def public(self, auction_id: str, **options: Any) -> Any:
        return await self.page(f"{self.server.base_url}/watch/{auction_id}", **options)

    async def dashboard(self, auction_id: str = "", **options: Any) -> Any:
        path = f"/dashboard/{auction_id}" if auction_id else "/dashboard"
        return await self.page(
            f"{self.server.base_url}{path}#token={self.server.operator_token}", **options
        )

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@contextlib.asynccontextmanager
async def jumping_stage(browser: Any, spec: dict[str, Any]) -> AsyncIterator[Stage]:
    """A stage whose server runs on a :class:`JumpClock`, with ``spec`` created to
    start in an hour (so that the pages see it scheduled first)."""
    from playwright.async_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    clock = JumpClock()
    async with live_server(clock=clock) as server:
        stage = Stage(server, browser, clock=clock)
        await server.create({**spec, "start_at": clock.now_ms() + 3_600_000})
        try:
            yield stage
        finally:
            await stage.close()


# ------------------------------------------------------------------ axe-core
_AXE: Any = None


async def accessible(page: Any, what: str) -> None:
    """No serious or critical axe-core violation on the page as it is now."""
    global _AXE
    if _AXE is None:
        from axe_playwright_python.async_playwright import Axe

        _AXE = Axe()
    results = await _AXE.run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:4]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{what}: axe-core finds {bad}"


async def no_sideways_scroll(page: Any, what: str) -> None:
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{what} scrolls sideways ({overflow} px)"


async def shots(page: Any, directory: Path, name: str) -> None:
    """Screenshots at desktop and phone sizes (``name-desktop.png``, ``name-phone.png``),
    each checked for sideways scrolling and by axe-core."""
    for size_name, size in (("desktop", DESKTOP), ("phone", PHONE)):
        await page.set_viewport_size(size)
        await page.wait_for_function("() => new Promise(r => requestAnimationFrame(() => r(true)))")
        await no_sideways_scroll(page, f"{name} at {size_name} size")
        await accessible(page, f"{name} at {size_name} size")
        await page.screenshot(path=str(directory / f"{name}-{size_name}.png"), full_page=True)
    await page.set_viewport_size(DESKTOP)


# ------------------------------------------------------------------ language
_WORD = re.compile(r"[A-Za-z]{3,}")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]{2,}")


def _phrases(lang: str) -> set[str]:
    """The other catalogue's texts that say something of their own (3+ words, no placeholders)."""
    other = CATALOGUES["en" if lang == "uk" else "uk"]
    mine = set(CATALOGUES[lang].values())
    out = set()
    for text in other.values():
        plain = re.sub(r"\{\w+\}", "", text).strip(" .:,·()")
        if len(plain.split()) >= 3 and text not in mine:
            out.add(plain.split("{")[0].strip()[:40])
    return {p for p in out if len(p) > 12}


async def assert_one_language(page: Any, lang: str, allowed: tuple[str, ...] = ()) -> None:
    """The page speaks ``lang`` only: ``<html lang>``, no missing catalogue key, no
    phrase of the other catalogue and no word of the other script, except what
    ``allowed`` lists (the auction's own data: titles, names, ids, codes) and
    text marked up as another language (``lang`` attributes: the switch) or as no
    language at all (``translate="no"``, code: roots, keys, commands)."""
    assert await page.evaluate("document.documentElement.lang") == lang
    missing = await page.evaluate("document.body.dataset.missingKeys || ''")
    assert not missing, f"missing catalogue keys: {missing}"
    text: str = await page.evaluate(
        """() => {
          const clone = document.body.cloneNode(true);
          const gone = clone.querySelectorAll(
            '[lang], [translate=no], code, pre, script, style, [hidden], title');
          for (const n of gone) n.remove();
          const svgText = [...document.querySelectorAll('svg.chart')]
            .map(s => s.getAttribute('aria-label')).join(' ');
          return clone.innerText + ' ' + (clone.textContent || '') + ' ' + svgText;
        }"""
    )
    assert "⟦" not in text, "a catalogue key is missing"
    cleaned = text
    for word in sorted(allowed, key=len, reverse=True):
        cleaned = cleaned.replace(word, " ")
    for phrase in _phrases(lang):
        assert phrase not in cleaned, f"{lang} page shows the other language: {phrase!r}"
    if lang == "uk":
        latin = sorted(set(_WORD.findall(cleaned)))
        assert not latin, f"Latin words on the Ukrainian page: {latin[:20]}"
    else:
        cyrillic = sorted(set(_CYRILLIC.findall(cleaned)))
        assert not cyrillic, f"Cyrillic words on the English page: {cyrillic[:20]}"


def allowed_words(spec: dict[str, Any]) -> tuple[str, ...]:
    """The auction's own data, which a page shows as it is in either language."""
    words = [
        spec["id"],
        spec.get("title", ""),
        spec.get("currency", "UAH"),
        "UAH",
        "EUR",
        "USD",
        "UTC",
        "GMT",
    ]
    words += [spec.get("time_zone", "Europe/Kyiv"), "Europe/Kyiv", "EET", "EEST", "CET", "CEST"]
    for lot in spec.get("lots", [spec]):
        words += [lot.get("title", ""), str(lot.get("id", ""))]
        for b in lot.get("bidders", []):
            words += [b.get("name", ""), b["id"]]
    words += [
        "underbid serve",
        "underbid demo",
        "JSON",
        "IANA",
        "docs/spec.md",
        "security.allowed_origins",
        "RFC",
    ]
    return tuple(w for w in words if w)
