"""The enquiry log for synchronous code (the terminal and `vocbot ask --log`): each write waits for its commit."""

from __future__ import annotations

import logging
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from bot.config import Settings
from bot.log import optins
from bot.log.records import EnquiryRecord, route_record, utcnow
from bot.log.store import COMMIT_WAIT, Store

log = logging.getLogger("bot.log.store")


class SyncLogger:
    """Log enquiries from synchronous code (the terminal): each call waits for its commit."""

    def __init__(self, settings: Settings, channel: str = "terminal", user: str = "local") -> None:
        self.store = Store(settings)
        self.store.start()
        self.channel = channel
        self.user_key = self.store.user_key(channel, user)

    def __call__(self, reply: Any, **extra: Any) -> str:
        """Write the enquiry for a reply and return its id (`text_length`: the question's length as typed)."""
        if extra.get("text_length", 0) > len(reply.question):
            extra["truncated"] = 1
        record = EnquiryRecord.from_reply(reply, self.channel, self.user_key, **extra)
        self._wait(self.store.submit("enquiry", record.row()))
        return record.id

    def route(self, result: Any) -> str:
        """Write a route-finder result (ids only) and return its id."""
        record = route_record(result, self.channel, self.user_key)
        self._wait(self.store.submit("enquiry", record.row()))
        return record.id

    def _wait(self, future: Future) -> None:
        try:
            future.result(timeout=COMMIT_WAIT * 5)
        except FutureTimeout:
            log.error("enquiry log: a write took over %.0fs; it stays queued", COMMIT_WAIT * 5)

    def feedback(self, enquiry_id: str, value: int) -> None:
        """Record feedback and wait for it."""
        self._wait(self.store.submit("feedback", {"enquiry_id": enquiry_id, "ts": utcnow(),
                                                  "value": 1 if value > 0 else -1, "comment": None,
                                                  "user_key": self.user_key}))

    def opt_in(self, enquiry_id: str, question: str, lang: str | None) -> bool:
        """Ask to be told when this question gets an answer (shown at the next `vocbot chat`)."""
        return self.store.change(optins.add, enquiry_id, self.channel, self.user_key, None, question, lang)

    def notices(self, engine: Any) -> list[tuple[str, Any]]:
        """(question, reply) for this user's opt-ins that now get an answer; each is marked told once shown."""
        out = []
        for row in self.store.read(optins.pending, self.channel, self.user_key):
            reply = engine.ask(row["question"], lang=row["lang"])
            if reply.decision == "answer" and reply.intent and self.store.change(optins.claim, row["id"], reply.intent):
                self.store.change(optins.told, row["id"])
                out.append((row["question"], reply))
        return out

    def close(self) -> None:
        """Drain and stop."""
        self.store.close()
