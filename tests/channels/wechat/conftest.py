"""WeChat fixtures: the fake platform and the running channel on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fake_wechat import FakeWeChat
from wechat_harness import running, wechat_settings

from bot.channels.wechat.app import WeChatChannel
from bot.config import Settings
from bot.core.engine import Engine


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeChat]:
    """The fake platform in plain mode."""
    async with FakeWeChat() as server:
        yield server


@pytest.fixture
async def channel(settings: Settings, engine: Engine, fake: FakeWeChat) -> AsyncIterator[WeChatChannel]:
    """The running channel on the fake platform, with the API configured."""
    async with running(wechat_settings(settings, fake), engine, fake) as running_channel:
        yield running_channel
