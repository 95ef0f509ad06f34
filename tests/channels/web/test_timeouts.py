"""Issue 12 row 6: slow clients on loopback are cut off (header, body and keep-alive deadlines, shortened here)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from bot.channels.web import chat as web
from bot.channels.web import timeouts
from bot.config import Settings
from bot.core.engine import Engine
from bot.log.store import Store
from bot.service import Service

DEADLINE = 0.6        # seconds, in place of 10 s / 30 s / 75 s


@pytest.fixture(autouse=True)
def short_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HEADER_TIMEOUT", "BODY_TIMEOUT", "KEEPALIVE_TIMEOUT"):
        monkeypatch.setattr(timeouts, name, DEADLINE)


@contextlib.asynccontextmanager
async def server(settings: Settings, engine: Engine) -> AsyncIterator[int]:
    """The web app behind the runner `vocbot serve` uses, on 127.0.0.1; yields the port."""
    from aiohttp import web as aioweb

    runner = timeouts.GuardedRunner(web.create_app(Service(settings, engine, Store(settings))),
                                    access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = aioweb.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def trickle(port: int, head: bytes, tail: bytes, every: float = 0.1) -> tuple[float, bytes]:
    """Send `head` at once, then `tail` a byte at a time; return when the server closed and what it said."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(head)
    received = b""

    async def listen() -> None:
        nonlocal received
        while chunk := await reader.read(4096):
            received += chunk

    listening = asyncio.create_task(listen())
    try:
        for byte in tail:
            if listening.done():
                break
            writer.write(bytes([byte]))
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            await asyncio.sleep(every)
        await asyncio.wait_for(listening, 5)
    finally:
        writer.close()
    return time.monotonic() - started, received


async def test_headers_sent_a_byte_at_a_time_are_cut_off(settings: Settings, engine: Engine) -> None:
    """The review's case: headers at one byte per 5 s were still open after 110 s."""
    async with server(settings, engine) as port:
        request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100 + b"\r\n\r\n"
        took, said = await trickle(port, b"", request)
    assert DEADLINE <= took < DEADLINE + 2 and said == b""      # closed long before the 10 s of trickling


async def test_a_body_sent_a_byte_at_a_time_gets_408(settings: Settings, engine: Engine) -> None:
    async with server(settings, engine) as port:
        head = (b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n")
        took, said = await trickle(port, head, b'{"text": "' + b"a" * 88 + b'"}')
    assert DEADLINE <= took < DEADLINE + 2
    assert said.startswith(b"HTTP/1.1 408 ") and b"did not arrive within" in said


async def test_an_idle_keep_alive_connection_is_closed(settings: Settings, engine: Engine) -> None:
    async with server(settings, engine) as port:
        took, said = await trickle(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"")
    assert said.startswith(b"HTTP/1.1 200 ") and DEADLINE <= took < DEADLINE + 2


async def test_a_prompt_client_is_served_on_the_same_connection(settings: Settings, engine: Engine) -> None:
    import aiohttp

    async with server(settings, engine) as port, aiohttp.ClientSession() as http:
        for _ in range(3):
            async with http.post(f"http://127.0.0.1:{port}/api/chat", json={"text": "3加2"}) as response:
                assert response.status == 200
            await asyncio.sleep(DEADLINE / 3)
