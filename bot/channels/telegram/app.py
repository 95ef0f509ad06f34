"""The Telegram channel: builds the python-telegram-bot Application and runs it inside the aiohttp server.

`attach(app, service)` (called by `vocbot serve` when TELEGRAM_BOT_TOKEN is set) hooks the bot's lifecycle
into the aiohttp app: start-up retries until the Bot API answers (the web chat keeps running meanwhile),
then long polling, or the webhook at POST /telegram/webhook when VOCBOT_WEBHOOK_URL is set. Either way an
update is confirmed to Telegram only after it was handled, and one handled before a crash is not answered
again (bot.channels.telegram.delivery). Shutdown stops polling, lets the updates in flight finish, confirms them and
stops the application; the web app's service lifecycle then drains the enquiry log.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, ApplicationBuilder, BaseUpdateProcessor, Defaults
from telegram.request import HTTPXRequest

from bot.channels import guards
from bot.channels.telegram import notices
from bot.channels.telegram.admin import StaffHandlers
from bot.channels.telegram.delivery import Delivery, RetryingRateLimiter
from bot.channels.telegram.handlers import UserHandlers
from bot.channels.telegram.notices import NoticeHandlers
from bot.channels.telegram.prefs import CHANNEL
from bot.service import Service

log = logging.getLogger(__name__)
# Opt in to PTB's future timedelta `retry_after`: the old int form warns on every 429 (and our strict
# test settings turn warnings into errors inside PTB's flood-control path).
os.environ.setdefault("PTB_TIMEDELTA", "true")

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name, not a secret
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "inline_query")


@dataclass(frozen=True)
class Options:
    """Timing knobs; the defaults suit production, tests shorten them."""

    poll_timeout: float = 25.0          # seconds getUpdates waits for news (long polling)
    read_timeout: float = 10.0
    connect_timeout: float = 10.0
    flood_retries: int = 3              # RetryAfter (429) retries of one API call
    send_attempts: int = 3              # tries of one API call answered 5xx or lost to a network error
    send_retry_delay: float = 0.5       # first pause between those tries (doubles)
    poll_retry_max: float = 30.0        # longest pause between failed getUpdates calls
    drain_timeout: float = 10.0         # seconds shutdown waits for the updates being handled
    concurrent_updates: int = 64
    inline_cache: int = 60              # seconds Telegram may cache inline results
    start_retry_max: float = 60.0       # longest pause between start-up attempts


class ChatOrderedProcessor(BaseUpdateProcessor):
    """Updates run concurrently across chats, one at a time within a chat (answers stay in order)."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._waiting: defaultdict[int, int] = defaultdict(int)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Await the handler coroutine under its chat's lock."""
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        self._waiting[chat.id] += 1
        try:
            async with self._locks[chat.id]:
                await coroutine
        finally:
            self._waiting[chat.id] -= 1
            if not self._waiting[chat.id]:
                del self._waiting[chat.id], self._locks[chat.id]

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        """Nothing to free."""


def build_application(service: Service, options: Options) -> tuple[Application, list[HTTPXRequest]]:
    """The PTB Application on TELEGRAM_API_URL with flood control, HTML defaults and the handlers."""
    settings = service.settings
    api = settings.telegram_api_url
    requests = [HTTPXRequest(connection_pool_size=size, read_timeout=options.read_timeout,
                             write_timeout=options.read_timeout, connect_timeout=options.connect_timeout,
                             pool_timeout=options.connect_timeout) for size in (64, 2)]
    application = (
        ApplicationBuilder()
        .token(settings.telegram_token or "")
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .request(requests[0])
        .get_updates_request(requests[1])
        .rate_limiter(RetryingRateLimiter(options.flood_retries, options.send_attempts, options.send_retry_delay))
        .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)))
        .concurrent_updates(ChatOrderedProcessor(options.concurrent_updates))
        .build()
    )
    users = UserHandlers(service, options.inline_cache)
    StaffHandlers(service, users).register(application)
    NoticeHandlers(service, users).register(application)
    users.register(application)
    return application, requests


class TelegramBot:
    """The running bot: lifecycle for aiohttp's cleanup_ctx and the webhook endpoint."""

    def __init__(self, service: Service, options: Options | None = None) -> None:
        self.service = service
        self.settings = service.settings
        self.options = options or Options()
        self.application, self._requests = build_application(service, self.options)
        self.started = asyncio.Event()
        self.start_task: asyncio.Task | None = None     # done once running, or given up (rejected token)
        self.poll_task: asyncio.Task | None = None
        self.delivery = Delivery(self.application, service.store, ALLOWED_UPDATES,
                                 poll_timeout=self.options.poll_timeout, read_timeout=self.options.read_timeout,
                                 retry_max=self.options.poll_retry_max, drain_timeout=self.options.drain_timeout)
        limiter = self.application.bot.rate_limiter
        if isinstance(limiter, RetryingRateLimiter):
            limiter.on_success = self.delivery.delivered
        self.state = "starting"

    @property
    def webhook_mode(self) -> bool:
        """True when updates arrive at /telegram/webhook instead of by polling."""
        return bool(self.settings.webhook_url)

    async def lifecycle(self, _app: web.Application) -> AsyncIterator[None]:
        """aiohttp cleanup_ctx: start in the background, stop cleanly at shutdown."""
        self.start_task = asyncio.create_task(self._start(), name="telegram-start")
        yield
        await self._stop(self.start_task)

    async def _start(self) -> None:
        app = self.application
        try:
            await self._retry("reach the Bot API", app.initialize)
            await self.set_commands()
            if self.webhook_mode:
                await self._retry("register the webhook", lambda: app.bot.set_webhook(
                    self.settings.webhook_url or "", allowed_updates=list(ALLOWED_UPDATES),
                    secret_token=self.settings.webhook_secret))
            else:
                await self._retry("start polling", lambda: app.bot.delete_webhook())
            await app.start()
            if not self.webhook_mode:
                self.poll_task = asyncio.create_task(self.delivery.poll(), name="telegram-poll")
        except InvalidToken:
            self.state = "error: the Bot API rejected TELEGRAM_BOT_TOKEN"
            log.error("Telegram is off: the Bot API at %s rejected TELEGRAM_BOT_TOKEN. Check the token "
                      "(from @BotFather) and TELEGRAM_API_URL.", self.settings.telegram_api_url)
            return
        except Exception:           # a bug must not kill the web server: Telegram stays off, loudly
            self.state = "error: the Telegram bot failed to start (see the log)"
            log.exception("Telegram is off: the bot failed to start")
            return
        self.state = "webhook" if self.webhook_mode else "polling"
        log.info("Telegram bot @%s is running (%s).", app.bot.username, self.state)
        # Now notices can go out: those left pending (a publish while Telegram was down, or before a restart).
        self.service.notifier.register(CHANNEL, notices.sender(app, self.service))
        self.service.notify_soon()
        self.started.set()

    async def _retry(self, what: str, action: Callable[[], Awaitable[Any]]) -> None:
        delay = min(1.0, self.options.start_retry_max)
        while True:
            try:
                await action()
                return
            except InvalidToken:
                raise
            except TelegramError as exc:
                self.state = f"error: cannot {what}"
                log.warning("Telegram: cannot %s at %s (%s); retrying in %gs.", what,
                            self.settings.telegram_api_url, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.options.start_retry_max)

    async def set_commands(self) -> None:
        """Register the command menu in Chinese (also the default) and English."""
        engine = self.service.engine
        names = (*UserHandlers.COMMANDS, *NoticeHandlers.COMMANDS)
        try:
            for code in ("", "zh", "en"):
                lang = code or "zh"
                await self.application.bot.set_my_commands(
                    [(name, engine.content.message(f"tg_cmd_{name}", lang)) for name in names],
                    language_code=code or None)
        except TelegramError as exc:
            log.warning("Telegram: could not register the command menu (%s); commands still work.", exc)

    async def _stop(self, task: asyncio.Task) -> None:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        app = self.application
        self.service.notifier.unregister(CHANNEL)
        await self.service.drain_notices()
        try:
            await self.delivery.stop(self.poll_task)    # confirms the handled updates with one last getUpdates
            if app.running:
                await app.stop()
            await app.shutdown()
        finally:
            for request in self._requests:
                await request.shutdown()
            self.state = "stopped"
            log.info("Telegram bot stopped.")

    async def webhook(self, request: web.Request) -> web.Response:
        """POST /telegram/webhook: check the secret header, queue the update."""
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, (self.settings.webhook_secret or "").encode()):
            return web.Response(status=403, text="forbidden")
        if not self.application.running:
            return web.Response(status=503, text="starting", headers={"Retry-After": "1"})
        try:
            data = guards.loads(await request.read())
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not an update")
            update = Update.de_json(data, self.application.bot)
        except guards.TooDeep:
            return web.Response(status=400, text=f"The update nests more than {guards.MAX_DEPTH} levels deep.\n")
        except (ValueError, TypeError, KeyError, AttributeError, TelegramError):
            return web.Response(status=400, text="not an update")
        # Answered only once handled (and recorded): Telegram redelivers the update if we die meanwhile.
        await self.delivery.handle(update)
        return web.Response(text="ok")


def attach(app: web.Application, service: Service, options: Options | None = None) -> TelegramBot:
    """Run the Telegram bot with the aiohttp app (polling, or the webhook route when configured)."""
    # httpx logs every request URL at INFO, and Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    bot = TelegramBot(service, options)
    if bot.webhook_mode:
        app.router.add_post(WEBHOOK_PATH, bot.webhook)
    app.cleanup_ctx.append(bot.lifecycle)
    return bot
