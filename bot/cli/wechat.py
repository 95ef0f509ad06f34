"""`vocbot wechat ...`: the Official Account's custom menu, and staff replies to WeChat handoffs."""

from __future__ import annotations

import asyncio
import json
import sys

import click

from bot.cli.loading import load_engine, settings_or_exit
from bot.config import Settings
from bot.errors import VocbotError


def _api(settings: Settings, sealer: object = None):
    from bot.channels.wechat.api import WeChatApi

    if not settings.wechat_app_id or not settings.wechat_app_secret:
        raise click.ClickException("Set WECHAT_APP_ID and WECHAT_APP_SECRET (the account's developer ID and "
                                   "secret) to call the WeChat API.")
    return WeChatApi(settings.wechat_api_url, settings.wechat_app_id, settings.wechat_app_secret, sealer=sealer)


@click.group()
def wechat() -> None:
    """The WeChat Official Account: custom menu and staff replies."""


@wechat.command("menu")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="Language of the menu's labels.")
@click.option("--print", "show", is_flag=True, help="Print the menu as JSON instead of sending it.")
def menu(lang: str, show: bool) -> None:
    """Create the account's custom menu from content/menu.yaml and content/messages.yaml."""
    from bot.channels.wechat.menu import build_menu

    settings = settings_or_exit()
    try:
        payload = build_menu(load_engine(settings), lang)
    except VocbotError as exc:
        raise click.ClickException(str(exc)) from None
    if show:
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
        return
    api = _api(settings)

    async def send() -> None:
        async with api:
            await api.create_menu(payload)

    try:
        asyncio.run(send())
    except VocbotError as exc:
        raise click.ClickException(str(exc)) from None
    count = sum(len(b.get("sub_button") or [b]) for b in payload["button"])
    click.echo(f"menu created: {len(payload['button'])} buttons, {count} items")


@wechat.command("reply")
@click.argument("handoff_id", type=int)
@click.argument("text")
@click.option("--staff", default=None, help="Who replies (recorded with the reply).")
def reply(handoff_id: int, text: str, staff: str | None) -> None:
    """Send a staff reply to the WeChat user of a handoff (as a customer-service message) and record it."""
    from bot.log.store import Store

    settings = settings_or_exit()
    if not text.strip():
        raise click.ClickException("The reply is empty.")
    try:
        store = Store(settings)
    except VocbotError as exc:
        raise click.ClickException(str(exc)) from None
    rows = store.read(lambda db: list(db.query("SELECT * FROM handoffs WHERE id = ?", [handoff_id])))
    if not rows:
        raise click.ClickException(f"There is no handoff {handoff_id}.")
    handoff = rows[0]
    address = store.reply_address(handoff) if handoff["channel"] == "wechat" else None
    if address is None:
        raise click.ClickException(f"Handoff {handoff_id} is not a WeChat handoff that can still be answered "
                                   "(answered already, past the retention period, or not from WeChat).")
    engine = load_engine(settings)
    api = _api(settings, store.sealer)
    lang = "zh"
    body = engine.content.message("staff_reply", lang) + "\n" + text.strip()

    async def send() -> None:
        store.start()
        try:
            async with api:
                await api.send_text(address, body)
            await store.add_staff_reply(handoff_id, handoff["enquiry_id"], text.strip(), staff)
        finally:
            await asyncio.to_thread(store.close)

    try:
        asyncio.run(send())
    except VocbotError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"reply sent to the user of handoff {handoff_id}")
