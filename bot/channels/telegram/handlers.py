"""Telegram handlers for users: commands, questions, buttons, inline mode, the gate and the error handler.

Each handler turns an update into one call on the Service (or engine, for inline previews) and the reply
into messages from bot.telegram_render; it holds no matching and no SQL.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from telegram import (
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.channels.telegram import render
from bot.channels.telegram.addressing import addressed_to_bot, strip_mention, update_enquiry_id
from bot.channels.telegram.prefs import CHANNEL, Prefs, lang_of_code
from bot.channels.telegram.routes import RouteHandlers
from bot.errors import NotYours, UnknownEnquiry
from bot.service import Service

log = logging.getLogger(__name__)

LANGS = ("zh", "en")
NON_TEXT = (filters.Sticker.ALL | filters.PHOTO | filters.VOICE | filters.AUDIO | filters.VIDEO
            | filters.VIDEO_NOTE | filters.ANIMATION | filters.Document.ALL | filters.LOCATION | filters.VENUE
            | filters.CONTACT | filters.POLL | filters.Dice.ALL)
Context = ContextTypes.DEFAULT_TYPE


class UserHandlers:
    """Everything an ordinary user can do with the bot."""

    COMMANDS = ("start", "help", "menu", "route", "glossary", "lang", "about", "privacy")

    def __init__(self, service: Service, inline_cache: int = 60) -> None:
        self.service = service
        self.prefs = Prefs(service)
        self.inline_cache = inline_cache
        self._noted: dict[int, float] = {}      # user id -> when they were last told to slow down
        self.routes = RouteHandlers(self)

    def register(self, app: Application) -> None:
        """Add the gate (group -1), the handlers and the error handler."""
        new = filters.UpdateType.MESSAGE
        app.add_handler(TypeHandler(Update, self.gate), group=-1)
        for name in self.COMMANDS:
            app.add_handler(CommandHandler(name, getattr(self, f"cmd_{name}"), filters=new))
        app.add_handler(MessageHandler(filters.COMMAND & filters.ChatType.PRIVATE & new, self.unknown_command))
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self.on_text))
        app.add_handler(MessageHandler(NON_TEXT & new, self.on_non_text))
        app.add_handler(CallbackQueryHandler(self.on_button))
        app.add_handler(InlineQueryHandler(self.on_inline))
        app.add_error_handler(self.on_error)

    # ---- helpers -----------------------------------------------------------------------------------
    @property
    def engine(self) -> Any:
        """The current engine (swapped whole by /reload)."""
        return self.service.engine

    def text(self, key: str, lang: str, **values: Any) -> str:
        """An interface message as plain text."""
        return self.engine.content.message(key, lang, **values)

    async def send(self, context: Context, chat_id: int, outs: list[render.Out],
                   quote: Message | None = None) -> Message | None:
        """Send rendered messages in order; the quoting ones reply to `quote`. Returns the last one sent."""
        sent = None
        for out in outs:
            reply = ReplyParameters(quote.message_id, allow_sending_without_reply=True) \
                if out.quote and quote is not None else None
            sent = await context.bot.send_message(chat_id, out.html, reply_markup=out.markup,
                                                  reply_parameters=reply)
        return sent

    async def say(self, update: Update, context: Context, key: str, **values: Any) -> None:
        """Send one interface message to the chat of the update, in the user's language."""
        if update.effective_chat is None:
            return
        lang = await self.prefs.lang(update.effective_user)
        group = update.effective_chat.type != ChatType.PRIVATE
        outs = render.messages(self.text(key, lang, **values), quote=group)
        await self.send(context, update.effective_chat.id, outs, quote=update.effective_message)

    # ---- the gate: groups, staff chat, rate limit ---------------------------------------------------
    async def gate(self, update: Update, context: Context) -> None:
        """Runs before every handler: drops group chatter not meant for the bot and rate-limits users."""
        if update.inline_query is not None:
            return
        chat, user = update.effective_chat, update.effective_user
        if chat is None or chat.id == self.service.settings.staff_chat_id:
            return
        message = update.message or update.edited_message
        if message is not None and chat.type != ChatType.PRIVATE and not addressed_to_bot(message, context.bot):
            raise ApplicationHandlerStop
        if user is None or self.service.allow(CHANNEL, user.id):
            return
        lang = await self.prefs.lang(user)
        if update.callback_query is not None:
            await update.callback_query.answer(self.text("rate_limited", lang))
        elif time.monotonic() - self._noted.get(user.id, -1e9) > 60:
            self._noted[user.id] = time.monotonic()
            if len(self._noted) > 10_000:
                self._noted.clear()
            await self.say(update, context, "rate_limited")
        raise ApplicationHandlerStop

    # ---- commands ----------------------------------------------------------------------------------
    async def cmd_start(self, update: Update, context: Context) -> None:
        """Welcome, and who are you?"""
        user, chat = update.effective_user, update.effective_chat
        if user is None or chat is None:
            return
        prefs = await self.prefs.get(user)
        lang = await self.prefs.lang(user)
        text = self.text("welcome", lang) + "\n\n" + self.text("choose_audience", lang)
        audiences = render.audience_keyboard(self.engine, lang, prefs.get("audience"))
        keyboard = render.InlineKeyboardMarkup([*audiences.inline_keyboard, [self.routes.start_button(lang)]])
        await self.send(context, chat.id, render.messages(text, keyboard))

    async def cmd_help(self, update: Update, context: Context) -> None:
        """How to ask."""
        await self.say(update, context, "help")

    async def cmd_menu(self, update: Update, context: Context) -> None:
        """The topic menu for the user's audience."""
        user, chat = update.effective_user, update.effective_chat
        if user is None or chat is None:
            return
        lang = await self.prefs.lang(user)
        audience = (await self.prefs.get(user)).get("audience")
        await self.send(context, chat.id, [render.menu(self.engine, lang, audience)])

    async def cmd_route(self, update: Update, context: Context) -> None:
        """The route finder."""
        await self.routes.command(update, context)

    async def cmd_lang(self, update: Update, context: Context) -> None:
        """/lang zh|en, or buttons to choose."""
        user, chat = update.effective_user, update.effective_chat
        if user is None or chat is None:
            return
        choice = (context.args or [""])[0].lower()
        if choice in LANGS:
            await self.prefs.set(user, lang=choice)
            await self.say(update, context, "lang_set")
            return
        lang = await self.prefs.lang(user)
        await self.send(context, chat.id, [render.Out(render.esc(self.text("tg_choose_lang", lang)),
                                                      render.language_keyboard())])

    async def cmd_about(self, update: Update, context: Context) -> None:
        """The plan's name, number and date."""
        lang = await self.prefs.lang(update.effective_user)
        content = self.engine.content
        await self.say(update, context, "about", title=content.title.get(lang) or content.title["zh"],
                       number=content.number, date=render.format_date(content.date, lang))

    async def cmd_glossary(self, update: Update, context: Context) -> None:
        """/glossary [term]: the plan's terms with their general explanations, kept apart from the plan's words."""
        if update.effective_chat is None:
            return
        lang = await self.prefs.lang(update.effective_user)
        outs = render.glossary(self.engine, lang, " ".join(context.args or []))
        await self.send(context, update.effective_chat.id, outs)

    async def cmd_privacy(self, update: Update, context: Context) -> None:
        """What is logged and for how long."""
        await self.say(update, context, "privacy", days=self.service.settings.retention_days)

    async def unknown_command(self, update: Update, context: Context) -> None:
        """A command this bot does not have (private chats only)."""
        await self.say(update, context, "tg_unknown_command")

    # ---- questions ---------------------------------------------------------------------------------
    async def on_text(self, update: Update, context: Context) -> None:
        """A typed question (or an edited one): ask the service, send the rendered reply."""
        message, user, chat = update.effective_message, update.effective_user, update.effective_chat
        if message is None or user is None or chat is None or message.text is None:
            return
        group = chat.type != ChatType.PRIVATE
        text = strip_mention(message.text, context.bot.username) if group else message.text
        prefs = await self.prefs.get(user)
        lang = await self.prefs.lang(user)
        answered = await self.service.ask(text, channel=CHANNEL, user_id=user.id, lang=lang,
                                          audience=prefs.get("audience"), chat_type=chat.type,
                                          enquiry_id=update_enquiry_id(self.service, context.bot.id,
                                                                       update.update_id))
        reply = answered.reply
        if reply.lang != lang and reply.normalized:
            await self.prefs.set(user, lang=reply.lang)      # talk in the language they type in
        outs = render.render_reply(self.engine, reply, answered.enquiry_id, prefs.get("audience"), quote=group)
        if answered.route is not None and outs[-1].markup is not None:     # the question named a situation
            last = outs[-1]
            rows = [*last.markup.inline_keyboard, self.routes.offer_row(answered.route, reply.lang)]
            outs[-1] = render.Out(last.html, render.InlineKeyboardMarkup(rows), last.quote)
        await self.send(context, chat.id, outs, quote=message)

    async def on_non_text(self, update: Update, context: Context) -> None:
        """Stickers, photos, voice, files, locations: text questions only."""
        await self.say(update, context, "non_text")

    # ---- buttons -----------------------------------------------------------------------------------
    async def on_button(self, update: Update, context: Context) -> None:
        """Every inline button except contact-staff (see telegram_admin)."""
        query, user = update.callback_query, update.effective_user
        if query is None or user is None:
            return
        kind, args = render.parse_callback(query.data)
        lang = await self.prefs.lang(user)
        message = query.message if isinstance(query.message, Message) else None
        chat_id = message.chat.id if message else user.id
        engine = self.engine
        notice = None
        if kind == "a" and args[0] in engine.menu.audiences:
            await self.prefs.set(user, audience=args[0])
            title = engine.menu.audiences[args[0]].title[lang]
            await self.send(context, chat_id, [render.Out(render.esc(self.text("audience_set", lang, audience=title)),
                                                          render.topic_keyboard(engine, lang, args[0]))])
        elif kind == "a":
            current = (await self.prefs.get(user)).get("audience")
            await self.replace(context, message, chat_id, render.Out(
                render.esc(self.text("choose_audience", lang)), render.audience_keyboard(engine, lang, current)))
        elif kind == "t" and (out := render.topic_questions(engine, lang, args[0])) is not None:
            await self.replace(context, message, chat_id, out)
        elif kind == "m":
            audience = (await self.prefs.get(user)).get("audience")
            await self.replace(context, message, chat_id, render.menu(engine, lang, audience))
        elif kind == "l" and args[0] in LANGS:
            await self.prefs.set(user, lang=args[0])
            await self.send(context, chat_id, render.messages(self.text("lang_set", args[0])))
        elif kind in ("i", "f") and not await self.asked_by(args[1], user.id):
            notice = self.text("tg_button_not_yours", lang)
        elif kind == "i" and args[0] in engine.intents:
            prefs = await self.prefs.get(user)
            answered = await self.service.choose(args[0], channel=CHANNEL, user_id=user.id, lang=lang,
                                                 parent_id=args[1] or None, audience=prefs.get("audience"),
                                                 chat_type=message.chat.type if message else None,
                                                 enquiry_id=update_enquiry_id(self.service, context.bot.id,
                                                                              update.update_id))
            await self.send(context, chat_id, render.render_reply(engine, answered.reply, answered.enquiry_id,
                                                                  prefs.get("audience")))
        elif kind == "o" and (outs := render.render_clauses(engine, args[0], lang)):
            await self.send(context, chat_id, outs)
        elif kind == "r":
            notice = await self.routes.show(update, context, args[0], lang,
                                            update_enquiry_id(self.service, context.bot.id, update.update_id))
        elif kind == "f" and args[0] in "+-":
            value = 1 if args[0] == "+" else -1
            try:
                await self.service.feedback(args[1], value, channel=CHANNEL, user_id=user.id)
            except UnknownEnquiry:
                await query.answer(self.text("tg_stale_button", lang))
                return
            notice = self.text("feedback_thanks" if value > 0 else "feedback_sorry", lang)
            await self.after_feedback(context, message, args[1], value, lang)
        else:
            notice = self.text("tg_stale_button", lang)
        await query.answer(notice)

    async def asked_by(self, enquiry_id: str, user_id: int) -> bool:
        """False when the button's enquiry was asked by someone else (no enquiry, or an unknown one: True)."""
        if not enquiry_id:
            return True
        try:
            await self.service.owned(enquiry_id, channel=CHANNEL, user_id=user_id)
        except NotYours:
            return False
        except UnknownEnquiry:
            return True
        return True

    async def replace(self, context: Context, message: Message | None, chat_id: int, out: render.Out) -> None:
        """Show a menu screen in place of the pressed message (a new message if it cannot be edited)."""
        if message is not None and message.reply_markup == out.markup:
            return                                   # already on this screen (a double press)
        if message is not None:
            try:
                await message.edit_text(out.html, reply_markup=out.markup)
                return
            except BadRequest as exc:
                if "not modified" in str(exc).lower():
                    return
                log.info("Telegram: cannot edit a menu message (%s); sending a new one", exc)
        await self.send(context, chat_id, [out])

    async def after_feedback(self, context: Context, message: Message | None, enquiry_id: str, value: int,
                             lang: str) -> None:
        """Drop the 👍/👎 row from the answer; after 👎 offer to contact staff in its place."""
        if message is None or message.reply_markup is None:
            return
        rows = [list(row) for row in message.reply_markup.inline_keyboard
                if not any((b.callback_data or "").startswith("f:") for b in row)]
        if value < 0:
            rows.append([render.InlineKeyboardButton(self.text("tg_contact_button", lang),
                                                     callback_data=render.callback("h", enquiry_id))])
            rows.append([render.optin_button(self.engine, lang, enquiry_id)])
        try:
            await message.edit_reply_markup(render.InlineKeyboardMarkup(rows))
        except BadRequest as exc:
            log.info("Telegram: cannot update the feedback buttons (%s)", exc)

    # ---- inline mode -------------------------------------------------------------------------------
    async def on_inline(self, update: Update, context: Context) -> None:
        """`@bot question` in any chat: the matching answers as articles."""
        query = update.inline_query
        if query is None:
            return
        lang = lang_of_code(query.from_user.language_code)
        button = InlineQueryResultsButton(text=self.text("tg_inline_button", lang), start_parameter="inline")
        text = query.query.strip()
        if not text:
            await query.answer([], cache_time=self.inline_cache, button=button)
            return
        engine = self.engine
        reply = engine.ask(text, lang=lang)
        ids: list[str] = []
        if reply.decision == "answer" and reply.intent:
            ids.append(reply.intent)
        if reply.decision != "fallback":
            ids += [c.intent for c in reply.choices] + [c.intent for c in reply.candidates]
        results = []
        for intent_id in dict.fromkeys(i for i in ids if i in engine.intents):
            answer = engine.answer_intent(intent_id, reply.lang)
            results.append(InlineQueryResultArticle(
                id=intent_id, title=engine.title(intent_id, reply.lang),
                description=render.plain_preview(answer.answer),
                input_message_content=InputTextMessageContent(render.messages(answer.answer)[0].html)))
        await query.answer(results[:5], cache_time=self.inline_cache, button=button)

    # ---- errors ------------------------------------------------------------------------------------
    async def on_error(self, update: object, context: Context) -> None:
        """Log the traceback (never the update's content); tell the user something went wrong."""
        kind = next((k for k in ("message", "edited_message", "callback_query", "inline_query")
                     if isinstance(update, Update) and getattr(update, k) is not None), "no update")
        log.error("Telegram: error while handling %s (update %s)", kind,
                  update.update_id if isinstance(update, Update) else "-", exc_info=context.error)
        if not isinstance(update, Update) or update.effective_chat is None or isinstance(context.error, Forbidden):
            return
        try:
            lang = await self.prefs.lang(update.effective_user)
            await context.bot.send_message(update.effective_chat.id, render.esc(self.text("error", lang)))
        except TelegramError as exc:
            log.warning("Telegram: could not tell the user about the error (%s)", exc)
        if update.callback_query is not None:       # stop the button's spinner (unless it was answered)
            try:
                await update.callback_query.answer()
            except TelegramError as exc:
                log.debug("Telegram: callback query already answered (%s)", exc)
