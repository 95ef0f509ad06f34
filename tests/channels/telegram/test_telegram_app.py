"""The Telegram bot's lifecycle end to end: the real python-telegram-bot Application against the fake Bot API
server: start-up, polling through errors and restarts, webhook mode, and `vocbot serve` with a token.

Every test waits on conditions (a request reaching the fake server) with timeouts; none sleeps.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
from pathlib import Path

import aiohttp
import pytest
from fake_bot_api import FakeBotAPI
from telegram_harness import (
    ADMIN,
    FALLBACK_POOL,
    FAST,
    ask,
    bot_settings,
    data_of,
    free_socket,
    logged,
    pick,
    press,
    running_bot,
    running_service,
    shown,
    visible,
)

from bot.channels.telegram.app import SECRET_HEADER, WEBHOOK_PATH
from bot.config import ROOT, Settings
from bot.core.engine import Engine
from bot.service import Service

STAFF_CHAT = -100777


# ---- start-up ------------------------------------------------------------------------------------
async def test_start_registers_commands_in_both_languages_and_polls(fake: FakeBotAPI, bot: object,
                                                                    engine: Engine) -> None:
    expected = {"start", "help", "menu", "route", "glossary", "lang", "about", "privacy", "stop"}
    for code, lang in (("", "zh"), ("zh", "zh"), ("en", "en")):
        registered = fake.commands[('{"type": "default"}', code)]
        assert {c["command"] for c in registered} == expected
        assert {c["description"] for c in registered} == {engine.content.message(f"tg_cmd_{n}", lang)
                                                          for n in expected}
    assert fake.find("deleteWebhook")
    await fake.wait_for(lambda: fake.find("getUpdates", ok=None))
    assert fake.client_errors() == []


async def test_start_up_waits_for_an_unreachable_api(settings: Settings, engine: Engine, fake: FakeBotAPI) -> None:
    fake.fail("getMe", status=502, times=2)
    async with running_service(bot_settings(settings, fake), engine) as service, running_bot(service) as bot:
        assert bot.state == "polling"
    assert len(fake.find("getMe", ok=None)) == 3


async def test_a_rejected_token_turns_telegram_off_with_a_clear_log(settings: Settings, engine: Engine,
                                                                   fake: FakeBotAPI,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    from aiohttp import web

    from bot.channels.telegram.app import attach

    configured = dataclasses.replace(bot_settings(settings, fake), telegram_token="999:wrong")
    async with running_service(configured, engine) as service:
        app = web.Application()
        bot = attach(app, service, FAST)
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            assert bot.start_task is not None
            await asyncio.wait_for(asyncio.shield(bot.start_task), 10)
            assert bot.state == "error: the Bot API rejected TELEGRAM_BOT_TOKEN"
            assert not bot.started.is_set()
        finally:
            await runner.cleanup()
    assert "rejected TELEGRAM_BOT_TOKEN" in caplog.text and "999:wrong" not in caplog.text




# ---- polling through errors and restarts ---------------------------------------------------------
@pytest.mark.parametrize(("status", "retry_after"), [(429, 1), (500, None), (502, None)])
async def test_polling_survives_api_errors(fake: FakeBotAPI, bot: object, engine: Engine, status: int,
                                          retry_after: int | None) -> None:
    user = fake.user(1070)
    fake.fail("getUpdates", status=status, retry_after=retry_after)
    reply = await ask(fake, user, "你好")
    assert visible(reply) == engine.answer_intent("smalltalk.greeting", "zh").answer
    assert [c.status for c in fake.find("getUpdates", ok=None) if c.status not in (0, 200)] == [status]


async def test_polling_survives_a_request_that_hangs(fake: FakeBotAPI, service: Service, engine: Engine) -> None:
    user = fake.user(1071)
    async with running_bot(service, dataclasses.replace(FAST, poll_timeout=0.2, read_timeout=0.5)):
        fake.fail("getUpdates", hang=True)
        hung = await fake.wait_for(lambda: [c for c in fake.calls if c.params.get("_fault")])
        reply = await ask(fake, user, "你好")
        assert visible(reply) == engine.answer_intent("smalltalk.greeting", "zh").answer
        await fake.wait_for(lambda: hung[0].description == "client went away")   # PTB gave up on it


async def test_flood_control_on_send_is_retried(fake: FakeBotAPI, bot: object, engine: Engine) -> None:
    user = fake.user(1072)
    fake.fail("sendMessage", status=429, retry_after=1)
    reply = await ask(fake, user, "3加2是啥子意思")
    assert visible(reply) == shown(engine, "3加2是啥子意思")
    assert [c.status for c in fake.find("sendMessage", ok=None)] == [429, 200]


async def test_no_update_is_answered_twice_after_a_restart(settings: Settings, engine: Engine,
                                                          fake: FakeBotAPI) -> None:
    configured = bot_settings(settings, fake)
    user = fake.user(1080)
    async with running_service(configured, engine) as service, running_bot(service):
        await ask(fake, user, "3加2是啥子意思")
    async with running_service(configured, engine) as service, running_bot(service):
        await ask(fake, user, "你好")
        assert len(fake.find("sendMessage", chat_id=1080)) == 2
        assert len(await logged(service, "SELECT id FROM enquiries", count=2)) == 2
    # At-least-once: an update may be fetched again while it is being handled, but it is answered once
    # and confirmed at the end.
    assert set(fake.delivered) == {1, 2} and not fake.updates


async def test_updates_of_one_chat_run_in_order_and_chats_run_side_by_side() -> None:
    from telegram import Chat, Message, Update

    from bot.channels.telegram.app import ChatOrderedProcessor

    def update(chat_id: int) -> Update:
        chat = Chat(chat_id, "private")
        return Update(chat_id, message=Message(1, dt.datetime.now(dt.UTC), chat))

    processor = ChatOrderedProcessor(8)
    release, events = asyncio.Event(), []

    async def slow(name: str) -> None:
        events.append(f"{name} start")
        await release.wait()
        events.append(f"{name} end")

    async def quick(name: str) -> None:
        events.append(name)

    first = asyncio.create_task(processor.process_update(update(1), slow("a1")))
    second = asyncio.create_task(processor.process_update(update(1), quick("a2")))
    other = asyncio.create_task(processor.process_update(update(2), quick("b1")))
    await other                                     # another chat is not held up
    assert events == ["a1 start", "b1"]
    release.set()
    await asyncio.gather(first, second)
    assert events == ["a1 start", "b1", "a1 end", "a2"]




# ---- webhook mode --------------------------------------------------------------------------------
async def test_webhook_mode_registers_and_answers_and_refuses_wrong_secrets(
        settings: Settings, engine: Engine, fake: FakeBotAPI) -> None:
    sock = free_socket()
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
    configured = bot_settings(settings, fake, webhook_url=url, webhook_secret="s3cret_Value-1")
    user = fake.user(1090)
    async with running_service(configured, engine) as service, running_bot(service, sock=sock):
        assert fake.webhook == {"url": url, "secret_token": "s3cret_Value-1"}
        assert fake.find("getUpdates", ok=None) == []
        reply = await ask(fake, user, "3加2是啥子意思")
        assert visible(reply) == shown(engine, "3加2是啥子意思")
        update = {"update_id": 999, "message": {"message_id": 1, "date": 0, "chat": {"id": 1090, "type": "private"},
                                                "from": user, "text": "你好"}}
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: "s3cret_Value-"}):
                async with http.post(url, json=update, headers=headers) as response:
                    assert response.status == 403
            async with http.post(url, data="not json", headers={SECRET_HEADER: "s3cret_Value-1"}) as response:
                assert response.status == 400
            # Issue 12 row 9: 20,000-deep arrays raised a RecursionError (500); now a 400 with one sentence.
            for deep in (b"[" * 20000 + b"]" * 20000, b'{"update_id": 1, "x": ' + b"[" * 40 + b"]" * 40 + b"}"):
                async with http.post(url, data=deep, headers={SECRET_HEADER: "s3cret_Value-1",
                                                              "Content-Type": "application/json"}) as response:
                    assert response.status == 400
                    assert await response.text() == "The update nests more than 32 levels deep.\n"
        assert len(fake.find("sendMessage", chat_id=1090)) == 1        # nothing refused was answered
        assert all(status == 200 for _, status in fake.webhook_deliveries)
    assert fake.client_errors() == []




async def test_webhook_inside_vocbot_serve_app_reports_health(settings: Settings, engine: Engine,
                                                              fake: FakeBotAPI) -> None:
    from aiohttp import web

    from bot.log.store import Store
    from bot.serve import build_app

    sock = free_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    configured = bot_settings(settings, fake, webhook_url=base + WEBHOOK_PATH, webhook_secret="abc")
    app = build_app(configured, Service(configured, engine, Store(configured)))   # the app starts the service
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        async with aiohttp.ClientSession() as http:
            await fake.wait_for(lambda: fake.webhook.get("url"))
            reply = await ask(fake, fake.user(1091), "3加2是啥子意思")
            assert visible(reply) == shown(engine, "3加2是啥子意思")
            async with http.get(base + "/healthz") as response:
                assert (await response.json())["telegram"] == "webhook"
            async with http.post(base + WEBHOOK_PATH, json={"update_id": 5}) as response:
                assert response.status == 403
    finally:
        await runner.cleanup()
    assert fake.client_errors() == []


# ---- acceptance: `vocbot serve` with a token -----------------------------------------------------
@pytest.mark.slow
async def test_vocbot_serve_answers_a_conversation_without_a_4xx(tmp_path: Path, fake: FakeBotAPI,
                                                                engine: Engine) -> None:
    import os
    import sys

    env = {**os.environ, "TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_URL": fake.url,
           "VOCBOT_DB": str(tmp_path / "serve.db"), "VOCBOT_HASH_KEY": "k", "VOCBOT_ADMIN_IDS": str(ADMIN),
           "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "serve", "--port", "0", env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                cwd=ROOT)
    try:
        await fake.wait_for(lambda: fake.find("getUpdates", ok=None), timeout=30)
        user = fake.user(1100)
        welcome = await ask(fake, user, "/start")
        topics = await press(fake, user, welcome, "a:student")
        answer = await ask(fake, user, "3加2是啥子意思")
        follow = await press(fake, user, answer, data_of(answer)[0])
        await press(fake, user, follow, next(d for d in data_of(follow) if d.startswith("o:")))
        mark = fake.mark()
        fake.press(user, fake.sent_message(answer), next(d for d in data_of(answer) if d.startswith("f:+")))
        await fake.wait_call("answerCallbackQuery", since=mark)
        fallback = await ask(fake, user, pick(engine, "fallback", FALLBACK_POOL))
        await press(fake, user, fallback, next(d for d in data_of(fallback) if d.startswith("h:")))
        await ask(fake, user, "/stats")
        fake.send_media(user, "sticker")
        assert topics and fake.client_errors() == [], [(c.method, c.description) for c in fake.client_errors()]
    finally:
        if proc.returncode is None:
            proc.terminate()
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert fake.token not in err.decode() + out.decode()            # the token never reaches the log
    assert re.search(r"Telegram bot @\w+ is running \(polling\)", err.decode())
