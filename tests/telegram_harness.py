"""Helpers for the Telegram tests: run the real bot (PTB Application in an aiohttp app) against the fake
Bot API server, and talk to it as users do."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from fake_bot_api import TOKEN, Call, FakeBotAPI

from bot.channels.telegram.app import Options, TelegramBot, attach
from bot.config import Settings
from bot.core.engine import Engine
from bot.log.store import Store
from bot.service import Service

ADMIN = 4242   # the Telegram user id the tests make an admin

# Short waits so the suite stays fast: getUpdates long-polls 1 s, requests time out after 2 s.
FAST = Options(poll_timeout=1, read_timeout=2, connect_timeout=2, inline_cache=0, start_retry_max=0.5)
FALLBACK_POOL = ("今天天气怎么样", "明天重庆下不下雨", "推荐一部好看的电影", "asdfghjkl qwerty")


def bot_settings(base: Settings, fake: FakeBotAPI, **changes: Any) -> Settings:
    """Settings pointing the bot at the fake server."""
    return dataclasses.replace(base, telegram_token=TOKEN, telegram_api_url=fake.url, **changes)


@asynccontextmanager
async def running_service(settings: Settings, engine: Engine) -> AsyncIterator[Service]:
    """A started service on the settings' database; drained at exit."""
    service = Service(settings, engine, Store(settings))
    service.start()
    try:
        yield service
    finally:
        service.close()


def free_socket() -> socket.socket:
    """A listening-ready socket on a free port of 127.0.0.1 (so a webhook URL can name the port first)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def running_bot(service: Service, options: Options = FAST,
                      sock: socket.socket | None = None) -> AsyncIterator[TelegramBot]:
    """The bot attached to an aiohttp app, as `vocbot serve` runs it; yields once it is started."""
    app = web.Application()
    bot = attach(app, service, options)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    try:
        if sock is not None:
            await web.SockSite(runner, sock).start()
        async with asyncio.timeout(10):
            await bot.started.wait()
        yield bot
    finally:
        await runner.cleanup()


def buttons(call: Call) -> list[tuple[str, str]]:
    """(text, callback_data or url) of every inline button a call sent."""
    markup = call.params.get("reply_markup")
    markup = json.loads(markup) if isinstance(markup, str) else (markup or {})
    return [(b["text"], b.get("callback_data") or b.get("url", "")) for row in markup.get("inline_keyboard", [])
            for b in row]


def data_of(call: Call) -> list[str]:
    """Callback data of the call's buttons."""
    return [data for _, data in buttons(call)]


async def ask(fake: FakeBotAPI, user: dict, text: str, chat: dict | None = None, **kwargs: Any) -> Call:
    """The user sends text; returns the bot's first message in reply."""
    mark = fake.mark()
    message = fake.say(user, text, chat=chat, **kwargs)
    return await fake.reply_to(message, since=mark)


async def press(fake: FakeBotAPI, user: dict, call: Call, button: str, method: str = "sendMessage") -> Call:
    """The user presses a button on the message a call sent; returns the bot's next `method` call there."""
    mark = fake.mark()
    query_id = fake.press(user, fake.sent_message(call), button)
    result = await fake.wait_call(method, since=mark, chat_id=call.result["chat"]["id"])
    await fake.wait_call("answerCallbackQuery", since=mark, callback_query_id=query_id)
    return result


async def answered(fake: FakeBotAPI, query_id: str) -> Call:
    """Wait for the bot to answer a callback query."""
    return await fake.wait_call("answerCallbackQuery", callback_query_id=query_id)


def pick(engine: Engine, decision: str, pool: Iterable[str]) -> str:
    """The first question of a pool the engine decides this way (the pools outlive threshold tuning)."""
    for question in pool:
        if engine.ask(question).decision == decision:
            return question
    raise AssertionError(f"no question in {list(pool)} gives {decision}")


def rows(service: Service, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    """Query the enquiry log (tests only)."""
    return service.store.read(lambda db: list(db.query(sql, list(params))))


def shown(engine: Any, question: str) -> str:
    """What the chat shows for a typed question: the labelled general explanation, if any, then the answer."""
    reply = engine.ask(question)
    if not reply.general:
        return reply.answer
    return f"{engine.content.message('general_label', reply.lang)}\n{reply.general}\n\n{reply.answer}"


def visible(call: Call) -> str:
    """The text the chat shows for a sent message (the fake stores what Telegram would show)."""
    return call.result["text"]


async def logged(service: Service, sql: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The rows of a log query once there are at least `count` (a reply waits at most 2 s for its row, so
    on a busy machine the row may be committed just after the reply)."""
    async with asyncio.timeout(timeout):
        while len(found := rows(service, sql)) < count:
            await asyncio.sleep(0.02)
    return found
