"""`vocbot wechat menu` and `vocbot wechat reply` against the fake WeChat platform."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from fake_wechat import APP_ID, APP_SECRET, FakeWeChat

from bot.cli.main import cli
from bot.config import Settings
from bot.log.store import Store


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeChat]:
    async with FakeWeChat() as server:
        yield server


def env(tmp_path: Path, fake: FakeWeChat, **extra: str) -> dict[str, str]:
    return {"VOCBOT_DB": str(tmp_path / "enquiries.db"), "VOCBOT_HASH_KEY": "test-key", "WECHAT_APP_ID": APP_ID,
            "WECHAT_APP_SECRET": APP_SECRET, "WECHAT_API_URL": fake.url, **extra}


async def run(args: list[str], environment: dict[str, str]) -> Result:
    """The command in a thread, so the fake server keeps answering on this loop."""
    return await asyncio.to_thread(CliRunner().invoke, cli, args, env=environment)


async def test_menu_creates_the_custom_menu(tmp_path: Path, fake: FakeWeChat) -> None:
    result = await run(["wechat", "menu"], env(tmp_path, fake))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("menu created: 3 buttons")
    assert fake.errors == [] and len(fake.menus) == 1
    assert fake.menus[0]["button"][0]["sub_button"][0]["key"] == "route:student"


async def test_menu_print_sends_nothing(tmp_path: Path, fake: FakeWeChat) -> None:
    result = await run(["wechat", "menu", "--print", "--lang", "en"], env(tmp_path, fake))
    assert result.exit_code == 0
    assert json.loads(result.output)["button"][0]["name"] == "Students"
    assert fake.menus == [] and fake.token_requests == 0


async def test_menu_without_credentials_is_one_line(tmp_path: Path, fake: FakeWeChat) -> None:
    result = await run(["wechat", "menu"], env(tmp_path, fake, WECHAT_APP_SECRET=""))
    assert result.exit_code == 1
    assert "WECHAT_APP_SECRET" in result.output and len(result.output.strip().splitlines()) == 1


async def test_menu_with_a_refused_secret_is_one_line(tmp_path: Path, fake: FakeWeChat) -> None:
    result = await run(["wechat", "menu"], env(tmp_path, fake, WECHAT_APP_SECRET="wrong"))
    assert result.exit_code == 1 and "40001" in result.output and "Traceback" not in result.output


async def test_reply_reaches_the_user_of_a_wechat_handoff(tmp_path: Path, fake: FakeWeChat) -> None:
    settings = dataclasses.replace(Settings.from_env({}), db_path=tmp_path / "enquiries.db", hash_key="test-key")
    store = Store(settings)
    store.start()
    await store.add_handoff(None, "wechat", store.user_key("wechat", "oUser"),
                            reply_to="oUser")
    await store.add_handoff(None, "web", "somebody", reply_to=None)
    await asyncio.to_thread(store.close)
    result = await run(["wechat", "reply", "1", "请拨打区教委电话咨询。", "--staff", "王老师"], env(tmp_path, fake))
    assert result.exit_code == 0, result.output
    assert fake.sent == [{"touser": "oUser", "content": "工作人员回复：\n请拨打区教委电话咨询。"}]
    conn = sqlite3.connect(settings.db_path)
    try:
        assert conn.execute("SELECT status FROM handoffs WHERE id = 1").fetchone() == ("answered",)
        replies = conn.execute("SELECT text, staff_key FROM staff_replies").fetchall()
        assert replies == [("请拨打区教委电话咨询。", "王老师")]
    finally:
        conn.close()
    web = await run(["wechat", "reply", "2", "x"], env(tmp_path, fake))
    assert web.exit_code == 1 and "not a WeChat handoff" in web.output
    missing = await run(["wechat", "reply", "9", "x"], env(tmp_path, fake))
    assert missing.exit_code == 1 and "no handoff 9" in missing.output
