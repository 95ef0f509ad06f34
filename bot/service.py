"""What every channel calls: ask, choose, feedback, handoff. Engine plus log plus rate limits."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from bot.config import Settings
from bot.core.engine import Engine, Reply
from bot.errors import VocbotError
from bot.log.records import EnquiryRecord
from bot.log.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answered:
    """An engine reply and the id of its row in the enquiry log."""

    reply: Reply
    enquiry_id: str


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


class Service:
    """The one object channels hold; the engine inside is swapped whole on reload."""

    def __init__(self, settings: Settings, engine: Engine, store: Store) -> None:
        self.settings = settings
        self.engine = engine
        self.store = store
        self.limiter = RateLimiter(settings.rate_per_minute)
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
        return self.limiter.allow(f"{channel}:{user_id}")

    async def ask(self, text: str, *, channel: str, user_id: object, lang: str | None = None,
                  audience: str | None = None, chat_type: str | None = None,
                  enquiry_id: str | None = None) -> Answered:
        """Answer a typed question; the log row is committed before this returns.

        A channel that may deliver the same event twice passes a stable `enquiry_id`: the second row is ignored.
        """
        reply = self.engine.ask(text, lang=lang)
        return await self._log(reply, channel, user_id, audience=audience, chat_type=chat_type, id=enquiry_id)

    async def choose(self, intent_id: str, *, channel: str, user_id: object, lang: str,
                     parent_id: str | None = None, audience: str | None = None,
                     chat_type: str | None = None, enquiry_id: str | None = None) -> Answered:
        """Answer a pressed button (a clarify choice or follow-up); raises KeyError for an unknown intent."""
        reply = self.engine.answer_intent(intent_id, lang)
        return await self._log(reply, channel, user_id, audience=audience, chat_type=chat_type, via="button",
                               parent_id=parent_id, id=enquiry_id)

    async def feedback(self, enquiry_id: str, value: int, *, channel: str, user_id: object,
                       comment: str | None = None) -> bool:
        """Record 👍/👎 for an enquiry."""
        return await self.store.add_feedback(enquiry_id, value, comment, self.user_key(channel, user_id))

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
            engine = Engine.load(self.settings.intents_dir, self.settings.content_dir, self.settings.model_dir)
        except VocbotError as exc:
            log.error("reload failed, keeping intents version %s: %s", old.version, exc)
            return str(exc)
        except Exception as exc:   # a bug in training must not take the answering engine down
            log.exception("reload failed, keeping intents version %s", old.version)
            return f"reload failed: {type(exc).__name__}: {exc}"
        self.engine = engine   # one attribute assignment: every question sees the old or the new engine whole
        log.info("reloaded intents: version %s, %d intents", engine.version, len(engine.intents))
        return None

    async def _log(self, reply: Reply, channel: str, user_id: object, **extra: object) -> Answered:
        record = EnquiryRecord.from_reply(reply, channel, self.user_key(channel, user_id),
                                          raw_user_id=self.store.raw_id(user_id), **extra)
        await self.store.log_enquiry(record)
        return Answered(reply, record.id)
