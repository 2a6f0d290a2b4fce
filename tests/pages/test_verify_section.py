"""The public page's "Verify this auction" section, in headless Chromium:
the latest signed root and size, the key that signed it, and the commands to
check the record (docs/pages.md, docs/record.md)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from tests.factories import open_spec
from tests.gateway.server_fixture import eventually, live_server, now_ms

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_the_public_page_shows_the_signed_root_and_the_command(
    browser: Any, screenshots: Path
) -> None:
    from playwright.async_api import expect

    async with live_server({"UNDERBID_RECORD_CHECKPOINT_INTERVAL_MS": "50"}) as server:
        aid = await server.create(
            open_spec(2, id="pages-verify", title="Road salt", start_at=now_ms())
        )
        runtime = server.gateway.runtime
        await eventually(lambda: runtime.durable_seq(aid) >= 2, timeout=5)
        context = await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        await context.add_init_script("localStorage.setItem('underbid.lang', 'en')")
        try:
            page = await context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"{server.base_url}/watch/{aid}")
            section = page.locator("#verify")
            await expect(section).to_be_visible(timeout=10_000)
            transparency = server.gateway.transparency
            entry = await transparency.log_of(aid)
            root = base64.b64encode(entry.ledger.tree.root(entry.size)).decode()
            await expect(page.locator("#verify-root")).to_have_text(root)
            await expect(page.locator("#verify-size")).to_have_text(str(entry.size))
            key = transparency.keys[0].key
            await expect(page.locator("#verify-key")).to_have_text(
                f"{key.name}+{key.verifier.hex_id}"
            )
            command = page.locator("#verify-command")
            await expect(command).to_contain_text(f"{server.base_url}/api/auctions/{aid}/record")
            await expect(command).to_contain_text(
                f"underbid verify record.json --keys-url {server.base_url}/.well-known/"
            )
            await expect(section).to_contain_text("temporary key")
            await section.scroll_into_view_if_needed()
            await page.screenshot(path=str(screenshots / "public-verify.png"), full_page=True)
        finally:
            await context.close()
        assert errors == []
