"""Telegram opt-in notices: the button under a fallback and after 👎, /stop, and the answer sent after a publish
(from the dashboard, or `vocbot logs promote` plus an admin's /reload), quoting the question, once."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fake_bot_api import FakeBotAPI
from loop_data import INTENT, QUESTION, write_intent
from telegram_harness import ADMIN, ask, bot_settings, data_of, logged, press, rows, running_service, visible

from bot.cli.main import cli
from bot.config import Settings
from bot.core.engine import Engine
from bot.service import Service

pytestmark = pytest.mark.slow


@pytest.fixture
async def service(settings: Settings, fake: FakeBotAPI, tmp_path: Path, trimmed_intents: Path,
                  variant_models: Path) -> AsyncIterator[Service]:
    """The Telegram service on a private copy of the intents (the tests publish into it)."""
    shutil.copytree(trimmed_intents, tmp_path / "intents")
    (tmp_path / "intents" / "learned.yaml").unlink(missing_ok=True)
    configured = bot_settings(settings, fake, admin_ids=frozenset({ADMIN}), intents_dir=tmp_path / "intents",
                              model_dir=variant_models)
    engine = Engine.load(configured.intents_dir, configured.content_dir, configured.model_dir)
    async with running_service(configured, engine) as svc:
        yield svc


async def opt_in(fake: FakeBotAPI, service: Service, user: dict) -> str:
    reply = await ask(fake, user, QUESTION)
    [eid] = [r["id"] for r in await logged(service, "SELECT id FROM enquiries WHERE text = ?".replace("?", "'"
                                                                                                    + QUESTION + "'"))]
    assert f"n:{eid}" in data_of(reply)
    confirm = await press(fake, user, reply, f"n:{eid}")
    assert visible(confirm) == service.engine.content.message("optin_recorded", "zh")
    return eid


async def test_the_button_stores_the_chat_sealed_and_stop_withdraws(fake: FakeBotAPI, service: Service,
                                                                    bot: object) -> None:
    user = fake.user(3001)
    await opt_in(fake, service, user)
    [row] = rows(service, "SELECT * FROM optins")
    assert row["status"] == "pending" and row["reply_to"].startswith("s1:") and "3001" not in row["reply_to"]
    again = await ask(fake, user, "/stop")
    assert visible(again) == service.engine.content.message("optin_stopped", "zh", n=1)
    [row] = rows(service, "SELECT * FROM optins")
    assert (row["status"], row["reply_to"]) == ("withdrawn", None)
    assert visible(await ask(fake, user, "/stop")) == service.engine.content.message("optin_none", "zh")


async def test_a_thumbs_down_offers_the_button_too(fake: FakeBotAPI, service: Service, bot: object,
                                                   engine: Engine) -> None:
    user = fake.user(3002)
    question = engine.intents["pathway.3plus2"].examples["zh"][0]
    reply = await ask(fake, user, question)
    [eid] = [r["id"] for r in await logged(service, "SELECT id FROM enquiries")]
    mark = fake.mark()
    fake.press(user, fake.sent_message(reply), f"f:-:{eid}")
    edit = await fake.wait_call("editMessageReplyMarkup", since=mark)
    assert f"n:{eid}" in data_of(edit)


async def test_after_a_publish_the_asker_gets_the_answer_quoting_the_question_once(
        fake: FakeBotAPI, service: Service, bot: object) -> None:
    user = fake.user(3003)
    await opt_in(fake, service, user)
    write_intent(service.settings.intents_dir, service.settings.content_dir, service.settings.model_dir)
    mark = fake.mark()
    assert await service.reload_engine() is None
    notice = await fake.wait_call("sendMessage", since=mark, chat_id=3003, timeout=60)
    assert notice.params["text"].count("<blockquote>") == 1 and QUESTION in visible(notice)
    assert "三(一)4" in visible(notice) and "区教委" in visible(notice)
    await service.drain_notices()
    assert rows(service, "SELECT status FROM optins") == [{"status": "told"}]
    assert await service.reload_engine() is None
    await service.drain_notices()
    assert len(fake.find("sendMessage", since=mark, chat_id=3003)) == 1


async def test_cli_promote_then_reload_in_telegram_notifies_the_asker(
        fake: FakeBotAPI, service: Service, bot: object, monkeypatch: pytest.MonkeyPatch) -> None:
    user = fake.user(3004)
    eid = await opt_in(fake, service, user)
    settings = service.settings
    for name, value in (("VOCBOT_DB", str(settings.db_path)), ("VOCBOT_HASH_KEY", settings.hash_key or ""),
                        ("VOCBOT_INTENTS_DIR", str(settings.intents_dir)),
                        ("VOCBOT_MODEL_DIR", str(settings.model_dir))):
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["logs", "promote", eid, "pathway.overview"])
    assert result.exit_code == 0, result.output
    mark = fake.mark()
    admin = fake.user(ADMIN)
    await ask(fake, admin, "/reload")
    notice = await fake.wait_call("sendMessage", since=mark, chat_id=3004, timeout=60)
    assert QUESTION in visible(notice)
    assert service.engine.answer_intent("pathway.overview", "zh").answer.split("\n")[0] in visible(notice)
    assert dataclasses.asdict(service.settings)["intents_dir"] == settings.intents_dir
    assert INTENT not in service.engine.intents


async def test_a_refused_notice_waits_and_goes_out_once_when_the_bot_starts_again(
        fake: FakeBotAPI, service: Service) -> None:
    from telegram_harness import running_bot

    user = fake.user(3005)
    async with running_bot(service):
        await opt_in(fake, service, user)
        write_intent(service.settings.intents_dir, service.settings.content_dir, service.settings.model_dir)
        fake.fail("sendMessage", status=500, times=10)           # every attempt refused (Bad Gateway and co.)
        assert await service.reload_engine() is None
        await service.drain_notices()
        assert rows(service, "SELECT status, reply_to IS NOT NULL AS sealed FROM optins") == \
            [{"status": "pending", "sealed": 1}]
        fake.faults.clear()
    mark = fake.mark()
    async with running_bot(service):                              # the next start pushes what is pending
        notice = await fake.wait_call("sendMessage", since=mark, chat_id=3005, timeout=30)
        assert QUESTION in visible(notice)
        await service.drain_notices()
    async with running_bot(service):
        await service.drain_notices()
    assert len(fake.find("sendMessage", since=mark, chat_id=3005)) == 1
    assert rows(service, "SELECT status FROM optins") == [{"status": "told"}]
