"""The API client against the fake platform: the access token's life, customer-service messages, the menu."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from fake_wechat import APP_ID, APP_SECRET, FakeWeChat

from bot.channels.wechat.api import WeChatApi, WeChatApiError
from bot.channels.wechat.menu import build_menu, check_menu
from bot.core.engine import Engine
from bot.errors import DataError
from bot.log.sealing import Sealer

OPENID = "oUser-api-tests"


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def api(fake: FakeWeChat, clock: Clock) -> AsyncIterator[WeChatApi]:
    async with WeChatApi(fake.url, APP_ID, APP_SECRET, sealer=Sealer(b"k"), clock=clock, timeout=1.0) as client:
        yield client


async def test_the_token_is_fetched_once_and_reused(api: WeChatApi, fake: FakeWeChat) -> None:
    for n in range(3):
        await api.send_text(OPENID, f"消息{n}")
    assert fake.token_requests == 1
    assert [m["content"] for m in fake.sent] == ["消息0", "消息1", "消息2"]


async def test_the_token_is_refreshed_before_it_expires(api: WeChatApi, fake: FakeWeChat, clock: Clock) -> None:
    await api.send_text(OPENID, "一")
    clock.now += 7200 - 300 - 1          # just inside the margin: still the same token
    await api.send_text(OPENID, "二")
    assert fake.token_requests == 1
    clock.now += 2                       # within five minutes of WeChat's expiry: a new one first
    await api.send_text(OPENID, "三")
    assert fake.token_requests == 2 and fake.errors == []


async def test_a_refused_token_is_refreshed_once_and_the_call_retried(api: WeChatApi, fake: FakeWeChat) -> None:
    await api.send_text(OPENID, "一")
    fake.expire_tokens()
    await api.send_text(OPENID, "二")
    assert fake.token_requests == 2
    assert fake.errors == ["42001 access_token expired"]
    assert [m["content"] for m in fake.sent] == ["一", "二"]


async def test_one_refresh_at_a_time_however_many_callers(api: WeChatApi, fake: FakeWeChat) -> None:
    fake.token_delay = 0.2
    await asyncio.gather(*(api.send_text(f"{OPENID}{n}", "并发") for n in range(20)))
    assert (fake.token_requests, fake.max_token_in_flight, len(fake.sent)) == (1, 1, 20)
    fake.expire_tokens()
    await asyncio.gather(*(api.send_text(f"{OPENID}{n}", "再来") for n in range(20)))
    assert (fake.token_requests, fake.max_token_in_flight, len(fake.sent)) == (2, 1, 40)


async def test_a_long_text_goes_out_in_parts_within_the_limit(api: WeChatApi, fake: FakeWeChat) -> None:
    text = "\n\n".join(f"第{n}段：" + "职业教育" * 120 for n in range(5))
    sent = await api.send_text(OPENID, text)
    assert sent == len(fake.sent) >= 3 and fake.errors == []
    assert all(len(m["content"].encode()) <= 2048 for m in fake.sent)
    assert "".join(m["content"] for m in fake.sent).replace("\n", "") == text.replace("\n", "")


async def test_sealed_addresses_open_only_with_the_right_key(api: WeChatApi, fake: FakeWeChat) -> None:
    await api.send_text(Sealer(b"k").seal(OPENID, "notify"), "通知")
    assert fake.sent[-1]["touser"] == OPENID
    with pytest.raises(WeChatApiError):
        await api.send_text(Sealer(b"other").seal(OPENID, "handoffs.reply_to"), "不会发出")
    assert len(fake.sent) == 1


@pytest.mark.parametrize(("secret", "errcode"), [("wrong", 40001)])
async def test_bad_credentials_raise_one_sentence(fake: FakeWeChat, secret: str, errcode: int) -> None:
    async with WeChatApi(fake.url, APP_ID, secret) as client:
        with pytest.raises(WeChatApiError) as info:
            await client.send_text(OPENID, "x")
    assert info.value.errcode == errcode and "\n" not in str(info.value)


async def test_a_hanging_api_times_out(api: WeChatApi, fake: FakeWeChat) -> None:
    fake.hang.add("/cgi-bin/message/custom/send")
    with pytest.raises(WeChatApiError, match="did not answer"):
        await api.send_text(OPENID, "x")


async def test_an_unreachable_api_is_one_sentence() -> None:
    async with WeChatApi("http://127.0.0.1:9", APP_ID, APP_SECRET, timeout=1.0) as client:
        with pytest.raises(WeChatApiError, match="Cannot reach WeChat"):
            await client.token()


async def test_the_menu_passes_the_platform_checks(api: WeChatApi, fake: FakeWeChat, engine: Engine) -> None:
    for lang in ("zh", "en"):
        await api.create_menu(build_menu(engine, lang))
    assert fake.errors == [] and len(fake.menus) == 2
    keys = [sub["key"] for button in fake.menus[0]["button"] for sub in button["sub_button"]]
    assert {"route:student", "route:enterprise", "staff", "menu"} <= set(keys)
    assert all(key.partition(":")[2] in engine.menu.topics for key in keys if key.startswith("topic:"))


@pytest.mark.parametrize(("menu", "field"), [
    ({"button": []}, "button"),
    ({"button": [{"name": "很长很长的按钮名字", "sub_button": []}]}, "名字"),
    ({"button": [{"name": "话题", "sub_button": [{"type": "click", "name": "a", "key": "k"}] * 6}]}, "5"),
    ({"button": [{"name": "话题", "sub_button": [{"type": "click", "name": "a", "key": "k" * 129}]}]}, "128"),
])
def test_menus_breaking_wechat_limits_are_refused_before_sending(menu: dict, field: str) -> None:
    with pytest.raises(DataError, match=field):
        check_menu(menu)
