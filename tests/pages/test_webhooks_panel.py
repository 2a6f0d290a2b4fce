"""The dashboard's webhook panel, in headless Chromium: an endpoint that answered
410 Gone shows as disabled with its waiting messages; an operator enables it
with one click and the messages go out."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.server_fixture import eventually, live_server
from tests.gateway.test_webhooks import LOT_ENDED, OCDS_RELEASE, SECRET, Receiver, end_an_auction
from tests.gateway.test_webhooks import webhook_env as _env
from tests.http_server import serve_app

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_a_disabled_endpoint_is_shown_and_enabled_from_the_dashboard(
    browser: Any, screenshots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.async_api import expect

    monkeypatch.setenv("TEST_WEBHOOK_SECRET", SECRET)
    hooks = Receiver(script={LOT_ENDED: [410], OCDS_RELEASE: [410]}, default=200)
    async with serve_app(hooks.app()) as base, live_server(_env(f"{base}/hooks")) as server:
        await end_an_auction(server, "panel-1")
        sender = server.gateway.services[-1]
        await eventually(
            lambda: sender.stats["erp"].pending == 2 and bool(sender.stats["erp"].disabled),
            timeout=10,
            what="disabled",
        )
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        try:
            page = await context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"{server.base_url}/dashboard#token={server.operator_token}")
            row = page.locator("#webhooks tr[data-endpoint='erp']")
            await expect(page.locator("#webhooks-section")).to_be_visible()
            await expect(row).to_contain_text("disabled")
            await expect(row).to_contain_text("410")
            await expect(row.locator("td").nth(2)).to_have_text("2")
            await page.screenshot(
                path=str(screenshots / "dashboard-webhooks-disabled.png"), full_page=True
            )
            await row.get_by_role("button", name="Enable").click()
            await expect(row).to_contain_text("enabled", timeout=10_000)
            await expect(row.locator("td").nth(3)).to_have_text("2", timeout=10_000)
            await expect(row.locator("td").nth(2)).to_have_text("0")
            await page.screenshot(
                path=str(screenshots / "dashboard-webhooks-enabled.png"), full_page=True
            )
            # an official of one auction (not an operator) sees no panel
            official = server.gateway.token("panel-1", "official")
            other = await context.new_page()
            await other.goto(f"{server.base_url}/dashboard")
            await other.evaluate(
                f"sessionStorage.setItem('underbid.token', {json.dumps(official)})"
            )
            await other.reload()
            await expect(other.locator("#auctions")).to_be_visible()
            await expect(other.locator("#webhooks-section")).to_be_hidden()
        finally:
            await context.close()
        assert errors == []
        assert re.search(r"msg_", hooks.hits[-1].headers["webhook-id"])
