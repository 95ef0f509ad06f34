"""Web fixtures for the browser tests: the whole `vocbot serve` app on a free port and a Chromium page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web as aioweb
from browser_harness import chromium_page

from bot.config import Settings
from bot.core.engine import Engine
from bot.log.store import Store
from bot.serve import build_app
from bot.service import Service


@pytest.fixture
async def server(settings: Settings, engine: Engine) -> AsyncIterator[str]:
    """The whole `vocbot serve` application on 127.0.0.1 and a free port, logging to a temporary database."""
    service = Service(settings, engine, Store(settings))
    runner = aioweb.AppRunner(build_app(settings, service), access_log=None)
    await runner.setup()
    site = aioweb.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    finally:
        await runner.cleanup()


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Any]:
    """A Chromium page with a fresh profile that fails the test on any console error (CSP included)."""
    async with chromium_page(tmp_path / "profile") as tab:
        yield tab


