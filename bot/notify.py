"""Opt-in notices: "tell me when there is an answer", sent once the question gets decision `answer`.

Push channels (Telegram; WeChat later) register a sender; pull channels (the web, the terminal) collect their
notices when the person next opens the chat. Every notice is claimed in the log before it goes out
(`optins.claim` commits `notified_at` first), so a crash can at worst lose a notice, never send one twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.core.engine import Engine
from bot.core.reply import Reply
from bot.log import optins
from bot.log.store import Store

log = logging.getLogger(__name__)

# A sender delivers one notice: the opt-in row, the answer now given, and the opened reply address.
# It returns when the platform accepted the message and raises when it did not.
Sender = Callable[[dict[str, Any], Reply, str | None], Awaitable[None]]


class NotSent(Exception):
    """A sender's word that the platform certainly did not take the message (refused, unreachable): retry later."""


class Undeliverable(Exception):
    """A sender's word that this address can never be reached (the user blocked the bot): give up on it."""


def purpose(channel: str) -> str:
    """What a sealed reply address of this channel is for (bound into the seal)."""
    return f"optin:{channel}"


@dataclass(frozen=True)
class Notice:
    """A notice collected by a pull channel: the question asked back then and its answer now."""

    optin_id: int
    question: str
    reply: Reply


class Notifier:
    """The per-channel registry of senders and the loop that tells the people who asked."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.senders: dict[str, Sender] = {}
        self._lock = asyncio.Lock()
        self.sent = 0
        self.failed = 0

    def register(self, channel: str, sender: Sender) -> None:
        """Let `channel` push notices (called by the channel once it can send)."""
        self.senders[channel] = sender

    def unregister(self, channel: str) -> None:
        """Stop pushing notices on `channel` (at its shutdown)."""
        self.senders.pop(channel, None)

    async def opt_in(self, enquiry_id: str, channel: str, user_key: str, question: str, lang: str | None,
                     address: str | None = None) -> bool:
        """Record an opt-in; a reply address is stored only sealed. False when it already was pending."""
        sealed = self.store.sealer.seal(address, purpose(channel)) if address is not None else None
        return await self.store.achange(optins.add, enquiry_id, channel, user_key, sealed, question, lang)

    async def withdraw(self, channel: str, user_key: str) -> int:
        """Withdraw every pending opt-in of a user (Telegram /stop, the web's link)."""
        return await self.store.achange(optins.withdraw, channel, user_key)

    async def push(self, engine: Engine) -> int:
        """Send every pending opt-in of a push channel whose question now gets an answer; returns how many."""
        async with self._lock:
            sent = 0
            for channel, sender in list(self.senders.items()):
                for row in await self.store.aread(optins.pending, channel):
                    reply = engine.ask(row["question"], lang=row["lang"])
                    if reply.decision != "answer" or not reply.intent:
                        continue                       # still unanswered: stays pending
                    if not await self.store.achange(optins.claim, row["id"], reply.intent):
                        continue                       # told already (another run, or before a restart)
                    sent += await self._send(channel, sender, row, reply)
            return sent

    async def _send(self, channel: str, sender: Sender, row: dict[str, Any], reply: Reply) -> int:
        try:
            address = self.store.sealer.open(row["reply_to"], purpose(channel)) if row["reply_to"] else None
            await sender(row, reply, address)
        except NotSent as exc:
            # Certainly not delivered: pending again, tried at the next publish or start.
            await self.store.achange(optins.release, row["id"], row["reply_to"])
            log.warning("notices: the %s notice of opt-in %s was not taken (%s); it stays pending", channel,
                        row["id"], exc)
            return 0
        except Undeliverable as exc:
            await self.store.achange(optins.give_up, row["id"])
            log.info("notices: the %s address of opt-in %s is unreachable (%s); erased", channel, row["id"], exc)
            return 0
        except Exception:
            # Maybe delivered (a timeout, a crash): it stays `sending`, counted as told and never retried,
            # so nothing goes out twice.
            self.failed += 1
            log.exception("notices: the %s notice of opt-in %s may not have been sent", channel, row["id"])
            return 0
        await self.store.achange(optins.told, row["id"])
        self.sent += 1
        return 1

    async def collect(self, engine: Engine, channel: str, user_key: str) -> list[Notice]:
        """A pull channel's notices for one user, now answered; each is claimed and marked told as returned."""
        out = []
        for row in await self.store.aread(optins.pending, channel, user_key):
            reply = engine.ask(row["question"], lang=row["lang"])
            if reply.decision == "answer" and reply.intent \
                    and await self.store.achange(optins.claim, row["id"], reply.intent):
                await self.store.achange(optins.told, row["id"])
                out.append(Notice(row["id"], row["question"], reply))
        return out
