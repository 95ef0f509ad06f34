"""`vocbot serve`: the one place that wires engine, log, web app and Telegram together and runs them."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import sys

from aiohttp import web

from bot.channels.web.timeouts import GuardedRunner
from bot.config import Settings
from bot.errors import ConfigError
from bot.service import Service

log = logging.getLogger(__name__)
BACKLOG = 1024          # pending connections the listening socket queues


def build_app(settings: Settings, service: Service | None = None) -> web.Application:
    """The aiohttp application: web chat and API, staff dashboard, health, Telegram and WeChat when configured."""
    from bot.channels.web import chat as web_channel

    service = service or Service.create(settings)
    app = web_channel.create_app(service)
    from bot.staff import app as staff

    app.add_subapp("/staff", staff.create_staff_app(service))
    if settings.telegram_token:
        from bot.channels.telegram import app as telegram_app

        telegram = telegram_app.attach(app, service)
        app[web_channel.TELEGRAM_STATE] = lambda: telegram.state
    else:
        log.info("Telegram is off: set TELEGRAM_BOT_TOKEN to run the Telegram bot too.")
    if settings.wechat_token:
        from bot.channels.wechat import app as wechat_app

        wechat_app.attach(app, service)
    return app


async def run(settings: Settings, host: str, port: int, ready: asyncio.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM, then drain the log and stop."""
    app = build_app(dataclasses.replace(settings, host=host))     # the Host allow-list includes the bound host
    runner = GuardedRunner(app, handle_signals=False, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    # WeChat pushes many users' messages at once: room for bursts of new connections (aiohttp's default is 128).
    site = web.TCPSite(runner, host, port, backlog=BACKLOG)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}. Is another vocbot running? "
                          "Choose another port with --port (0 picks a free one).") from None
    bound = runner.addresses[0][1] if runner.addresses else port
    print(f"vocbot is running: open {open_url(host, bound)} (Ctrl+C to stop)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        print("vocbot: stopping, draining the enquiry log ...", flush=True)
        await runner.cleanup()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        print("vocbot: stopped", flush=True)


def open_url(host: str, port: int) -> str:
    """The address to open in a browser for a bound host and port."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - a comparison, not a bind
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def main(settings: Settings, host: str, port: int) -> None:
    """Run the server in a new event loop."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run(settings, host, port))
