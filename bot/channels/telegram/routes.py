"""The route finder in Telegram: /route and the start-menu button, steps as inline keyboards edited in place,
and the result as one message (split under 4,096 characters) with buttons to each full answer.

Callback data is `r:<state>`: `r:` is the choice of flow, `r:<flow>:<opt>,<opt>` the answers so far (one place
per step, empty when unanswered; Routes.encode). Every button names the state it leads to, Back included, so a
press needs no memory on the bot's side and a button pressed twice shows the same screen.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update

from bot.channels.telegram import render
from bot.channels.telegram.prefs import CHANNEL
from bot.core.routes import RouteOffer, RouteResult, RouteStep
from bot.errors import UnknownRoute

log = logging.getLogger(__name__)


class RouteHandlers:
    """Route-finder screens for the user handlers (which own sending, editing and preferences)."""

    def __init__(self, users: Any) -> None:
        self.users = users

    @property
    def engine(self) -> Any:
        """The current engine."""
        return self.users.engine

    def text(self, key: str, lang: str, **values: Any) -> str:
        """An interface message."""
        return self.engine.content.message(key, lang, **values)

    def button(self, label: str, state: str) -> InlineKeyboardButton:
        """A button leading to a route-finder state."""
        return InlineKeyboardButton(label, callback_data=render.callback("r", state))

    def start_button(self, lang: str) -> InlineKeyboardButton:
        """The start-menu button."""
        return self.button("🧭 " + self.text("route_button", lang), "")

    def offer_row(self, offer: RouteOffer, lang: str) -> list[InlineKeyboardButton]:
        """The button under an answer whose question named a situation."""
        return [self.button("🧭 " + self.text("route_offer_button", lang),
                            self.engine.routes.encode(offer.flow, offer.answers))]

    def flows_screen(self, lang: str) -> render.Out:
        """Which flow: one button per flow."""
        routes = self.engine.routes
        rows = [[self.button(f.title[lang], routes.encode(f.id, {}))] for f in routes.flows.values()]
        return render.Out(render.esc(self.text("route_choose_flow", lang)), InlineKeyboardMarkup(rows))

    def nav_row(self, flow: str, answers: dict[str, str], lang: str) -> list[InlineKeyboardButton]:
        """Back (one answer fewer, or the choice of flow) and Start over."""
        routes = self.engine.routes
        back = routes.encode(flow, routes.back(flow, answers)) if answers else ""
        return [self.button("↩ " + self.text("route_back", lang), back),
                self.button("⟲ " + self.text("route_restart", lang), "")]

    def step_screen(self, step: RouteStep, lang: str) -> render.Out:
        """A question with one button per option."""
        routes = self.engine.routes
        rows = [[self.button(o.label, routes.encode(step.flow, {**step.answers, step.id: o.id}))]
                for o in step.options]
        rows.append(self.nav_row(step.flow, step.answers, lang))
        progress = self.text("route_step", lang, number=step.number, total=step.total)
        return render.Out(f"<i>{render.esc(progress)}</i>\n<b>{render.esc(step.question)}</b>",
                          InlineKeyboardMarkup(rows))

    def result_messages(self, result: RouteResult, enquiry_id: str, lang: str) -> list[render.Out]:
        """The summary as plain text under a bold title, split under 4,096 characters; buttons on the last."""
        comma = "、" if lang == "zh" else ", "
        parts = []
        for n, item in enumerate(result.items, 1):
            source = self.text("route_source", lang, clauses=comma.join(item.source))
            parts.append(f"{n}. 【{item.title}】\n{item.why}\n{source}" if lang == "zh"
                         else f"{n}. [{item.title}]\n{item.why}\n{source}")
        if result.not_in_plan:
            parts.append(self.text("route_not_in_plan", lang) + "\n" + "\n".join(f"• {g}" for g in result.not_in_plan))
        if result.ask:
            parts.append(self.text("route_ask", lang) + "\n" + "\n".join(f"• {d}" for d in result.ask))
        rows = [[InlineKeyboardButton(f"{n}. {item.title}", callback_data=render.callback("i", item.intent,
                                                                                            enquiry_id)),
                 InlineKeyboardButton(self.text("route_original", lang),
                                      callback_data=render.callback("o", item.intent))]
                for n, item in enumerate(result.items, 1)]
        rows.append(self.nav_row(result.flow, result.answers, lang))
        return render.messages("\n\n".join(parts), InlineKeyboardMarkup(rows),
                               header=f"<b>{render.esc(result.title)}</b>")

    async def show(self, update: Update, context: Any, state: str, lang: str, enquiry_id: str) -> str | None:
        """Show the screen a `r:` button leads to; returns a notice for the button press (None when shown).

        `enquiry_id` is fixed by the update, so a result delivered twice is logged once."""
        query, user = update.callback_query, update.effective_user
        if query is None or user is None:
            return None
        message = query.message if isinstance(query.message, Message) else None
        chat_id = message.chat.id if message else user.id
        if not state:
            await self.users.replace(context, self.editable(message), chat_id, self.flows_screen(lang))
            return None
        try:
            flow, answers = self.engine.routes.decode(state)
            prefs = await self.users.prefs.get(user)
            outcome = await self.users.service.route(flow, answers, lang, channel=CHANNEL, user_id=user.id,
                                                     audience=prefs.get("audience"),
                                                     chat_type=message.chat.type if message else None,
                                                     enquiry_id=enquiry_id)
        except UnknownRoute:
            return self.text("tg_stale_button", lang)
        if isinstance(outcome, RouteResult):
            await self.users.send(context, chat_id, self.result_messages(outcome, enquiry_id, lang))
        else:
            await self.users.replace(context, self.editable(message), chat_id, self.step_screen(outcome, lang))
        return None

    @staticmethod
    def editable(message: Message | None) -> Message | None:
        """A route screen is edited in place; a result, an answer or the start menu stays and gets a new one."""
        if message is None or message.reply_markup is None:
            return None
        data = [b.callback_data or "" for row in message.reply_markup.inline_keyboard for b in row]
        return message if data and all(d.startswith("r:") for d in data) else None

    async def command(self, update: Update, context: Any) -> None:
        """/route: the choice of flow."""
        user, chat = update.effective_user, update.effective_chat
        if user is None or chat is None:
            return
        lang = await self.users.prefs.lang(user)
        await self.users.send(context, chat.id, [self.flows_screen(lang)])
