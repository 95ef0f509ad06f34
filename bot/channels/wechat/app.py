"""The message interface at /wechat: the echostr check (GET) and messages with passive replies (POST).

Each POST is verified (signature, a timestamp within 5 minutes) before its body is read, the body is
bounded and parsed safely, and every delivery of one message shares one answer (bot.channels.wechat.dedup).
The reply is passive; what does not fit in it, or comes too late for WeChat's 5 seconds, goes out as
customer-service messages after the response is sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bot.channels.wechat import notices
from bot.channels.wechat.api import WeChatApi
from bot.channels.wechat.conversation import CHANNEL, Conversation
from bot.channels.wechat.dedup import Deduper
from bot.channels.wechat.protocol import MAX_BODY, Incoming, Protocol, ProtocolError
from bot.config import Settings
from bot.service import Service

log = logging.getLogger(__name__)

PATH = "/wechat"
BUDGET = 4.0            # seconds to answer passively; WeChat gives up (and retries) after 5
SUCCESS = "success"     # the body WeChat takes for "no passive reply" (it then shows nothing)


class WeChatChannel:
    """The /wechat handlers of one account, holding its protocol, conversation state and API client."""

    def __init__(self, service: Service, settings: Settings | None = None) -> None:
        settings = settings or service.settings
        if not settings.wechat_token:
            raise ValueError("WECHAT_TOKEN is not set")
        self.service = service
        self.protocol = Protocol(settings.wechat_token, settings.wechat_aes_key, settings.wechat_app_id)
        self.api: WeChatApi | None = None
        if settings.wechat_app_id and settings.wechat_app_secret:
            self.api = WeChatApi(settings.wechat_api_url, settings.wechat_app_id, settings.wechat_app_secret,
                                 sealer=service.store.sealer)
        self.conversation = Conversation(service, can_push=self.api is not None)
        self.deduper = Deduper()
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- lifecycle ----------------------------------------------------------------------------------
    async def lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        """Open the API client with the app; on shutdown finish the customer-service sends in flight."""
        if self.api is not None:
            await self.api.start()
            self.service.notifier.register(CHANNEL, notices.sender(self.service, self.api))
        log.info("WeChat message interface at %s (%s mode%s)", PATH, "safe" if self.protocol.safe_mode else "plain",
                 "" if self.api else "; no WECHAT_APP_ID/WECHAT_APP_SECRET, so no customer-service messages")
        yield
        self.service.notifier.unregister(CHANNEL)
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=5.0)
            for task in pending:
                task.cancel()
        if self.api is not None:
            await self.api.close()

    # ---- handlers -----------------------------------------------------------------------------------
    async def check(self, request: web.Request) -> web.Response:
        """GET /wechat: WeChat's server check; a valid signature gets `echostr` back exactly."""
        query = request.query
        try:
            self.protocol.verify(query.get("signature"), query.get("timestamp"), query.get("nonce"))
        except ProtocolError as exc:
            return refuse(request, exc)
        echostr = query.get("echostr", "")
        if not echostr or len(echostr) > 256:
            return refuse(request, ProtocolError(400, "The check has no echostr."))
        return web.Response(text=echostr, content_type="text/plain")

    async def receive(self, request: web.Request) -> web.StreamResponse:
        """POST /wechat: one message or event, answered with a passive reply (or "success")."""
        query = request.query
        try:
            self.protocol.verify(query.get("signature"), query.get("timestamp"), query.get("nonce"))
            message = self.protocol.open(await read_body(request), dict(query))
        except ProtocolError as exc:
            return refuse(request, exc)
        parts, first = await self.answer(message)
        nonce = query.get("nonce", "")
        body = self.protocol.reply(message, parts[0], nonce) if parts else SUCCESS
        response = web.Response(text=body, content_type="application/xml" if parts else "text/plain")
        if first and self.api is not None and len(parts) > 1:
            self._spawn(self.api.send_parts(message.openid, parts[1:]))
        return response

    async def answer(self, message: Incoming) -> tuple[list[str], bool]:
        """The texts for a message, shared by every delivery of it; True for the delivery that answers."""
        future, first = self.deduper.claim(message.dedup_key)
        if first:
            task = asyncio.create_task(self._answer(message, future))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            return await asyncio.wait_for(asyncio.shield(future), BUDGET), first
        except TimeoutError:
            # Too slow for a passive reply: "success" now, and the answer goes as customer-service
            # messages once ready (see _answer).
            return [], False
        except Exception:      # the answer failed (logged in _answer): say so briefly, never a traceback
            return [self.service.engine.content.message("error", "zh")], False

    async def _answer(self, message: Incoming, future: asyncio.Future[list[str]]) -> None:
        started = asyncio.get_running_loop().time()
        try:
            parts = await self.conversation.handle(message)
        except Exception as exc:
            log.exception("wechat: answering a %s message failed", message.kind)
            self.deduper.forget(message.dedup_key)
            future.set_exception(exc)
            future.exception()      # marks it retrieved: a delivery that timed out does not await it
            return
        future.set_result(parts)
        late = asyncio.get_running_loop().time() - started > BUDGET
        if late and parts and self.api is not None:
            log.warning("wechat: an answer took over %.0fs; sending it as customer-service messages", BUDGET)
            await self.api.send_parts(message.openid, parts)

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def read_body(request: web.Request) -> bytes:
    """The request body, at most MAX_BODY bytes (413 beyond, whether declared or streamed).

    The server's body-deadline middleware (bot.channels.web.timeouts) has usually read it already, within the
    app's client_max_size; request.read() then returns it from memory.
    """
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ProtocolError(413, "The body is too large.")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ProtocolError(413, "The body is too large.") from None
    if len(body) > MAX_BODY:
        raise ProtocolError(413, "The body is too large.")
    return body


def refuse(request: web.Request, exc: ProtocolError) -> web.Response:
    """A 4xx with one sentence; the body is never echoed."""
    log.warning("wechat: refused %s %s from %s: %s", request.method, PATH, request.remote, exc.reason)
    response = web.Response(status=exc.status, text=exc.reason + "\n")
    if exc.status == 413:
        response.force_close()      # do not read the rest of an oversized body
    return response


WECHAT = web.AppKey("wechat_channel", WeChatChannel)


def attach(app: web.Application, service: Service) -> WeChatChannel:
    """Add /wechat to the app, with the API client opened and closed by the app's lifecycle."""
    channel = WeChatChannel(service)
    app.router.add_get(PATH, channel.check)
    app.router.add_post(PATH, channel.receive)
    app.cleanup_ctx.append(channel.lifecycle)
    app[WECHAT] = channel
    return channel
