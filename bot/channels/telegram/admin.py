"""Telegram handlers for staff: the handoff to the staff chat and back, and the admin commands.

Admin commands (/stats /unanswered /export /reload) answer only the user ids in VOCBOT_ADMIN_IDS, and only
in a private chat or the staff chat, so nothing leaks into other groups. Reports come from bot.log.reports.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from telegram import InlineKeyboardMarkup, InputFile, Message, ReplyParameters, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.channels.telegram import render
from bot.channels.telegram.handlers import CHANNEL, Context, UserHandlers
from bot.log import reports
from bot.service import Service

log = logging.getLogger(__name__)

STAFF_LANG = "zh"                   # the staff chat reads Chinese
MAX_DOCUMENT = 45 * 1024 * 1024     # bytes; Telegram bots may upload up to 50 MB
TOP_SHOWN = 5
UNANSWERED_SHOWN = 10
UNANSWERED_DAYS = 30


class StaffHandlers:
    """Contact staff, staff replies, and the admin commands."""

    ADMIN_COMMANDS = ("stats", "unanswered", "export", "reload")

    def __init__(self, service: Service, users: UserHandlers) -> None:
        self.service = service
        self.users = users
        self.settings = service.settings
        self._handed: set[str] = set()        # enquiry ids already passed to staff by this process

    def register(self, app: Application) -> None:
        """Staff-chat and contact handlers go first, so staff chatter is never answered as a question."""
        if self.settings.staff_chat_id is not None:
            app.add_handler(MessageHandler(filters.Chat(self.settings.staff_chat_id) & ~filters.COMMAND,
                                           self.on_staff_message))
        app.add_handler(CallbackQueryHandler(self.on_contact, pattern=r"^h:"))
        for name in self.ADMIN_COMMANDS:
            app.add_handler(CommandHandler(name, getattr(self, f"cmd_{name}"), filters=filters.UpdateType.MESSAGE))

    @property
    def engine(self) -> Any:
        """The current engine."""
        return self.service.engine

    # ---- user -> staff ---------------------------------------------------------------------------------
    async def on_contact(self, update: Update, context: Context) -> None:
        """The contact-staff button: forward the question to the staff chat, or show the contacts."""
        query, user = update.callback_query, update.effective_user
        if query is None or user is None:
            return
        lang = await self.users.prefs.lang(user)
        message = query.message if isinstance(query.message, Message) else None
        chat_id = message.chat.id if message else user.id
        _, args = render.parse_callback(query.data)
        enquiry_id = args[0] if args else ""
        key = self.users.prefs.key(user)
        found = await asyncio.to_thread(self.service.store.find_enquiry, enquiry_id) if enquiry_id else None
        if found is None or found.get("channel") != CHANNEL:
            await query.answer(self.users.text("tg_handoff_missing", lang), show_alert=True)
            return
        if found.get("user_key") != key:
            await query.answer(self.users.text("tg_handoff_not_yours", lang), show_alert=True)
            return
        if enquiry_id in self._handed:
            await query.answer(self.users.text("tg_handoff_already", lang))
            return
        if self.settings.staff_chat_id is None:
            await self.users.send(context, chat_id, render.messages(self.contacts_text(lang)))
            await query.answer()
            return
        staff_message = await context.bot.send_message(
            self.settings.staff_chat_id, self.handoff_html(key, found.get("lang") or lang, enquiry_id,
                                                           found.get("text") or ""))
        await self.service.store.add_handoff(enquiry_id, CHANNEL, key, reply_to=str(chat_id),
                                             staff_message_id=str(staff_message.message_id))
        self._handed.add(enquiry_id)
        if len(self._handed) > 100_000:
            self._handed.clear()
        await self.users.send(context, chat_id, render.messages(self.users.text("staff_forwarded", lang)))
        await query.answer()
        await self._drop_contact_button(message)

    def handoff_html(self, user_key: str, lang: str, enquiry_id: str, question: str) -> str:
        """The staff-chat message for a handoff, the question cut to fit one Telegram message."""
        def text(q: str) -> str:
            return self.engine.content.message("tg_handoff_staff", STAFF_LANG, user=user_key, language=lang,
                                               enquiry=enquiry_id, question=q)
        room = render.MAX_TEXT - render.html_len(text("")) - 8
        if render.html_len(question) > room:
            note = self.engine.content.message("tg_handoff_truncated", STAFF_LANG, chars=len(question))
            budget, kept = room - render.html_len(note) - 4, []
            for char in question:
                budget -= render.html_len(char)
                if budget < 0:
                    break
                kept.append(char)
            question = "".join(kept) + "…\n" + note
        return render.esc(text(question))

    def contacts_text(self, lang: str) -> str:
        """Without a staff chat: staff_unavailable and the filled-in department contacts."""
        lines = []
        for dept in self.engine.content.departments.values():
            details = "; ".join(value for _, value in dept.details())
            if details:
                lines.append(f"{dept.name.get(lang) or dept.name.get('zh')}: {details}")
        message = self.engine.content.message
        tail = message("contacts_header", lang) + "\n" + "\n".join(lines) if lines else message("no_contacts", lang)
        return message("staff_unavailable", lang) + "\n\n" + tail

    async def _drop_contact_button(self, message: Message | None) -> None:
        if message is None or message.reply_markup is None:
            return
        rows = [list(row) for row in message.reply_markup.inline_keyboard
                if not any((b.callback_data or "").startswith("h:") for b in row)]
        try:
            await message.edit_reply_markup(InlineKeyboardMarkup(rows))
        except BadRequest as exc:
            log.info("Telegram: cannot remove the contact button (%s)", exc)

    # ---- staff -> user ---------------------------------------------------------------------------------
    async def on_staff_message(self, update: Update, context: Context) -> None:
        """In the staff chat: a reply to a handoff message goes to the user; everything else is ignored."""
        message = update.message
        if message is None or message.reply_to_message is None or message.from_user is None:
            return
        original = message.reply_to_message
        if original.from_user is None or original.from_user.id != context.bot.id:
            return
        handoff = await asyncio.to_thread(self.service.store.find_handoff, str(original.message_id))
        if handoff is None:
            return
        if not message.text:
            await self._tell_staff(context, message, "tg_staff_text_only")
            return
        prefs = await asyncio.to_thread(self.service.store.get_pref, handoff["user_key"] or "")
        lang = (prefs or {}).get("lang") or "zh"
        header = f"<b>{render.esc(self.engine.content.message('staff_reply', lang))}</b>"
        try:
            await self.users.send(context, int(handoff["reply_to"]), render.messages(message.text, header=header))
        except (Forbidden, BadRequest) as exc:
            await self._tell_staff(context, message, "tg_staff_undeliverable", reason=str(exc))
            return
        await self.service.store.add_staff_reply(handoff["id"], handoff["enquiry_id"], message.text,
                                                 self.service.user_key(CHANNEL, message.from_user.id))
        await self._tell_staff(context, message, "tg_staff_delivered")

    async def _tell_staff(self, context: Context, message: Message, key: str, **values: Any) -> None:
        text = self.engine.content.message(key, STAFF_LANG, **values)
        await context.bot.send_message(message.chat.id, render.esc(text),
                                       reply_parameters=ReplyParameters(message.message_id,
                                                                        allow_sending_without_reply=True))

    # ---- admin commands --------------------------------------------------------------------------------
    async def allowed(self, update: Update, context: Context) -> bool:
        """True for an admin in a private chat or the staff chat; otherwise send a refusal."""
        user, chat = update.effective_user, update.effective_chat
        if user is None or chat is None:
            return False
        if user.id not in self.settings.admin_ids:
            await self.users.say(update, context, "not_allowed")
            return False
        if chat.type != ChatType.PRIVATE and chat.id != self.settings.staff_chat_id:
            await self.users.say(update, context, "tg_admin_private")
            return False
        return True

    async def cmd_stats(self, update: Update, context: Context) -> None:
        """Today, the last 7 days, all time; fallback rate, feedback and top intents of the week."""
        if not await self.allowed(update, context):
            return
        lang = await self.users.prefs.lang(update.effective_user)
        now = dt.datetime.now().astimezone()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        today = await self.service.store.aread(reports.stats, midnight)
        week = await self.service.store.aread(reports.stats, now - dt.timedelta(days=7))
        total = await self.service.store.aread(reports.stats)
        await self.users.say(update, context, "tg_stats", **self.stats_values(today, week, total, lang))

    def stats_values(self, today: dict, week: dict, total: dict, lang: str) -> dict[str, Any]:
        """The numbers of the /stats message."""
        rate = week.get("fallback_rate")
        top = []
        for row in week.get("top_intents", [])[:TOP_SHOWN]:
            intent = row["intent"]
            title = self.engine.title(intent, lang) if intent in self.engine.intents else intent
            top.append(f"· {title} ({intent}) × {row['count']}")
        feedback = week.get("feedback") or {}
        return {"today": today.get("total", 0), "week": week.get("total", 0), "total": total.get("total", 0),
                "fallback_rate": "—" if rate is None else f"{rate:.0%}", "up": feedback.get("up", 0),
                "down": feedback.get("down", 0),
                "top": "\n".join(top) or self.engine.content.message("tg_stats_none", lang)}

    async def cmd_unanswered(self, update: Update, context: Context) -> None:
        """Recent fallbacks and 👎 answers, similar questions grouped."""
        if not await self.allowed(update, context):
            return
        lang = await self.users.prefs.lang(update.effective_user)
        since = dt.datetime.now().astimezone() - dt.timedelta(days=UNANSWERED_DAYS)
        clusters = await self.service.store.aread(reports.unanswered, since, UNANSWERED_SHOWN, self.engine)
        if not clusters:
            await self.users.say(update, context, "tg_unanswered_empty")
            return
        lines = [self.engine.content.message("tg_unanswered_header", lang)]
        for cluster in clusters:
            reasons = cluster.get("reasons") or {}
            marks = (f"fallback {reasons.get('fallback', 0)}, clarify {reasons.get('clarify', 0)}, "
                     f"👎 {reasons.get('disliked', 0)}")
            suggestion = (cluster.get("suggestion") or {}).get("intent")
            lines.append(f"\n• {render.plain_preview(cluster['text'], 200)} ×{cluster['count']} ({marks})"
                         + (f" → {suggestion}?" if suggestion else ""))
        chat = update.effective_chat
        if chat is not None:
            await self.users.send(context, chat.id, render.messages("\n".join(lines)))

    async def cmd_export(self, update: Update, context: Context) -> None:
        """The enquiry log as a CSV document."""
        if not await self.allowed(update, context):
            return
        chat = update.effective_chat
        lang = await self.users.prefs.lang(update.effective_user)
        data = (await self.service.store.aread(reports.export_csv, None, True)).encode("utf-8")
        if chat is None:
            return
        if len(data) > MAX_DOCUMENT:
            await self.users.say(update, context, "tg_export_too_big", size=len(data) // (1024 * 1024))
            return
        name = f"vocbot-enquiries-{dt.date.today().isoformat()}.csv"
        await context.bot.send_document(chat.id, InputFile(data, filename=name),
                                        caption=render.esc(self.engine.content.message("tg_export_caption", lang)))

    async def cmd_reload(self, update: Update, context: Context) -> None:
        """Reload intents and content; a broken file keeps the old set and reports the error."""
        if not await self.allowed(update, context):
            return
        error = await asyncio.wrap_future(self.service.reload())
        engine = self.engine
        if error is None:
            await self.users.say(update, context, "tg_reload_ok", count=len(engine.intents), version=engine.version)
        else:
            await self.users.say(update, context, "tg_reload_failed", version=engine.version, error=error)
