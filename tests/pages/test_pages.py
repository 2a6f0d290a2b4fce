"""The three pages in a real browser (headless Chromium, docs/pages.md).

One server and one browser for the module; one ``open`` auction watched by
the officials' dashboard, the public view and one page per bidder, opened
from the links the dashboard issues. The tests run in order and share the
auction: bids placed by clicking, a rejected bid's reason, a countdown that
follows the server's clock while the browser's clock is minutes off, a page
that loses its connection and shows what it missed, pause and resume from
the dashboard, a disqualification, the dashboard's socket opened with the
token it has, and screenshots at desktop and phone sizes. Further auctions
of their own: ``rounds`` turns, a ``japanese`` and a ``dutch`` clock auction
played by clicking, a two-lot event, and the announced result. Waiting is
always on a condition (Playwright's ``expect``), never a fixed sleep; the
clock auctions run with short rounds and intervals in their specs.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from auction.core.events import CommandRejected, decode_event
from tests.factories import as_lot, dutch_spec, japanese_spec, multi_spec, open_spec, rounds_spec
from tests.gateway.server_fixture import eventually, live_server, now_ms
from tests.pages.helpers import DESKTOP, PHONE, TIMEOUT_MS, Stage, accessible, shots

pytestmark = pytest.mark.asyncio(loop_scope="module")

AUCTION = "pages-1"
START_VALUE = 10_000_000  # 100,000.00 EUR
CLOCK_SKEW_MS = -7 * 60 * 1000
"""The skewed page's browser clock runs seven minutes behind the server's."""


class PagesStage(Stage):
    dashboard: Any = None
    public: Any = None
    bidders: dict[str, Any]

    def all_pages(self) -> list[Any]:
        return [self.dashboard, self.public, *self.bidders.values()]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stage(browser: Any) -> AsyncIterator[PagesStage]:
    from playwright.async_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    async with live_server() as server:
        spec = open_spec(
            3,
            id=AUCTION,
            title="Office paper, 12 months",
            currency="EUR",
            start_value=START_VALUE,
            start_at=now_ms() + 1500,
            open={"duration_s": 600, "decrement": 100_000},
        )
        await server.create(spec)
        st = PagesStage(server, browser)
        st.bidders = {}
        try:
            yield st
        finally:
            await st.close()


def runtime_lot(stage: PagesStage, auction_id: str, lot: int = 0) -> dict[str, Any]:
    """The officials' view of one lot, straight from the server's runtime."""
    from auction.core.views import auction_view

    view = auction_view(stage.server.gateway.runtime.auction(auction_id), "official")
    result: dict[str, Any] = view["lots"][lot]
    return result


def text(value: str) -> re.Pattern[str]:
    return re.compile(re.escape(value))


# ------------------------------------------------------------------- tests
async def test_the_dashboard_lists_auctions_and_issues_the_bidders_links(stage: PagesStage) -> None:
    from playwright.async_api import expect

    base = stage.server.base_url
    operator = stage.server.operator_token
    listing = await stage.page(f"{base}/dashboard")
    await listing.get_by_label("Operator or official token").fill(operator)
    await listing.get_by_role("button", name="Use this token").click()
    row = listing.locator(f"tr[data-auction='{AUCTION}']")
    await expect(row).to_contain_text("Office paper, 12 months")
    await expect(row).to_contain_text("open")
    await row.get_by_role("link", name="Office paper, 12 months").click()
    await expect(listing).to_have_url(f"{base}/dashboard/{AUCTION}")
    stage.dashboard = listing
    await listing.get_by_role("button", name="Issue the bidders' links").click()
    links = listing.locator("#links li a")
    await expect(links).to_have_count(3)
    for bidder in ("b1", "b2", "b3"):
        href = await listing.locator(f"#links li[data-bidder='{bidder}'] a").get_attribute("href")
        assert href is not None and href.startswith(f"{base}/bid/{AUCTION}#token=eyJ")
        stage.bidders[bidder] = await stage.page(href)
    stage.public = await stage.page(f"{base}/watch/{AUCTION}")
    for page in stage.all_pages():
        await expect(page.get_by_test_id("stage").first).to_have_text(re.compile("Bidding"))
    await expect(stage.public.get_by_text("€100,000.00").first).to_be_visible()
    await expect(stage.bidders["b1"].get_by_test_id("max-bid")).to_have_text("€100,000.00")
    await expect(stage.dashboard.locator("#people")).to_contain_text("connected (1)")


async def test_bids_placed_by_clicking_reach_every_page(stage: PagesStage) -> None:
    from playwright.async_api import expect

    b1 = stage.bidders["b1"]
    await b1.get_by_label("Your bid (EUR)").fill("99,000")
    await b1.get_by_role("button", name="Place bid").click()
    await expect(b1.get_by_test_id("answer")).to_have_text(
        "Accepted: your bid of €99,000.00 is recorded."
    )
    await expect(b1.get_by_test_id("rank")).to_have_text("#1 of 3")
    await expect(b1.get_by_test_id("your-amount")).to_have_text("€99,000.00")
    await expect(stage.public.get_by_test_id("best")).to_have_text("€99,000.00")
    await expect(stage.public.get_by_test_id("savings")).to_have_text("€1,000.00 (1.00 %)")
    await expect(stage.public.locator("#log")).to_contain_text("bid €99,000.00")
    # The others see the bid under an anonymous label, the officials with the name.
    b2 = stage.bidders["b2"]
    await expect(b2.get_by_test_id("max-bid")).to_have_text("€98,000.00")
    await expect(b2.locator("table")).to_contain_text("Bidder #1")
    await expect(b2.locator("table")).not_to_contain_text("Supplier 1 LLC")
    await expect(stage.public.locator("main")).not_to_contain_text("Supplier 1 LLC")
    await expect(stage.dashboard.locator("#lots table")).to_contain_text("Supplier 1 LLC")
    assert await stage.dashboard.locator("#lots svg.chart path.line").count() == 1
    # The keyboard alone places a bid: type, then Enter.
    await b2.get_by_label("Your bid (EUR)").fill("98000")
    await b2.get_by_label("Your bid (EUR)").press("Enter")
    await expect(b2.get_by_test_id("answer")).to_have_text(re.compile("^Accepted"))
    await expect(stage.public.get_by_test_id("best")).to_have_text("€98,000.00")


async def test_a_rejected_bid_shows_its_reason(stage: PagesStage) -> None:
    from playwright.async_api import expect

    b3 = stage.bidders["b3"]
    await b3.get_by_label("Your bid (EUR)").fill("97,500.00")  # the step is 1,000.00
    await b3.get_by_role("button", name="Place bid").click()
    answer = b3.get_by_test_id("answer")
    await expect(answer).to_have_text(
        "Not accepted: The bid does not improve enough: bid at most €97,000.00."
    )
    assert await answer.get_attribute("data-result") == "step_too_small"
    await expect(stage.dashboard.locator("#rejected")).to_contain_text(
        "Refused: Supplier 3 LLC (Bidder #3) (bid of €97,500.00): The bid does not improve enough"
    )
    await b3.get_by_label("Your bid (EUR)").fill("lots")
    await b3.get_by_role("button", name="Place bid").click()
    await expect(answer).to_have_text(re.compile("^Not sent: type an amount such as"))
    await accessible(b3, "bidder page after a refused bid")


async def test_the_countdown_follows_the_server_clock_when_the_browsers_is_off(
    stage: PagesStage,
) -> None:
    from playwright.async_api import expect

    context = await stage.browser.new_context(locale="en-US", viewport=PHONE)
    stage.contexts.append(context)
    page = await context.new_page()
    await page.clock.install(time=(now_ms() + CLOCK_SKEW_MS) / 1000)
    await page.goto(f"{stage.server.base_url}/watch/{AUCTION}")
    countdown = page.get_by_test_id("countdown").locator(".countdown")
    await expect(countdown).to_have_attribute("data-remaining-ms", re.compile(r"\d+"))
    skew = await page.evaluate("Date.now()") - now_ms()
    assert abs(skew - CLOCK_SKEW_MS) < 5_000, skew
    deadline = stage.server.gateway.runtime.auction(AUCTION).next_deadline()
    assert deadline is not None
    # Read the countdown shown now in one go: the page may replace it between two
    # reads (every view re-renders the lot), and a countdown carries its time left
    # from the moment it is made (it used to wait for the next tick: "0").
    remaining = "Number(document.querySelector('[data-testid=countdown] .countdown')"
    remaining += ".dataset.remainingMs)"
    shown = await page.evaluate(f"() => {remaining}")
    assert abs(shown - (deadline - now_ms())) < 2_000, (shown, deadline - now_ms())
    minutes, seconds = (int(x) for x in (await countdown.inner_text()).split(":"))
    assert abs(minutes * 60 + seconds - (deadline - now_ms()) / 1000) < 3
    # A tab that slept through a clock change: its offset is two minutes wrong
    # until it wakes, when it asks the server for the time again.
    await page.evaluate("Underbid.clock.offset -= 120000")
    await page.wait_for_function(
        f"(least) => {remaining} > least", arg=deadline - now_ms() + 100_000
    )
    await page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    await page.wait_for_function(f"(most) => {remaining} < most", arg=deadline - now_ms() + 5_000)
    shown = await page.evaluate(f"() => {remaining}")
    assert abs(shown - (deadline - now_ms())) < 2_000, (shown, deadline - now_ms())
    await context.close()
    stage.contexts.remove(context)


async def test_a_dropped_page_reconnects_and_shows_what_it_missed(stage: PagesStage) -> None:
    from playwright.async_api import expect

    b1 = stage.bidders["b1"]
    banner = b1.locator("#banner")
    await b1.evaluate("window.underbidPage.socket.hold()")  # the line drops
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("Connection lost")
    for bidder, amount in (("b3", "97,000"), ("b2", "96,000")):
        page = stage.bidders[bidder]
        await page.get_by_label("Your bid (EUR)").fill(amount)
        await page.get_by_role("button", name="Place bid").click()
        await expect(page.get_by_test_id("answer")).to_have_text(re.compile("^Accepted"))
    await expect(stage.public.get_by_test_id("best")).to_have_text("€96,000.00")
    await expect(b1.get_by_test_id("rank")).to_have_text("#2 of 3")  # still the old view
    await b1.evaluate("window.underbidPage.socket.release()")  # the line is back
    await expect(banner).to_be_hidden()
    await expect(b1.get_by_test_id("rank")).to_have_text("#3 of 3")
    log = b1.locator("#log")
    await expect(log).to_contain_text("bid €97,000.00")
    await expect(log).to_contain_text("bid €96,000.00")
    seqs = [int(s) for s in await log.locator("li").evaluate_all("l => l.map(e => e.dataset.seq)")]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) == len(set(seqs)), seqs
    journal = await stage.server.journal_events(AUCTION)
    visible = [
        seq
        for seq, (_, data) in enumerate(journal, start=1)
        if not isinstance(decode_event(data), CommandRejected)  # private to the sender
    ]
    assert sorted(seqs) == visible, "every event a bidder may see, once, none missing"


async def test_a_page_keeps_trying_while_offline_and_resumes_when_back(stage: PagesStage) -> None:
    from playwright.async_api import expect

    b2 = stage.bidders["b2"]
    banner = b2.locator("#banner")
    await b2.context.set_offline(True)
    # Chromium's offline mode blocks new connections but leaves open sockets
    # alone, so the drop itself is the test hook; the retries then meet the
    # offline network until it comes back.
    await b2.evaluate("window.underbidPage.socket.hold()")
    await expect(banner).to_contain_text("Connection lost")
    b3 = stage.bidders["b3"]
    await b3.get_by_label("Your bid (EUR)").fill("95,000")
    await b3.get_by_role("button", name="Place bid").click()
    await expect(b3.get_by_test_id("answer")).to_have_text(re.compile("^Accepted"))
    await b2.evaluate("window.underbidPage.socket.release()")
    # Two attempts in a row failed: the page is retrying, and says so.
    await expect(b2.locator("body")).to_have_attribute(
        "data-failed-attempts", re.compile(r"^([2-9]|\d\d+)$")
    )
    await expect(banner).to_be_visible()
    await expect(b2.get_by_test_id("rank")).to_have_text("#1 of 3")  # not yet told
    await b2.context.set_offline(False)
    await expect(banner).to_be_hidden()
    await expect(b2.get_by_test_id("rank")).to_have_text("#2 of 3")
    await expect(b2.locator("#log")).to_contain_text("Bidder #3 bid €95,000.00")


async def test_an_official_pauses_and_resumes_and_every_page_shows_it(stage: PagesStage) -> None:
    from playwright.async_api import expect

    dashboard = stage.dashboard
    await dashboard.get_by_label("Reason").fill("network check")
    await dashboard.get_by_role("button", name="Pause").click()
    dialog = dashboard.locator("dialog.confirm")
    await expect(dialog).to_contain_text("Pause the auction?")
    await dialog.get_by_role("button", name="Confirm").click()
    await expect(dashboard.locator("#control-answer")).to_have_text("Paused.")
    for page in stage.all_pages():
        await expect(page.locator("#banner")).to_have_attribute("data-kind", "paused")
        await expect(page.get_by_test_id("countdown").first).to_have_text(
            re.compile(r"^paused, \d\d:\d\d left$")
        )
    b3 = stage.bidders["b3"]
    await b3.get_by_label("Your bid (EUR)").fill("90,000")
    await b3.get_by_label("Your bid (EUR)").press("Enter")
    await expect(b3.get_by_test_id("answer")).to_have_text(
        re.compile("^Not sent: The auction is paused by an official")
    )
    await dashboard.get_by_role("button", name="Resume").click()
    await dialog.get_by_role("button", name="Confirm").click()
    await expect(dashboard.locator("#control-answer")).to_have_text("Resumed.")
    for page in stage.all_pages():
        await expect(page.locator("#banner")).not_to_have_attribute("data-kind", "paused")
        await expect(page.get_by_test_id("countdown").first).to_have_text(
            re.compile(r"^\d\d:\d\d$")
        )
    # Backing out of the confirmation does nothing.
    await dashboard.get_by_role("button", name="Cancel the auction").click()
    await dialog.get_by_role("button", name="Back").click()
    await expect(dashboard.locator("#control-answer")).to_have_text("Nothing was done.")
    assert not stage.server.gateway.runtime.auction(AUCTION).finished


async def test_officials_extend_and_bid_for_a_bidder_and_download_the_record(
    stage: PagesStage,
) -> None:
    from playwright.async_api import expect

    dashboard = stage.dashboard
    runtime = stage.server.gateway.runtime
    before = runtime.auction(AUCTION).next_deadline()
    assert before is not None
    await dashboard.get_by_label("Extend by (seconds)").fill("90")
    await dashboard.get_by_role("button", name="Extend", exact=True).click()
    dialog = dashboard.locator("dialog.confirm")
    await expect(dialog).to_contain_text("by 90 s")
    await dialog.get_by_role("button", name="Confirm").click()
    await expect(dashboard.locator("#control-answer")).to_have_text("Extended.")
    assert runtime.auction(AUCTION).next_deadline() == before + 90_000
    await dashboard.get_by_label("Bidder", exact=True).select_option("b3")
    await dashboard.get_by_label("Amount for the bidder").fill("90,000.00")
    await dashboard.get_by_role("button", name="Surrogate bid").click()
    await expect(dialog).to_contain_text("€90,000.00")
    await dialog.get_by_role("button", name="Confirm").click()
    await expect(dashboard.locator("#control-answer")).to_have_text("Surrogate bid accepted.")
    await expect(stage.bidders["b3"].get_by_test_id("your-amount")).to_have_text("€90,000.00")
    await expect(stage.public.get_by_test_id("best")).to_have_text("€90,000.00")
    async with dashboard.expect_download() as info:
        await dashboard.get_by_role("button", name="Download the audit record").click()
    download = await info.value
    assert download.suggested_filename == f"{AUCTION}-record.json"
    record = json.loads(Path(await download.path()).read_text())
    assert record["auction"] == AUCTION
    assert [e["surrogate_by"] for e in record["events"] if e["type"] == "bid_placed"][-1]


async def test_an_official_disqualifies_a_bidder_and_every_page_shows_it(stage: PagesStage) -> None:
    from playwright.async_api import expect

    dashboard = stage.dashboard
    dialog = dashboard.locator("dialog.confirm")
    await dashboard.get_by_label("Bidder", exact=True).select_option("b3")
    await dashboard.get_by_label("Reason").fill("collusion")
    await dashboard.get_by_role("button", name="Disqualify").click()
    await expect(dialog).to_contain_text("Disqualify this bidder?")
    await expect(dialog).to_contain_text("Supplier 3 LLC (b3)")
    await dialog.get_by_role("button", name="Back").click()
    await expect(dashboard.locator("#control-answer")).to_have_text("Nothing was done.")
    assert not runtime_lot(stage, AUCTION)["disqualified"]
    await dashboard.get_by_role("button", name="Disqualify").click()
    await dialog.get_by_role("button", name="Confirm").click()
    await expect(dashboard.locator("#control-answer")).to_have_text("Disqualified.")
    await expect(dashboard.get_by_test_id("disqualified")).to_have_text("Supplier 3 LLC (b3)")
    # The disqualified bidder's page says so and offers no way to bid.
    b3 = stage.bidders["b3"]
    await expect(b3.get_by_test_id("rank")).to_have_text("disqualified")
    await expect(b3.locator("#banner")).to_have_attribute("data-kind", "disqualified")
    await expect(b3.locator("#banner")).to_contain_text("collusion")
    await expect(b3.get_by_role("button", name="Place bid")).to_be_disabled()
    await expect(b3.get_by_label("Your bid (EUR)")).to_be_disabled()
    # Its standing amount (the best, €90,000.00) leaves the public ranking.
    public = stage.public
    await expect(public.get_by_test_id("best")).to_have_text("€96,000.00")
    rows = public.locator("section[data-lot] table tbody tr")
    await expect(rows).to_have_count(2)
    await expect(public.locator("section[data-lot] table")).not_to_contain_text("€90,000.00")
    await expect(public.get_by_test_id("bidders")).to_have_text("2")
    await expect(public.locator("#log")).to_contain_text("was disqualified")
    for bidder in ("b1", "b2"):
        await expect(
            stage.bidders[bidder].locator("section[data-lot] table tbody tr")
        ).to_have_count(2)
    await expect(stage.bidders["b2"].get_by_test_id("rank")).to_have_text("#1 of 2")
    await expect(stage.bidders["b2"].get_by_role("button", name="Place bid")).to_be_enabled()


async def test_the_dashboard_connects_with_the_token_it_has(stage: PagesStage) -> None:
    from playwright.async_api import expect

    server = stage.server
    official = await server.issue(AUCTION, role="official")
    for token in (server.operator_token, official):
        context = await stage.browser.new_context(locale="en-US", viewport=DESKTOP)
        stage.contexts.append(context)
        await context.add_init_script("localStorage.setItem('underbid.lang', 'en')")
        page = await context.new_page()
        page.on("pageerror", lambda exc: stage.errors.append(f"dashboard: {exc}"))
        requests: list[Any] = []
        page.on("request", lambda r, into=requests: into.append(r))
        sockets: list[Any] = []
        page.on("websocket", lambda ws, into=sockets: into.append(ws))
        await page.goto(f"{server.base_url}/dashboard/{AUCTION}#token={token}")
        await expect(page.get_by_test_id("auction-state")).to_have_text("running")
        await expect(page.locator("#lots table")).to_contain_text("Supplier 2 LLC")
        await expect(page.locator("#log li").first).to_be_visible()
        await expect(page.locator("#banner")).to_be_hidden()
        posts = [r.url for r in requests if r.method == "POST"]
        assert posts == [], posts  # no official token is asked for: the socket takes this one
        assert len(sockets) == 1
        await context.close()
        stage.contexts.remove(context)
    # A token of another auction is refused, and the page asks for one again.
    other = server.gateway.token("pages-elsewhere", "official")
    page = await stage.page(f"{server.base_url}/dashboard/{AUCTION}#token={other}")
    await expect(page.locator("#message")).to_contain_text("Cannot open this auction")
    await expect(page.get_by_label("Operator or official token")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('underbid.token')") is None


async def test_an_official_creates_an_auction_from_a_spec(
    stage: PagesStage, screenshots: Path
) -> None:
    from playwright.async_api import expect

    base = stage.server.base_url
    page = await stage.page(f"{base}/dashboard#token={stage.server.operator_token}")
    assert "#" not in page.url  # the token went to sessionStorage, off the address bar
    await page.locator("#create-json summary").click()
    await page.get_by_role("button", name="Fill in an example").click()
    spec = json.loads(await page.get_by_label("Spec (JSON, see docs/spec.md)").input_value())
    assert spec["format"] == "open" and len(spec["bidders"]) == 3
    spec["id"] = "pages-created"
    await page.get_by_label("Spec (JSON, see docs/spec.md)").fill(json.dumps(spec))
    await page.locator("#json-form").get_by_role("button", name="Create the auction").click()
    await expect(page.locator("#create-answer")).to_contain_text("Created pages-created.")
    row = page.locator("tr[data-auction='pages-created']")
    await expect(row).to_contain_text("scheduled")
    spec["start_value"] = -1
    await page.get_by_label("Spec (JSON, see docs/spec.md)").fill(json.dumps(spec))
    await page.locator("#json-form").get_by_role("button", name="Create the auction").click()
    await expect(page.locator("#create-answer")).to_contain_text("Not created (at start_value): ")
    await page.screenshot(path=str(screenshots / "dashboard-list-desktop.png"), full_page=True)


async def test_the_rounds_format_turns_and_cancel(stage: PagesStage) -> None:
    from playwright.async_api import expect

    server = stage.server
    spec = rounds_spec(
        2,
        id="pages-rounds",
        currency="UAH",
        start_at=now_ms() + 300,
        rounds={"rounds": 1, "first_pause_s": 0, "turn_s": 60},
    )
    await server.create(spec)
    pages = {}
    for bidder in ("b1", "b2"):
        token = await server.issue("pages-rounds", bidder=bidder)
        pages[bidder] = await stage.page(f"{server.base_url}/bid/pages-rounds#token={token}")
    first = pages["b2"]  # the highest sealed bid posts first
    await expect(first.get_by_test_id("turn")).to_have_text("YOUR TURN")
    label = await first.get_by_test_id("label").inner_text()
    await expect(pages["b1"].get_by_test_id("turn")).to_contain_text("Your turn in")
    await expect(pages["b1"].get_by_role("button", name="Place bid")).to_be_disabled()
    await pages["b1"].get_by_label("Your bid (UAH)").fill("800")
    await pages["b1"].get_by_label("Your bid (UAH)").press("Enter")
    await expect(pages["b1"].get_by_test_id("answer")).to_have_text(
        re.compile("^Not sent: It is not your turn yet")
    )
    await first.get_by_label("Your bid (UAH)").fill("880.00")
    await first.get_by_role("button", name="Place bid").click()
    await expect(first.get_by_test_id("answer")).to_have_text(re.compile("^Accepted"))
    await expect(pages["b1"].locator("#log")).to_contain_text(f"{label} placed a bid.")
    await first.get_by_role("button", name="Cancel this turn's bid").click()
    await expect(first.get_by_test_id("answer")).to_have_text(
        "Accepted: your bid of this turn was cancelled."
    )
    await expect(pages["b1"].locator("#log")).to_contain_text(f"{label} cancelled")


async def bidder_pages(stage: PagesStage, auction_id: str, *bidders: str) -> dict[str, Any]:
    """One bidder's page per bidder, each from a token issued for it."""
    server = stage.server
    pages = {}
    for bidder in bidders:
        token = await server.issue(auction_id, bidder=bidder)
        pages[bidder] = await stage.page(f"{server.base_url}/bid/{auction_id}#token={token}")
    return pages


async def test_a_japanese_auction_by_clicking_accept_and_leave(stage: PagesStage) -> None:
    from playwright.async_api import expect

    server = stage.server
    spec = japanese_spec(
        2,
        id="pages-japanese",
        currency="UAH",
        start_value=1_000_000,  # 10,000.00 UAH
        start_at=now_ms() + 300,
        japanese={"round_s": 60, "step": 50_000, "floor": 100_000},
    )
    await server.create(spec)
    pages = await bidder_pages(stage, "pages-japanese", "b1", "b2")
    public = await stage.page(f"{server.base_url}/watch/pages-japanese")
    b1, b2 = pages["b1"], pages["b2"]
    for page in (b1, b2, public):
        await expect(page.get_by_test_id("price")).to_have_text("UAH 10,000.00")
        await expect(page.get_by_test_id("stage")).to_have_text("Round · round 1")
        await expect(page.get_by_test_id("countdown").locator(".countdown")).to_have_text(
            re.compile(r"^0[01]:\d\d$")
        )
    await expect(public.get_by_test_id("in-confirmed")).to_have_text("2 / 0")
    # Round 1: both accept; the round ends at once and round 2 offers less.
    await b1.get_by_role("button", name="Accept UAH 10,000.00").click()
    await expect(b1.get_by_test_id("answer")).to_have_text("Accepted: you accepted the price.")
    await expect(b1.get_by_role("button", name=re.compile("^Accept"))).to_be_disabled()
    await expect(public.get_by_test_id("in-confirmed")).to_have_text("2 / 1")
    await b2.get_by_role("button", name="Accept UAH 10,000.00").click()
    for page in (b1, b2, public):
        await expect(page.get_by_test_id("price")).to_have_text("UAH 9,500.00")
        await expect(page.get_by_test_id("stage")).to_have_text("Round · round 2")
    await expect(b1.get_by_role("button", name="Accept UAH 9,500.00")).to_be_enabled()
    # Round 2: b1 leaves (after confirming that it means it), b2 accepts and wins.
    await b1.get_by_role("button", name="Leave the auction").click()
    dialog = b1.locator("dialog.confirm")
    await expect(dialog).to_contain_text("Leave the auction?")
    await dialog.get_by_role("button", name="Back").click()
    await expect(dialog).to_have_count(0)
    assert "b1" in runtime_lot(stage, "pages-japanese")["active"]
    await b1.get_by_role("button", name="Leave the auction").click()
    await dialog.get_by_role("button", name="Leave").click()
    await expect(b1.get_by_test_id("answer")).to_have_text("Accepted: you left the auction.")
    await expect(b1.get_by_role("button", name=re.compile("^Accept"))).to_be_disabled()
    await expect(b2.locator("#log")).to_contain_text("left the auction")
    await b2.get_by_role("button", name="Accept UAH 9,500.00").click()
    for page in (b1, b2):
        await expect(page.locator("#banner")).to_have_attribute("data-kind", "ended")
        await expect(page.get_by_test_id("winner")).to_have_text(
            "Supplier 2 LLC (Bidder #2) at UAH 9,500.00"
        )
        await expect(page.get_by_role("button", name=re.compile("^Accept"))).to_have_count(0)
    result = public.get_by_test_id("result")
    await expect(result).to_contain_text("Winner: Supplier 2 LLC at UAH 9,500.00")
    await expect(result).to_contain_text("Supplier 1 LLC")
    lot = runtime_lot(stage, "pages-japanese")
    assert (lot["winner"]["bidder"], lot["winner"]["amount"]) == ("b2", 950_000)


async def test_a_dutch_auction_the_first_to_take_the_price_wins(stage: PagesStage) -> None:
    from playwright.async_api import expect

    server = stage.server
    spec = dutch_spec(
        2,
        id="pages-dutch",
        currency="UAH",
        start_value=500_000,
        start_at=now_ms() + 300,
        # The price rises 10.00 UAH a second, from 3,000.00 to at most 5,000.00
        # (200 steps: the clock never reaches the limit during the test).
        dutch={"start_price": 300_000, "limit_price": 500_000, "step": 1_000, "interval_s": 1},
    )
    await server.create(spec)
    pages = await bidder_pages(stage, "pages-dutch", "b1", "b2")
    public = await stage.page(f"{server.base_url}/watch/pages-dutch")
    b1, b2 = pages["b1"], pages["b2"]
    price = re.compile(r"^UAH\s[34],\d{3}\.00$")
    for page in (b1, b2, public):
        await expect(page.get_by_test_id("stage")).to_have_text("Clock")
        await expect(page.get_by_test_id("price")).to_have_text(price)
        await expect(page.get_by_test_id("countdown").locator(".countdown")).to_have_text(
            re.compile(r"^00:0[01]$")
        )
    # The clock moves: the price shown rises past the start.
    await expect(public.get_by_test_id("price")).not_to_have_text("UAH 3,000.00")
    await expect(public.get_by_test_id("next-price")).to_have_text(price)
    take = b2.get_by_role("button", name=re.compile(r"^Take UAH\s"))
    await take.click()
    dialog = b2.locator("dialog.confirm")
    await expect(dialog).to_contain_text("This ends the auction.")
    await dialog.get_by_role("button", name="Take it").click()
    await expect(b2.get_by_test_id("answer")).to_have_text("Accepted: you took the price.")
    lot = runtime_lot(stage, "pages-dutch")
    assert lot["status"] == "ended" and lot["winner"]["bidder"] == "b2"
    won = f"UAH {lot['winner']['amount'] // 100:,}.00"
    assert lot["winner"]["amount"] > 300_000  # at the price on the clock, not the start
    for page in (b1, b2):
        await expect(page.locator("#banner")).to_have_attribute("data-kind", "ended")
        await expect(page.get_by_test_id("winner")).to_have_text(
            f"Supplier 2 LLC (Bidder #2) at {won}"
        )
        await expect(page.get_by_role("button", name=re.compile("^Take"))).to_have_count(0)
    await expect(public.get_by_test_id("result")).to_contain_text(
        f"Winner: Supplier 2 LLC at {won}"
    )


async def test_a_multi_lot_auction_bids_go_to_the_chosen_lot(stage: PagesStage) -> None:
    from playwright.async_api import expect

    server = stage.server
    paper = open_spec(2, start_value=1_000_000, open={"duration_s": 600, "decrement": 10_000})
    toner = open_spec(3, start_value=2_000_000, open={"duration_s": 600, "decrement": 10_000})
    spec = multi_spec(
        as_lot(paper, "paper", title="Paper"),
        as_lot(toner, "toner", title="Toner"),
        id="pages-multi",
        title="Office supplies, two lots",
        currency="EUR",
        start_at=now_ms() + 300,
        closing="together",
    )
    await server.create(spec)
    dashboard = await stage.page(
        f"{server.base_url}/dashboard/pages-multi#token={server.operator_token}"
    )
    pages = await bidder_pages(stage, "pages-multi", "b1", "b3")
    b1, b3 = pages["b1"], pages["b3"]  # b3 takes part in the toner lot only
    lots = {name: b1.locator(f"section[data-lot='{name}']") for name in ("paper", "toner")}
    await expect(lots["paper"].get_by_role("heading", name="Lot Paper")).to_be_visible()
    await expect(lots["toner"].get_by_role("heading", name="Lot Toner")).to_be_visible()
    await expect(b3.locator("section[data-lot]")).to_have_count(1)
    await expect(b3.locator("section[data-lot='toner']")).to_be_visible()
    for name in ("paper", "toner"):
        await expect(dashboard.locator(f"section[data-lot='{name}']")).to_contain_text("Bidding")
        await expect(lots[name].get_by_test_id("stage")).to_have_text("Bidding")
    await expect(lots["paper"].get_by_test_id("max-bid")).to_have_text("€10,000.00")
    await expect(lots["toner"].get_by_test_id("max-bid")).to_have_text("€20,000.00")
    # A bid in the toner lot's form goes to the toner lot, and only there.
    await lots["toner"].get_by_label("Your bid (EUR)").fill("19,000")
    await lots["toner"].get_by_role("button", name="Place bid").click()
    await expect(lots["toner"].get_by_test_id("answer")).to_have_text(
        "Accepted: your bid of €19,000.00 is recorded."
    )
    await expect(lots["paper"].get_by_test_id("answer")).to_have_text("")
    await expect(lots["toner"].get_by_test_id("your-amount")).to_have_text("€19,000.00")
    await expect(lots["paper"].get_by_test_id("your-amount")).to_have_text("—")
    toner_card = dashboard.locator("section[data-lot='toner']")
    paper_card = dashboard.locator("section[data-lot='paper']")
    await expect(toner_card.get_by_test_id("best")).to_have_text("€19,000.00")
    await expect(toner_card.locator("table")).to_contain_text("Supplier 1 LLC")
    await expect(paper_card.get_by_test_id("best")).to_have_text("—")
    await lots["paper"].get_by_label("Your bid (EUR)").fill("9 500,00")
    await lots["paper"].get_by_label("Your bid (EUR)").press("Enter")
    await expect(lots["paper"].get_by_test_id("answer")).to_have_text(re.compile("^Accepted"))
    await expect(paper_card.get_by_test_id("best")).to_have_text("€9,500.00")
    await expect(toner_card.get_by_test_id("best")).to_have_text("€19,000.00")
    # A bidder of one lot only bids in it (its page names the lot for it).
    b3_toner = b3.locator("section[data-lot='toner']")
    await b3_toner.get_by_label("Your bid (EUR)").fill("18,500")
    await b3_toner.get_by_role("button", name="Place bid").click()
    await expect(b3_toner.get_by_test_id("answer")).to_have_text(
        "Accepted: your bid of €18,500.00 is recorded."
    )
    await expect(toner_card.get_by_test_id("best")).to_have_text("€18,500.00")
    await expect(lots["toner"].get_by_test_id("rank")).to_have_text("#2 of 3")
    await expect(lots["paper"].get_by_test_id("rank")).to_have_text("#1 of 2")
    assert [
        lot["ladder"][0]["bidder"] for lot in (runtime_lot(stage, "pages-multi", i) for i in (0, 1))
    ] == ["b1", "b3"]


async def test_screenshots_at_desktop_and_phone_sizes(stage: PagesStage, screenshots: Path) -> None:
    pages = {
        "dashboard": stage.dashboard,
        "public": stage.public,
        "bidder": stage.bidders["b1"],
    }
    for name, page in pages.items():
        await shots(page, screenshots, name)
    assert len(list(screenshots.glob("*.png"))) >= 6


async def test_the_public_view_reveals_names_after_the_announcement(
    stage: PagesStage, screenshots: Path
) -> None:
    from playwright.async_api import expect

    server = stage.server
    spec = open_spec(
        2,
        id="pages-short",
        currency="EUR",
        start_value=START_VALUE,
        start_at=now_ms() + 300,
        open={"duration_s": 2, "decrement": 100_000},
    )
    await server.create(spec)
    page = await stage.page(f"{server.base_url}/watch/pages-short")
    bidder = await server.connect("pages-short", await server.issue("pages-short", bidder="b2"))
    await eventually(
        lambda: server.gateway.runtime.durable_seq("pages-short") >= 2, what="bidding to open"
    )
    assert (await bidder.bid(9_500_000)).ok
    result = page.get_by_test_id("result")
    await expect(result).to_contain_text("Winner: Supplier 2 LLC at €95,000.00")
    await expect(result).to_contain_text("Supplier 1 LLC (Bidder #1)")
    await expect(page.locator("#banner")).to_have_attribute("data-kind", "ended")
    await shots(page, screenshots, "result")


async def test_a_bad_link_and_a_private_auction_say_so(stage: PagesStage) -> None:
    from playwright.async_api import expect

    server = stage.server
    bad = await stage.page(f"{server.base_url}/bid/{AUCTION}#token=eyJhbGciOiJIUzI1NiJ9.e30.forged")
    await expect(bad.locator("#banner")).to_have_text(re.compile("This link is not valid"))
    spec = open_spec(2, id="pages-private", public=False, start_at=now_ms() + 60_000)
    await server.create(spec)
    private = await stage.page(f"{server.base_url}/watch/pages-private")
    await expect(private.locator("#banner")).to_have_text(
        "There is no public auction at this address: it does not exist, or it is not public."
    )
    await expect(private.locator("main")).not_to_contain_text("Supplier")


async def test_no_page_raised_a_script_error(stage: PagesStage) -> None:
    assert stage.errors == []
