"""A WeChat conversation: questions, numbered picks, 原文, menus, handoff, per-user state for 10 minutes."""

from __future__ import annotations

import logging
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.channels.wechat import render
from bot.channels.wechat.protocol import Incoming
from bot.channels.wechat.render import Option, Rendered
from bot.core.render_text import render_route_result, render_route_step, split_text
from bot.core.route_types import RouteStep
from bot.log.records import stable_id
from bot.service import Answered, Service

log = logging.getLogger(__name__)

CHANNEL = "wechat"
STATE_SECONDS = 600           # numbered options and pending parts are kept this long (10 minutes)
MAX_USERS = 50_000            # states kept in memory; the least recently seen go first
LANGS = ("zh", "en")

ORIGINAL = {"原文", "条款原文", "看原文", "original", "source", "clause"}
MENU = {"菜单", "话题", "目录", "menu", "topics"}
STAFF = {"人工", "人工客服", "客服", "联系工作人员", "工作人员", "staff", "contactstaff", "human"}
HELP = {"帮助", "help", "?", "？", "怎么用"}
MORE = {"继续", "下一段", "更多", "more", "next"}
TO_EN = {"english", "英文", "英语"}
TO_ZH = {"中文", "chinese", "汉语"}
NOTIFY = {"通知我", "有答案时通知我", "notifyme", "tellme"}
STOP = {"取消通知", "stop", "/stop"}


@dataclass
class UserState:
    """What one user's next message may refer to."""

    lang: str = "zh"
    audience: str | None = None
    options: tuple[Option, ...] = ()
    source: tuple[str, ...] = ()          # clauses of the last answer, for 原文
    intent: str | None = None             # the last answered intent, whose contacts a handoff shows
    enquiry_id: str | None = None         # the last logged enquiry, parent of a pick and subject of a handoff
    pending: list[str] = field(default_factory=list)   # parts not yet shown (only without the API)
    route: tuple[str, dict[str, str]] | None = None    # the route-finder flow and its answers so far
    unanswered: tuple[str, str] | None = None          # (enquiry id, question) of the last fallback: 通知我 opts in
    seen: float = 0.0


class States:
    """Per-user state in memory, forgotten 10 minutes after the user's last message (options and parts)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_users: int = MAX_USERS) -> None:
        self._clock, self._max = clock, max_users
        self._states: OrderedDict[str, UserState] = OrderedDict()

    def get(self, openid: str) -> UserState:
        """The user's state; options and pending parts are dropped once 10 minutes old."""
        now = self._clock()
        state = self._states.pop(openid, None) or UserState(seen=now)
        if now - state.seen > STATE_SECONDS:
            state.options, state.pending, state.source = (), [], ()
        state.seen = now
        self._states[openid] = state
        while len(self._states) > self._max:
            self._states.popitem(last=False)
        return state


def keyword(text: str) -> str:
    """The text folded for comparing with the command words (width, case, spaces and end punctuation)."""
    folded = unicodedata.normalize("NFKC", text).casefold().strip().rstrip("。.!！~～")
    return folded.replace(" ", "")


class Conversation:
    """Turns one incoming message into the texts to send back; logs questions through the service."""

    def __init__(self, service: Service, states: States | None = None, can_push: bool = False) -> None:
        self.service = service
        self.states = states or States()
        self.can_push = can_push      # customer-service messages can be sent (WECHAT_APP_ID and _SECRET)

    def message(self, key: str, lang: str, **values: object) -> str:
        """An interface text."""
        return self.service.engine.content.message(key, lang, **values)

    async def handle(self, msg: Incoming) -> list[str]:
        """The texts answering a message: the first is the passive reply, the rest go as customer-service
        messages (or wait for "继续" when those cannot be sent). Empty when nothing should be said."""
        state = self.states.get(msg.openid)
        if msg.kind == "event":
            rendered = await self.event(msg, state)
        elif msg.kind in ("text", "voice"):
            rendered = await self.text(msg, state)
        else:
            rendered = Rendered(self.message("non_text", state.lang))
        if rendered is None:
            return []
        if rendered.options:
            state.options = rendered.options
        return self.split(rendered.text, state)

    def split(self, text: str, state: UserState) -> list[str]:
        """Parts under WeChat's limit; without the API only the first is sent, the rest wait for "继续"."""
        parts = render.parts(text)
        if self.can_push or len(parts) == 1:
            state.pending = []
            return parts
        first, rest = _with_note(parts, self.message("wx_continue", state.lang))
        state.pending = rest
        return [first]

    # ---- events -------------------------------------------------------------------------------------
    async def event(self, msg: Incoming, state: UserState) -> Rendered | None:
        """subscribe: the welcome; click: a menu item. Other events get no reply."""
        engine = self.service.engine
        if msg.event == "subscribe":
            return render.topic_menu(engine, state.lang, intro=self.message("wx_welcome", state.lang))
        if msg.event == "click":
            return await self.click(msg, state)
        return None

    async def click(self, msg: Incoming, state: UserState) -> Rendered:
        """A custom-menu item: a topic, an audience's topics, the route finder, staff, about or privacy."""
        engine, lang, key = self.service.engine, state.lang, msg.event_key
        kind, _, value = key.partition(":")
        if kind == "topic" and value in engine.menu.topics:
            return render.topic_questions(engine, lang, engine.menu.topics[value])
        if kind == "audience" and value in engine.menu.audiences:
            state.audience = value
            return render.topic_menu(engine, lang, value)
        if kind == "route" and value in engine.routes.flows:
            state.audience = engine.routes.flows[value].audience
            return await self.route_step(msg, state, value, {})
        if key == "staff":
            return Rendered(await self.handoff(state, msg.openid))
        if key == "about":
            content = engine.content
            return Rendered(self.message("about", lang, title=content.title.get(lang) or content.title["zh"],
                                         number=content.number, date=content.date))
        if key == "privacy":
            return Rendered(self.message("privacy", lang, days=self.service.settings.retention_days))
        return render.topic_menu(engine, lang, state.audience)

    # ---- text and voice -----------------------------------------------------------------------------
    async def text(self, msg: Incoming, state: UserState) -> Rendered:
        """A typed or spoken message: a command word, a number picking an option, or a question."""
        text = msg.text.strip()
        lang = state.lang
        if not text:
            return Rendered(self.message("wx_voice_unclear" if msg.kind == "voice" else "fallback_empty", lang))
        word = keyword(text)
        engine = self.service.engine
        if word.isdigit() and len(word) <= 2 and msg.kind == "text":
            return await self.pick(msg, state, int(word))
        if word in ORIGINAL:
            if not state.source:
                return Rendered(self.message("wx_no_original", lang))
            return Rendered(render.original_text(engine, state.source, lang))
        if word in MORE:
            if not state.pending:
                return Rendered(self.message("wx_nothing_more", lang))
            first, state.pending = _with_note(state.pending, self.message("wx_continue", lang))
            return Rendered(first)
        if word in MENU:
            return render.topic_menu(engine, lang, state.audience)
        if word in HELP:
            return Rendered(self.message("wx_help", lang))
        if word in STAFF:
            return Rendered(await self.handoff(state, msg.openid))
        if word in NOTIFY and self.can_push:
            return Rendered(await self.opt_in(state, msg.openid))
        if word in STOP:
            count = await self.service.notifier.withdraw(CHANNEL, self.service.user_key(CHANNEL, msg.openid))
            return Rendered(self.message("optin_stopped", lang, n=count) if count else self.message("optin_none", lang))
        if word in TO_EN or word in TO_ZH:
            state.lang = "en" if word in TO_EN else "zh"
            return Rendered(self.message("lang_set", state.lang))
        if not self.service.allow(CHANNEL, msg.openid):
            return Rendered(self.message("rate_limited", lang))
        answered = await self.service.ask(text, channel=CHANNEL, user_id=msg.openid, lang=lang,
                                          audience=state.audience, chat_type="voice" if msg.kind == "voice" else None,
                                          enquiry_id=enquiry_id(msg))
        return self.answered(answered, state)

    async def pick(self, msg: Incoming, state: UserState, number: int) -> Rendered:
        """A reply of a number: the option it names, if the last reply listed one."""
        engine, lang = self.service.engine, state.lang
        if not 1 <= number <= len(state.options):
            return Rendered(self.message("wx_no_option", lang, number=number))
        option = state.options[number - 1]
        if option.kind == "route" and state.route is not None:
            flow, answers = state.route
            return await self.route_step(msg, state, flow, {**answers, option.title: option.id})
        if option.kind == "topic" and option.id in engine.menu.topics:
            return render.topic_questions(engine, lang, engine.menu.topics[option.id])
        if option.id not in engine.intents or not self.service.allow(CHANNEL, msg.openid):
            return Rendered(self.message("rate_limited" if option.id in engine.intents else "wx_no_option",
                                         lang, number=number))
        answered = await self.service.choose(option.id, channel=CHANNEL, user_id=msg.openid, lang=lang,
                                             parent_id=state.enquiry_id, audience=state.audience,
                                             enquiry_id=enquiry_id(msg))
        return self.answered(answered, state)

    async def route_step(self, msg: Incoming, state: UserState, flow: str, answers: dict[str, str]) -> Rendered:
        """The route finder: the next step as numbered options, or the result with its items to pick."""
        engine, lang = self.service.engine, state.lang
        outcome = await self.service.route(flow, answers, lang, channel=CHANNEL, user_id=msg.openid,
                                           audience=state.audience, enquiry_id=enquiry_id(msg))
        if isinstance(outcome, RouteStep):
            state.route = (flow, dict(outcome.answers or answers))
            # an option's `title` carries the step id its `id` answers (the options are numbered, not shown)
            options = tuple(Option("route", o.id, outcome.id) for o in outcome.options)
            hint = self.message("wx_pick_hint", lang, n=len(options))
            return Rendered(f"{render_route_step(engine, outcome, lang)}\n\n{hint}", options)
        state.route = None
        items = tuple(Option("intent", item.intent, item.title) for item in outcome.items[:render.MAX_OPTIONS])
        hint = self.message("wx_pick_hint", lang, n=len(items))
        return Rendered(f"{render_route_result(engine, outcome)}\n\n{hint}", items)

    def answered(self, answered: Answered, state: UserState) -> Rendered:
        """Remember what the reply offers and render it."""
        reply = answered.reply
        state.lang = reply.lang if reply.lang in LANGS else state.lang
        state.enquiry_id = answered.enquiry_id
        state.source = reply.source
        state.intent = reply.intent if reply.decision == "answer" else None
        rendered = render.reply_text(self.service.engine, reply, state.audience)
        state.options = rendered.options
        offer = reply.decision == "fallback" and self.can_push and answered.enquiry_id and reply.question.strip()
        state.unanswered = (answered.enquiry_id, reply.question) if offer else None
        if offer:
            rendered = Rendered(f"{rendered.text}\n\n{self.message('wx_optin_hint', state.lang)}", rendered.options)
        return rendered

    async def opt_in(self, state: UserState, openid: str) -> str:
        """通知我 after a fallback: tell this user, by a customer-service message, once the question is answered."""
        if state.unanswered is None:
            return self.message("wx_optin_nothing", state.lang)
        enquiry_id, question = state.unanswered
        added = await self.service.notifier.opt_in(enquiry_id, CHANNEL, self.service.user_key(CHANNEL, openid),
                                                   question, state.lang, address=openid)
        return self.message("wx_optin_recorded" if added else "optin_already", state.lang)

    async def handoff(self, state: UserState, openid: str) -> str:
        """Record that the user asked for staff, with the reply address sealed; say how they will hear back."""
        service, lang = self.service, state.lang
        # The store keeps the openid only sealed (bot.log.addresses); without the API no reply can reach it.
        await service.store.add_handoff(state.enquiry_id, CHANNEL, service.user_key(CHANNEL, openid),
                                        reply_to=openid if self.can_push else None)
        engine = service.engine
        intent = engine.intents.get(state.intent or "")
        contacts = engine.contacts_for(intent.source, lang) if intent is not None else []
        lines = [self.message("wx_handoff_recorded" if self.can_push else "wx_handoff_logged", lang)]
        if contacts:
            lines.append(self.message("contacts_header", lang) + "\n" + "\n".join(contacts))
        return "\n\n".join(lines)



def _with_note(parts: list[str], note: str) -> tuple[str, list[str]]:
    """The first part with the "reply 继续" note (cut to make room for it) and the parts left."""
    if len(parts) == 1:
        return parts[0], []
    room = render.MAX_BYTES - len(note.encode("utf-8")) - 2
    head = split_text(parts[0], room)[0]
    spill = parts[0][len(head):].strip("\n")
    rest = ([spill] if spill else []) + parts[1:]
    return head + "\n\n" + note, rest


def enquiry_id(msg: Incoming) -> str | None:
    """The enquiry id of a message: the same for every delivery of one MsgId, so it is logged once."""
    if not msg.msg_id:
        return None
    return stable_id(max(msg.create_time, 0) * 1000, f"{msg.account}:{msg.msg_id}")
