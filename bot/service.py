"""What every channel calls: ask, choose, feedback, handoff. Engine plus log plus rate limits."""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import threading
import time
from collections import defaultdict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bot.config import Settings
from bot.core.engine import MAX_QUESTION, Engine
from bot.core.reply import Reply
from bot.core.routes import RouteOffer, RouteResult, RouteStep
from bot.errors import NotYours, UnknownEnquiry, VocbotError
from bot.log.records import EnquiryRecord, route_record
from bot.log.store import Store
from bot.notify import Notifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answered:
    """An engine reply and the id of its row in the enquiry log."""

    reply: Reply
    enquiry_id: str
    route: RouteOffer | None = None


def _per_user(channel: str, user_id: object) -> str:
    """The in-memory key of a platform user (rate limit, last topic); never stored."""
    return f"{channel}:{user_id}"


class RateLimiter:
    """At most `limit` events per key in any `window` seconds (sliding window, in memory)."""

    def __init__(self, limit: int, window: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._events: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, key: str, now: float | None = None) -> bool:
        """Record an event for key; False when the key is over its limit."""
        now = time.monotonic() if now is None else now
        if len(self._events) > self.max_keys:
            self._events.clear()
        events = self._events[key]
        while events and now - events[0] > self.window:
            events.popleft()
        if len(events) >= self.limit:
            return False
        events.append(now)
        return True


class Topics:
    """The intent each user was last answered with, for `window` seconds (in memory): a topicless follow-up
    ("要交钱不") in the next message asks about it. A reply that answers nothing clears it."""

    def __init__(self, window: float = 1800.0, max_keys: int = 100_000) -> None:
        self.window, self.max_keys = window, max_keys
        self._last: dict[str, tuple[str, float]] = {}

    def get(self, key: str, now: float | None = None) -> str | None:
        """The user's recent topic, or None."""
        found = self._last.get(key)
        now = time.monotonic() if now is None else now
        return found[0] if found is not None and now - found[1] <= self.window else None

    def note(self, key: str, intent: str | None, now: float | None = None) -> None:
        """Remember what the user was just answered with (None forgets)."""
        if intent is None:
            self._last.pop(key, None)
            return
        if len(self._last) >= self.max_keys and key not in self._last:
            self._last.clear()
        self._last[key] = (intent, time.monotonic() if now is None else now)


class ByteBudget:
    """At most `limit` bytes per key in any `window` seconds (what an address may add to the log)."""

    def __init__(self, limit: int, window: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._spent: dict[str, deque[tuple[float, int]]] = defaultdict(deque)
        self._totals: dict[str, int] = defaultdict(int)

    def allow(self, key: str, size: int, now: float | None = None) -> bool:
        """Spend `size` bytes for key; False (nothing spent) when that would go over the limit."""
        now = time.monotonic() if now is None else now
        if len(self._spent) > self.max_keys:
            self._spent.clear()
            self._totals.clear()
        spent = self._spent[key]
        while spent and now - spent[0][0] > self.window:
            self._totals[key] -= spent.popleft()[1]
        if self._totals[key] + size > self.limit:
            return False
        spent.append((now, size))
        self._totals[key] += size
        return True


class Service:
    """The one object channels hold; the engine inside is swapped whole on reload."""

    def __init__(self, settings: Settings, engine: Engine, store: Store) -> None:
        self.settings = settings
        self.engine = engine
        self.store = store
        self.limiter = RateLimiter(settings.rate_per_minute)
        self.topics = Topics()
        self.notifier = Notifier(store)
        self.last_reload_error: str | None = None
        self._tasks: set[asyncio.Task] = set()
        self._reloader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vocbot-reload")
        self._reload_lock = threading.Lock()
        self._queued: Future[str | None] | None = None

    @classmethod
    def create(cls, settings: Settings) -> Service:
        """Load the data and open the log; raise VocbotError with a clear sentence on failure."""
        engine = Engine.load(settings.intents_dir, settings.content_dir, settings.model_dir)
        return cls(settings, engine, Store(settings))

    def start(self) -> None:
        """Start the log writer."""
        self.store.start()

    def close(self) -> None:
        """Drain the log and stop (a reload still queued is dropped; one running finishes)."""
        self._reloader.shutdown(wait=True, cancel_futures=True)
        self.store.close()

    def user_key(self, channel: str, user_id: object) -> str:
        """The pseudonym of a platform user."""
        return self.store.user_key(channel, user_id)

    def allow(self, channel: str, user_id: object) -> bool:
        """Per-user rate limit."""
        return self.limiter.allow(_per_user(channel, user_id))

    async def ask(self, text: str, *, channel: str, user_id: object, lang: str | None = None,
                  audience: str | None = None, chat_type: str | None = None,
                  enquiry_id: str | None = None) -> Answered:
        """Answer a typed question; the log row is committed before this returns.

        Only the first MAX_QUESTION characters are matched and stored; the row keeps the full length and a flag.
        A channel that may deliver the same event twice passes a stable `enquiry_id`: the second row is ignored.
        """
        key = _per_user(channel, user_id)
        reply = self.engine.ask(text, lang=lang, after=self.topics.get(key))
        self.topics.note(key, reply.intent if reply.decision == "answer" else None)
        answered = await self._log(reply, channel, user_id, audience=audience, chat_type=chat_type, id=enquiry_id,
                                   text_length=len(text), truncated=int(len(text) > MAX_QUESTION))
        # Composed after the normal answer, outside the matcher: does the question name a situation?
        offer = self.engine.routes.detect(text[:MAX_QUESTION]) if reply.normalized else None
        return Answered(answered.reply, answered.enquiry_id, offer) if offer else answered

    async def route(self, flow: str, answers: dict[str, str], lang: str, *, channel: str, user_id: object = None,
                    user: object = None, audience: str | None = None, chat_type: str | None = None,
                    enquiry_id: str | None = None) -> RouteStep | RouteResult:
        """One step of the route finder (`user` is another name for `user_id`); a result is logged as an
        enquiry with only ids. Raises UnknownRoute for a flow, step or option that does not exist."""
        started = time.perf_counter()
        engine = self.engine
        outcome = engine.routes.step(flow, answers, lang)
        if isinstance(outcome, RouteResult):
            who = user_id if user_id is not None else user
            record = route_record(outcome, channel, self.user_key(channel, who), raw_user_id=self.store.raw_id(who),
                                  latency_ms=round((time.perf_counter() - started) * 1000, 3),
                                  intents_version=engine.version, audience=audience, chat_type=chat_type,
                                  id=enquiry_id)
            await self.store.log_enquiry(record)
        return outcome

    async def choose(self, intent_id: str, *, channel: str, user_id: object, lang: str,
                     parent_id: str | None = None, audience: str | None = None,
                     chat_type: str | None = None, enquiry_id: str | None = None) -> Answered:
        """Answer a pressed button (a clarify choice or follow-up); raises KeyError for an unknown intent."""
        reply = self.engine.answer_intent(intent_id, lang)
        self.topics.note(_per_user(channel, user_id), intent_id)
        return await self._log(reply, channel, user_id, audience=audience, chat_type=chat_type, via="button",
                               parent_id=parent_id, id=enquiry_id)

    async def feedback(self, enquiry_id: str, value: int, *, channel: str, user_id: object,
                       comment: str | None = None) -> bool:
        """Record 👍/👎 for an enquiry; NotYours when another user asked it (feedback counts for the asker only)."""
        await self.owned(enquiry_id, channel=channel, user_id=user_id)
        return await self.store.add_feedback(enquiry_id, value, comment, self.user_key(channel, user_id))

    async def owned(self, enquiry_id: str, *, channel: str, user_id: object) -> dict[str, Any]:
        """The enquiry row when this user asked it on this channel; UnknownEnquiry or NotYours otherwise.

        While the log is unwritable a fresh row may still wait in memory: then an unknown id is let through ({}).
        """
        found = await asyncio.to_thread(self.store.find_enquiry, enquiry_id)
        if found is None:
            if self.store.failing is not None:
                return {}
            raise UnknownEnquiry(f"There is no enquiry {enquiry_id!r} in the log.")
        if found.get("channel") != channel or found.get("user_key") != self.user_key(channel, user_id):
            raise NotYours("This enquiry was asked by someone else.")
        return found

    def mint_session(self) -> str:
        """A new web session id: random, with a keyed signature so clients cannot make up their own."""
        token = secrets.token_urlsafe(12)
        return f"{token}.{self.store.digest('web session', token)}"

    def session_valid(self, session: str) -> bool:
        """True for a session id this server minted (its signature checks out)."""
        token, _, signature = session.rpartition(".")
        return bool(token) and hmac.compare_digest(signature.encode(), self.store.digest("web session", token).encode())

    async def reload_engine(self, notify: bool = True) -> str | None:
        """Publish: build a new engine in a worker thread and swap it in at once; keep the old one on failure.

        Channels keep answering with the old engine while the new one is built (one attribute assignment is
        the swap). Returns None, or the sentence saying why nothing changed. Afterwards the people who opted in
        and whose question is now answered are told, in the background.
        """
        error = await asyncio.wrap_future(self.reload())
        if error is None and notify:
            self.notify_soon()
        return error

    def build_engine(self) -> Engine:
        """A new engine from the intents and content on disk, its model from the cache or trained now."""
        return Engine.load(self.settings.intents_dir, self.settings.content_dir, self.settings.model_dir)

    def notify_soon(self) -> None:
        """Tell the opted-in askers whose question now gets an answer, without holding up the caller."""
        task = asyncio.get_running_loop().create_task(self.notifier.push(self.engine), name="vocbot-notices")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain_notices(self) -> None:
        """Wait for notices being sent (at shutdown and in tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def reload(self) -> Future[str | None]:
        """Reload intents and content and retrain the model in the background; the old engine answers until
        the new one is complete and is swapped in whole. The future holds None, or the sentence saying why the
        old engine was kept. A call while another reload waits to start shares that one (it reads the newest
        files anyway)."""
        with self._reload_lock:
            queued = self._queued
            if queued is not None and not queued.running() and not queued.done():
                return queued
            future = self._reloader.submit(self._reload_now)
            self._queued = future
            return future

    def _reload_now(self) -> str | None:
        old = self.engine
        try:
            engine = self.build_engine()
        except VocbotError as exc:
            log.error("reload failed, keeping intents version %s: %s", old.version, exc)
            self.last_reload_error = str(exc)
            return str(exc)
        except Exception as exc:   # a bug in training must not take the answering engine down
            log.exception("reload failed, keeping intents version %s", old.version)
            self.last_reload_error = f"reload failed: {type(exc).__name__}: {exc}"
            return self.last_reload_error
        self.engine = engine   # one attribute assignment: every question sees the old or the new engine whole
        self.last_reload_error = None
        log.info("reloaded intents: version %s, %d intents", engine.version, len(engine.intents))
        return None

    async def _log(self, reply: Reply, channel: str, user_id: object, **extra: object) -> Answered:
        record = EnquiryRecord.from_reply(reply, channel, self.user_key(channel, user_id),
                                          raw_user_id=self.store.raw_id(user_id), **extra)
        await self.store.log_enquiry(record)
        return Answered(reply, record.id)
