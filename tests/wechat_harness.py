"""Helpers for the WeChat tests: settings for the fake account and `vocbot serve`'s app running on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from fake_wechat import APP_ID, APP_SECRET, TOKEN, FakeWeChat

from bot.channels.wechat.app import WECHAT, WeChatChannel
from bot.config import Settings
from bot.core.engine import Engine
from bot.log.store import Store
from bot.serve import build_app
from bot.service import Service


def wechat_settings(base: Settings, fake: FakeWeChat, **changes: Any) -> Settings:
    """Settings for the fake account: token, AppID and secret, the fake API root; AES key when it has one."""
    return dataclasses.replace(base, wechat_token=TOKEN, wechat_app_id=APP_ID, wechat_app_secret=APP_SECRET,
                               wechat_api_url=fake.url, wechat_aes_key=fake.aes_key, **changes)


@asynccontextmanager
async def running(settings: Settings, engine: Engine, fake: FakeWeChat) -> AsyncIterator[WeChatChannel]:
    """The whole `vocbot serve` app with WeChat on; the fake platform pushes to its /wechat."""
    service = Service(settings, engine, Store(settings))
    app = build_app(settings, service)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.bot_url = f"http://127.0.0.1:{runner.addresses[0][1]}/wechat"
    try:
        yield app[WECHAT]
    finally:
        await runner.cleanup()


def rows(settings: Settings, sql: str = "SELECT * FROM enquiries ORDER BY ts") -> list[dict[str, Any]]:
    """Rows of the log (after the app has drained it)."""
    conn = sqlite3.connect(settings.db_path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql)]
    finally:
        conn.close()
