"""WeChat's opt-in notices: "通知我" after a fallback, the answer sent once staff publish it, "取消通知"."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fake_wechat import FakeWeChat
from loop_data import QUESTION, write_intent
from wechat_harness import running, wechat_settings

from bot.channels.wechat.app import WeChatChannel
from bot.config import ROOT, Settings
from bot.core.engine import Engine

OPENID = "oNotice-user"


@pytest.fixture
async def channel(settings: Settings, fake: FakeWeChat, tmp_path: Path,
                  shipped_copy_models: Path) -> AsyncIterator[WeChatChannel]:
    """The channel on a copy of the shipped intents that a test may extend and publish."""
    shutil.copytree(ROOT / "intents", tmp_path / "intents")
    (tmp_path / "intents" / "learned.yaml").unlink(missing_ok=True)
    configured = wechat_settings(dataclasses.replace(settings, intents_dir=tmp_path / "intents",
                                                     model_dir=shipped_copy_models), fake)
    engine = Engine.load(configured.intents_dir, configured.content_dir, configured.model_dir)
    async with running(configured, engine, fake) as running_channel:
        yield running_channel


async def say(fake: FakeWeChat, text: str) -> str:
    delivery = await fake.deliver(fake.text(OPENID, text))
    assert delivery.reply is not None
    return delivery.reply["Content"]


async def publish(channel: WeChatChannel, write: bool = True) -> None:
    service = channel.service
    if write:
        write_intent(service.settings.intents_dir, service.settings.content_dir, service.settings.model_dir)
    assert await service.reload_engine() is None
    await service.drain_notices()


async def test_notify_me_after_a_fallback_sends_the_answer_once_it_is_published(channel: WeChatChannel,
                                                                                fake: FakeWeChat) -> None:
    message = channel.service.engine.content.message
    assert (await say(fake, QUESTION)).endswith(message("wx_optin_hint", "zh"))
    assert await say(fake, "通知我") == message("wx_optin_recorded", "zh")
    assert await say(fake, "通知我") == message("optin_already", "zh")
    assert fake.sent == []
    await publish(channel)
    told = [m["content"] for m in fake.sent if m["touser"] == OPENID]
    assert told and QUESTION in told[0] and "三(一)4" in "".join(told)
    assert fake.errors == []
    await publish(channel, write=False)                          # a second publish tells nobody again
    assert len(fake.sent) == len(told)
    assert OPENID not in str(channel.service.store.read(lambda db: list(db.query("SELECT * FROM optins"))))


async def test_stop_withdraws_and_nothing_is_sent(channel: WeChatChannel, fake: FakeWeChat) -> None:
    message = channel.service.engine.content.message
    await say(fake, QUESTION)
    await say(fake, "通知我")
    assert await say(fake, "取消通知") == message("optin_stopped", "zh", n=1)
    assert await say(fake, "取消通知") == message("optin_none", "zh")
    await publish(channel)
    assert fake.sent == []


async def test_notify_me_without_a_fallback_explains_itself(channel: WeChatChannel, fake: FakeWeChat) -> None:
    message = channel.service.engine.content.message
    await say(fake, "三加二是啥子")
    assert await say(fake, "通知我") == message("wx_optin_nothing", "zh")
