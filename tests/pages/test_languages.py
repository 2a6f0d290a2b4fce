"""Both languages on every page, at desktop and phone sizes (docs/pages.md).

The catalogues (static/i18n/*.json) first, without a browser: the same keys
with the same placeholders in both, plain texts only, and every key the
scripts name present. Then one `rounds` auction in UAH with a supplier, an
official and a citizen on it, in Ukrainian and in English, before the start,
in a turn and after the end: each page's screenshot at both sizes
(``<page>-<state>-<lang>-<size>.png``), axe-core at both sizes, and no text of
the other language (nor a missing key) anywhere on the page.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from gateway.pages import STATIC
from tests.factories import rounds_spec
from tests.pages.helpers import (
    CATALOGUES,
    Stage,
    allowed_words,
    assert_one_language,
    jumping_stage,
    next_deadline,
    shots,
)

A = "languages-rounds"
SPEC = rounds_spec(
    3,
    id=A,
    title="Шкільне харчування, Вінниця",
    currency="UAH",
    start_value=50_000_000,
    minimal_step=100_000,
    amounts=[49_800_000, 49_200_000, 48_500_000],
    rounds={"rounds": 1, "first_pause_s": 300, "pause_s": 120, "turn_s": 120},
)
ALLOWED = (*allowed_words(SPEC), "Bidder", "ub1")
"""The auction's own data (its Ukrainian title, the suppliers' Latin names): either language."""


# ---------------------------------------------------------------- catalogues
def test_the_catalogues_have_the_same_keys_and_placeholders() -> None:
    en, uk = CATALOGUES["en"], CATALOGUES["uk"]
    assert set(en) == set(uk), set(en) ^ set(uk)
    for key in en:
        assert isinstance(en[key], str) and isinstance(uk[key], str), key
        assert set(re.findall(r"\{(\w+)\}", en[key])) == set(re.findall(r"\{(\w+)\}", uk[key])), key
        if key.startswith("lang."):
            continue  # each language's own name, the same in both
        plain = re.sub(
            r"\{\w+\}|`[^`]*`|#token=|JSON|IANA|RFC|Europe/Kyiv|security\.allowed_origins|docs/spec\.md",
            "",
            uk[key],
        )
        assert not re.search(r"[A-Za-z]{3,}", plain), f"{key} is not translated: {uk[key]!r}"


def test_every_key_the_scripts_name_is_in_the_catalogues() -> None:
    prefixes = {key.split(".")[0] for key in CATALOGUES["en"]}
    named = set()
    for path in [*STATIC.glob("*.js"), *STATIC.glob("*.html")]:
        for key in re.findall(r"\"([a-z_]+(?:\.[a-z0-9_]+)+)\"", path.read_text()):
            if key.split(".")[0] in prefixes:
                named.add(key)
    assert named, "no key found: the pattern is wrong"
    assert not named - set(CATALOGUES["en"]), sorted(named - set(CATALOGUES["en"]))


def test_a_catalogue_is_data_only() -> None:
    for lang in ("en", "uk"):
        text = (STATIC / "i18n" / f"{lang}.json").read_text()
        assert all(isinstance(v, str) for v in json.loads(text).values())
        assert "<" not in text and "function" not in text and "=>" not in text


# ------------------------------------------------------------------- browser


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stage(browser: Any) -> AsyncIterator[Stage]:
    async with jumping_stage(browser, SPEC) as st:
        yield st


async def every_page(stage: Stage, lang: str) -> dict[str, Any]:
    return {
        "bidder": await stage.bidder(A, "b1", lang=lang),
        "public": await stage.public(A, lang=lang),
        "dashboard": await stage.dashboard(A, lang=lang),
        "list": await stage.dashboard(lang=lang),
    }


async def look(pages: dict[str, Any], directory: Path, moment: str, lang: str) -> None:
    for name, page in pages.items():
        await page.wait_for_function(
            "() => (document.body.dataset.connection || 'live') !== 'connecting'"
        )
        await assert_one_language(page, lang, ALLOWED)
        await shots(page, directory, f"{name}-{moment}-{lang}")


@pytest.mark.asyncio(loop_scope="module")
async def test_every_page_in_both_languages_at_both_sizes(stage: Stage, screenshots: Path) -> None:
    from playwright.async_api import expect

    pages = {lang: await every_page(stage, lang) for lang in ("uk", "en")}
    for lang, group in pages.items():
        await expect(group["bidder"].get_by_test_id("starts")).to_be_visible()
        await expect(group["list"].locator(f"tr[data-auction='{A}']")).to_be_visible()
        await look(group, screenshots, "scheduled", lang)
    await next_deadline(stage.server, stage.clock, A)  # the pause before round 1
    await next_deadline(stage.server, stage.clock, A)  # round 1: b1's turn
    for lang, group in pages.items():
        await expect(group["bidder"].locator("#banner")).to_have_attribute("data-kind", "your_turn")
        await group["bidder"].locator("input[name=amount]").fill("490 000")
        await look({k: v for k, v in group.items() if k != "list"}, screenshots, "turn", lang)
    while not stage.server.gateway.runtime.auction(A).finished:
        await next_deadline(stage.server, stage.clock, A)
    for lang, group in pages.items():
        await expect(group["public"].get_by_test_id("result")).to_be_visible()
        await expect(group["bidder"].get_by_test_id("your-result")).not_to_be_empty()
        await look({k: v for k, v in group.items() if k != "list"}, screenshots, "ended", lang)


@pytest.mark.asyncio(loop_scope="module")
async def test_the_switch_translates_a_page_in_place(stage: Stage) -> None:
    from playwright.async_api import expect

    page = await stage.public(A, lang=None, locale="en-US")  # UAH: Ukrainian first
    await expect(page.locator("html")).to_have_attribute("lang", "uk")
    await expect(page.get_by_role("heading", name="Рейтинг")).to_be_visible()
    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_role("heading", name="Ranking")).to_be_visible()
    await assert_one_language(page, "en", ALLOWED)
    await page.get_by_role("button", name="Українська").click()
    await assert_one_language(page, "uk", ALLOWED)


@pytest.mark.asyncio(loop_scope="module")
async def test_no_page_raised_a_script_error(stage: Stage) -> None:
    assert stage.errors == []
