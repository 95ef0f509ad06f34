"""Slow clients are cut off: headers within 10 s, a body within 30 s, an idle keep-alive connection after 75 s.

aiohttp times out idle keep-alive connections but not a request that trickles in; a client sending a byte
every few seconds would hold a connection (and memory) forever. The request handler here starts a clock
on the first byte of a request's headers, and a middleware reads each body under its own deadline.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

from bot.channels.web.http import Handler, json_error

HEADER_TIMEOUT = 10.0     # seconds from the first byte of a request to the end of its headers
BODY_TIMEOUT = 30.0       # seconds to receive a request body
KEEPALIVE_TIMEOUT = 75.0  # seconds an idle keep-alive connection stays open


class GuardedRequestHandler(RequestHandler):
    """aiohttp's request handler plus a deadline for the headers of each request."""

    __slots__ = ("_header_timer",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        """Parse as aiohttp does; start the header clock on the first byte, stop it once the headers are in."""
        super().data_received(data)
        if self._waiting_for_headers():
            if self._header_timer is None:
                self._header_timer = self._loop.call_later(HEADER_TIMEOUT, self._headers_too_slow)
        else:
            self._stop_header_timer()

    def connection_lost(self, exc: BaseException | None) -> None:
        """Forget the clock with the connection."""
        self._stop_header_timer()
        super().connection_lost(exc)

    def _waiting_for_headers(self) -> bool:
        # Between requests the handler task awaits `_waiter`; a parsed request sets it (and fills `_messages`).
        return self._waiter is not None and not self._waiter.done() and not self._messages

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self._waiting_for_headers():
            self.log_debug("closing a connection whose request headers took over %.0fs", HEADER_TIMEOUT)
            self.force_close()

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None


class GuardedServer(Server):
    """The low-level server that makes GuardedRequestHandler protocols."""

    def __call__(self) -> RequestHandler:
        """A protocol for one new connection."""
        return GuardedRequestHandler(self, loop=self._loop, **self._kwargs)


class GuardedRunner(web.AppRunner):
    """An AppRunner whose connections have header, body and keep-alive deadlines."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        kwargs.setdefault("keepalive_timeout", KEEPALIVE_TIMEOUT)
        super().__init__(app, **kwargs)

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        server.__class__ = GuardedServer         # same state, our protocol factory
        return server


@web.middleware
async def body_deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Read a request's body within BODY_TIMEOUT (the handler then gets it from memory); 408 otherwise."""
    if request.body_exists and request.method in ("POST", "PUT", "PATCH"):
        try:
            async with asyncio.timeout(BODY_TIMEOUT):
                await request.read()
        except TimeoutError:
            response = json_error(408, f"The request body did not arrive within {BODY_TIMEOUT:.0f} seconds.")
            response.force_close()
            # Sent now and the connection closed: aiohttp would otherwise linger, reading the rest of the body.
            await response.prepare(request)
            await response.write_eof()
            if request.protocol is not None:
                request.protocol.force_close()
            return response
    return await handler(request)
