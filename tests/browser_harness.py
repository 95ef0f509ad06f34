"""Shared set-up of the browser tests: Debian's Chromium driven by Playwright, failing on console errors."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import ROOT

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}


def require_chromium() -> None:
    """Skip the calling test module without Chromium; in CI (CI set) fail instead of skipping."""
    if CHROMIUM.exists():
        return
    message = (f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install chromium`, which "
               "scripts/test.sh does when it runs as root) to run the browser tests.")
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)


@contextlib.asynccontextmanager
async def chromium_page(profile: Path, **context_options: Any) -> AsyncIterator[Any]:
    """A zh-CN, phone-sized page with a fresh profile; the test fails on any console error (CSP included)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
            locale="zh-CN", viewport=PHONE, **context_options)
        try:
            tab = context.pages[0] if context.pages else await context.new_page()
            tab.set_default_timeout(10_000)
            errors: list[str] = []
            context.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            context.on("weberror", lambda e: errors.append(str(e.error)))
            yield tab
            assert errors == []
        finally:
            await context.close()
