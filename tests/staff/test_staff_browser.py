"""The staff dashboard in a real browser: Playwright driving Debian's Chromium, phone-sized, with screenshots."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web as aioweb
from browser_harness import ARTIFACTS, chromium_page, require_chromium

from bot.config import ROOT, Settings
from bot.core.engine import Engine
from bot.log.store import Store
from bot.serve import build_app
from bot.service import Service

PASSWORD = "browser-test-password"
HOSTILE = "<script>window.__pwned=1</script>"
HOTPOT = "北碚哪里有好吃的火锅"

pytestmark = pytest.mark.browser

require_chromium()

from playwright.async_api import Page, expect  # noqa: E402 - only once Chromium is known


@pytest.fixture
async def server(settings: Settings, engine: Engine, tmp_path: Path, shipped_copy_models: Path) -> AsyncIterator[str]:
    """`vocbot serve`'s application with the dashboard on, a private copy of the intents, a few enquiries."""
    shutil.copytree(ROOT / "intents", tmp_path / "intents")
    (tmp_path / "intents" / "learned.yaml").unlink(missing_ok=True)
    staff_settings = dataclasses.replace(settings, staff_password=PASSWORD, intents_dir=tmp_path / "intents",
                                         model_dir=shipped_copy_models)
    service = Service(staff_settings, engine, Store(staff_settings))
    runner = aioweb.AppRunner(build_app(staff_settings, service), access_log=None)
    await runner.setup()
    site = aioweb.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    for i, (text, channel) in enumerate([(HOSTILE, "web"), (HOTPOT, "telegram"), (HOTPOT + "呀", "web"),
                                         (engine.intents["pathway.3plus2"].examples["zh"][0], "web"),
                                         (engine.intents["enterprise.tax_credit"].examples["zh"][0], "telegram")]):
        answered = await service.ask(text, channel=channel, user_id=f"u{i}", audience="student")
        if i == 3:
            await service.feedback(answered.enquiry_id, 1, channel=channel, user_id=f"u{i}")
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/staff/"
    finally:
        await runner.cleanup()


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Page]:
    """A phone-sized Chromium page that fails the test on any console error (a CSP violation included)."""
    async with chromium_page(tmp_path / "profile", accept_downloads=True) as tab:
        yield tab


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"staff-{name}.png"), full_page=True)


async def fits_the_screen(page: Page) -> bool:
    """No sideways scrolling of the page itself on a phone (wide tables scroll inside their box)."""
    return await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


async def test_staff_sign_in_and_every_page_on_a_phone(server: str, page: Page, tmp_path: Path) -> None:
    await page.goto(server)
    await expect(page).to_have_url(server + "login")
    await expect(page.get_by_label("密码")).to_be_visible()
    await shot(page, "login")
    await page.get_by_label("密码").fill("wrong")
    await page.get_by_role("button", name="登录").click()
    await expect(page.get_by_text("密码不正确。")).to_be_visible()
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()

    await expect(page).to_have_url(server)
    await expect(page.locator("svg.chart")).to_have_count(6)
    await expect(page.locator(".kpi strong").first).to_have_text("5")
    assert await fits_the_screen(page)
    await shot(page, "overview")
    await page.set_viewport_size({"width": 1280, "height": 900})
    await shot(page, "overview-desktop")
    await page.set_viewport_size({"width": 390, "height": 844})

    await page.get_by_role("link", name="提问记录").click()
    await expect(page.get_by_text(HOSTILE)).to_be_visible()               # shown as text, never run
    assert await page.evaluate("window.__pwned === undefined")
    await page.get_by_label("渠道").select_option("telegram")
    await page.get_by_role("button", name="筛选").click()
    await expect(page).to_have_url(server + "enquiries?since=&until=&channel=telegram&decision=&intent=&audience=&q=")
    await expect(page.locator("tbody tr")).to_have_count(2)
    assert await fits_the_screen(page)
    await shot(page, "enquiries")

    await page.get_by_role("link", name="未答问题").click()
    cluster = page.locator("article.cluster").filter(has_text=HOTPOT).first
    await expect(cluster).to_contain_text("2 次")
    await shot(page, "unanswered")
    await cluster.get_by_label("问答条目").select_option("policy.about")
    # The page returns once the model is retrained on the new example (~5 s idle; the goal is 10 s, and a CI
    # machine running the whole suite is slower), so this step alone waits longer than the tab's default.
    await cluster.get_by_role("button", name="加为例句").click(timeout=60_000)
    await expect(page.locator(".notice")).to_contain_text("policy.about")
    assert await fits_the_screen(page)
    await shot(page, "promoted")

    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="导出 CSV").click()
    download = await download_info.value
    saved = tmp_path / "export.csv"
    await download.save_as(saved)
    assert saved.read_text(encoding="utf-8-sig").startswith("id,ts,channel,user_key,")
    assert HOSTILE in saved.read_text(encoding="utf-8-sig")

    await page.get_by_role("button", name="退出").click()
    await expect(page).to_have_url(server + "login")
    await page.goto(server + "enquiries")
    await expect(page).to_have_url(server + "login")
