"""Telegram's opt-in notices: the "tell me when there is an answer" button, /stop, and the sender.

The chat id is the reply address; the log keeps it only sealed (bot.notify), erases it once the notice is
sent or on /stop, and the retention purge deletes what is left. Notices go out through the bot's rate limiter.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import Message, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, filters

from bot.channels.telegram import render
from bot.channels.telegram.handlers import UserHandlers
from bot.channels.telegram.prefs import CHANNEL
from bot.core.reply import Reply
from bot.notify import NotSent, Undeliverable
from bot.service import Service

log = logging.getLogger(__name__)
Context = ContextTypes.DEFAULT_TYPE


class NoticeHandlers:
    """The opt-in button, /stop, and sending the notices."""

    COMMANDS = ("stop",)

    def __init__(self, service: Service, users: UserHandlers) -> None:
        self.service = service
        self.users = users

    def register(self, app: Application) -> None:
        """Before the users' handlers, so /stop is not an unknown command and `n:` not a stale button."""
        app.add_handler(CallbackQueryHandler(self.on_opt_in, pattern=r"^n:"))
        app.add_handler(CommandHandler("stop", self.cmd_stop, filters=filters.UpdateType.MESSAGE))

    async def on_opt_in(self, update: Update, context: Context) -> None:
        """The opt-in button under a fallback or after 👎."""
        query, user = update.callback_query, update.effective_user
        if query is None or user is None:
            return
        _, args = render.parse_callback(query.data)
        lang = await self.users.prefs.lang(user)
        message = query.message if isinstance(query.message, Message) else None
        enquiry_id = args[0] if args else ""
        found = await asyncio.to_thread(self.service.store.find_enquiry, enquiry_id) if enquiry_id else None
        user_key = self.service.user_key(CHANNEL, user.id)
        if found is None or found.get("user_key") != user_key or found.get("via") != "text":
            await query.answer(self.users.text("tg_stale_button", lang))
            return
        chat_id = message.chat.id if message else user.id
        added = await self.service.notifier.opt_in(enquiry_id, CHANNEL, user_key, found["text"], found.get("lang"),
                                                   address=str(chat_id))
        await query.answer()
        await self.users.send(context, chat_id, render.messages(
            self.users.text("optin_recorded" if added else "optin_already", lang)))

    async def cmd_stop(self, update: Update, context: Context) -> None:
        """/stop: withdraw every pending request of this user; their sealed chat ids are erased."""
        user = update.effective_user
        if user is None:
            return
        count = await self.service.notifier.withdraw(CHANNEL, self.service.user_key(CHANNEL, user.id))
        if count:
            await self.users.say(update, context, "optin_stopped", n=count)
        else:
            await self.users.say(update, context, "optin_none")


def sender(application: Application, service: Service) -> Any:
    """The notifier's Telegram sender: a new message that quotes the question, then the answer."""
    async def send(row: dict[str, Any], reply: Reply, address: str | None) -> None:
        if address is None:
            raise ValueError("a Telegram opt-in without a chat id")
        engine = service.engine
        intro = engine.content.message("optin_notice_quote", reply.lang)
        header = f"{render.esc(intro)}\n<blockquote>{render.esc(row['question'])}</blockquote>"
        try:
            for out in render.messages(reply.answer, header=header):
                await application.bot.send_message(int(address), out.html, reply_markup=out.markup)
        except (Forbidden, BadRequest) as exc:        # blocked the bot, or the chat is gone
            raise Undeliverable(str(exc)) from exc
        except TimedOut:                              # maybe delivered: never risk a second copy
            raise
        except (NetworkError, RetryAfter) as exc:     # refused or unreachable: not delivered
            raise NotSent(str(exc)) from exc
    return send
