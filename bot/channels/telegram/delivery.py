"""At-least-once, de-duplicated delivery of Telegram updates, and retried replies.

`Delivery.poll()` replaces python-telegram-bot's Updater: it long-polls getUpdates and confirms an update to
the Bot API (advances the offset past it) only once it has been handled, so updates in flight when the
process dies are delivered again. Handled update ids are recorded in the enquiry database, so an update
that was answered but not yet confirmed before a crash is skipped (and confirmed) after the restart.
An update is recorded the moment Telegram accepts the first reply to it (`Delivery.delivered`, called by
the rate limiter), not when its handler returns: a crash in between would otherwise answer it twice.
`Delivery.handle()` gives the webhook the same guarantee. `RetryingRateLimiter` retries the bot's calls
on 5xx answers and network errors (429 is retried by AIORateLimiter itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import logging
import sqlite3
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from telegram import Update
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import AIORateLimiter, Application

from bot.log.records import utcnow
from bot.log.store import Store

log = logging.getLogger(__name__)
# The update whose handler is running in this task (None outside Delivery), for `Delivery.delivered`.
CURRENT_UPDATE: contextvars.ContextVar[int | None] = contextvars.ContextVar("vocbot_update", default=None)
# Bot API calls whose success the user sees: once one is accepted, the update has been answered.
ANSWERING = ("send", "answer", "edit", "copy", "forward")
# After a week without updates Telegram starts update ids afresh at a random value; a little before that,
# the poller forgets its sequence and asks without an offset (handled updates are still recognised).
IDLE_RESET = 6 * 24 * 3600.0


class RetryingRateLimiter(AIORateLimiter):
    """AIORateLimiter that also retries a call answered with 5xx or lost to a network error.

    A timed-out call is not retried: Telegram may have carried it out (a second message would be a duplicate).
    """

    def __init__(self, max_retries: int, attempts: int = 3, first_delay: float = 0.5) -> None:
        super().__init__(max_retries=max_retries)
        self.attempts = max(1, attempts)
        self.first_delay = first_delay
        self.on_success: Callable[[str], None] | None = None    # told each endpoint Telegram accepted

    async def process_request(self, callback: Callable[..., Coroutine[Any, Any, Any]], args: Any,
                              kwargs: dict[str, Any], endpoint: str, data: dict[str, Any],
                              rate_limit_args: int | None) -> Any:
        """Run the call under flood control; retry it on 5xx and network errors with a doubling pause."""
        delay = self.first_delay
        for attempt in range(1, self.attempts + 1):
            try:
                result = await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
            except (TimedOut, BadRequest):
                raise
            except NetworkError as exc:
                if attempt == self.attempts:
                    raise
                log.warning("Telegram: %s failed (%s); attempt %d of %d in %gs.", endpoint, exc, attempt + 1,
                            self.attempts, delay)
            else:
                if self.on_success is not None:
                    self.on_success(endpoint)
                return result
            await asyncio.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")     # pragma: no cover - the loop returns or raises


def _seconds(value: int | float | dt.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


class Delivery:
    """Runs each update once through the application, records it handled, confirms it only then."""

    def __init__(self, application: Application, store: Store, allowed_updates: Sequence[str], *,
                 poll_timeout: float, read_timeout: float, retry_max: float = 30.0,
                 drain_timeout: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.application = application
        self.store = store
        self.allowed_updates = list(allowed_updates)
        self.poll_timeout = poll_timeout
        self.read_timeout = read_timeout
        self.retry_max = retry_max
        self.drain_timeout = drain_timeout
        self.inflight: dict[int, asyncio.Task] = {}    # update id -> its handling task (kept if cancelled)
        self.next_id = 0              # one past the highest update id seen in this run (0: none yet)
        self.confirmed = 0            # the last offset sent to the Bot API
        self.skipped = 0              # updates found already handled (redelivered after a crash)
        self._recorded: set[int] = set()    # updates in flight already recorded as answered
        self.clock = clock
        self.last_update = clock()    # when the last update arrived (or polling began)

    @property
    def offset(self) -> int:
        """The getUpdates offset: the lowest update not yet handled (everything below it is handled)."""
        return min(self.inflight) if self.inflight else self.next_id

    # ---- one update -------------------------------------------------------------------------------------
    async def handle(self, update: Update) -> None:
        """Handle an update unless it was handled before (the webhook's entry point); returns when done."""
        task = self.inflight.get(update.update_id)
        if task is None:
            if update.update_id in await self._handled([update.update_id]):
                self.skipped += 1
                return
            task = self._spawn(update)
        await asyncio.shield(task)

    def _spawn(self, update: Update) -> asyncio.Task:
        task = asyncio.create_task(self._process(update), name=f"telegram-update-{update.update_id}")
        self.inflight[update.update_id] = task
        task.add_done_callback(lambda done: self._finished(update.update_id, done))
        return task

    def _finished(self, update_id: int, task: asyncio.Task) -> None:
        # A cancelled update (shutdown gave up on it) stays in flight: it holds the offset, so it comes again.
        if not task.cancelled():
            self.inflight.pop(update_id, None)

    async def _process(self, update: Update) -> None:
        app = self.application
        token = CURRENT_UPDATE.set(update.update_id)
        try:
            await app.update_processor.process_update(update, app.process_update(update))
        except Exception:       # PTB hands handler errors to the error handler; this is a bug elsewhere
            log.exception("Telegram: update %d could not be processed; it is not retried", update.update_id)
        finally:
            CURRENT_UPDATE.reset(token)
            self._recorded.discard(update.update_id)
        # Also for updates that sent nothing; before the offset may pass it, the record must be committed.
        await self.store.mark_updates_handled(app.bot.id, [update.update_id])

    def delivered(self, endpoint: str) -> None:
        """Telegram accepted a call: if it answered the update being handled, record that update at once."""
        update_id = CURRENT_UPDATE.get()
        if update_id is None or update_id in self._recorded or not endpoint.lower().startswith(ANSWERING):
            return
        self._recorded.add(update_id)
        # Queued to the writer thread without waiting: it commits within a fraction of a millisecond, while
        # this task would first have to be scheduled again (milliseconds on a busy loop).
        self.store.submit("telegram_updates", {"bot_id": self.application.bot.id, "update_ids": [update_id],
                                               "ts": utcnow()})

    async def _handled(self, update_ids: list[int]) -> set[int]:
        try:
            return await asyncio.to_thread(self.store.handled_updates, self.application.bot.id, update_ids)
        except sqlite3.Error as exc:        # at-least-once wins: better a duplicate than a lost question
            log.error("Telegram: cannot read the handled updates (%s); answering them again", exc)
            return set()

    # ---- long polling -----------------------------------------------------------------------------------
    async def poll(self) -> None:
        """Fetch, dispatch and confirm updates until cancelled; network errors, 5xx and 429 only pause it."""
        delay = 0.0
        while True:
            try:
                await self._dispatch(*await self._get_updates(self.poll_timeout))
            except RetryAfter as exc:
                pause = _seconds(exc.retry_after)
                log.warning("Telegram: getUpdates flood control; pausing %gs.", pause)
            except TelegramError as exc:
                delay = pause = min(max(delay * 2, 0.25), self.retry_max)
                log.warning("Telegram: polling failed (%s); retrying in %gs.", exc, pause)
            except Exception:           # a bug must not end polling silently: log it loudly, keep going
                delay = pause = min(max(delay * 2, 0.25), self.retry_max)
                log.exception("Telegram: polling failed; retrying in %gs.", pause)
            else:
                delay = 0.0
                continue
            await asyncio.sleep(pause)

    async def _get_updates(self, timeout: float) -> tuple[tuple[Update, ...], int]:
        if self.next_id and not self.inflight and self.clock() - self.last_update > IDLE_RESET:
            log.info("Telegram: no updates for %.0f days; asking without an offset, since update ids start "
                     "afresh after a week", IDLE_RESET / 86400)
            self.next_id = self.confirmed = 0
        offset = self.offset
        updates = await self.application.bot.get_updates(
            offset=offset or None, timeout=timeout, allowed_updates=self.allowed_updates,
            read_timeout=self.read_timeout)         # PTB adds the long-poll timeout to it
        self.confirmed = max(self.confirmed, offset)
        if updates:
            self.last_update = self.clock()
        return updates, offset

    async def _dispatch(self, updates: Sequence[Update], asked: int) -> None:
        below = [update.update_id for update in updates if update.update_id < asked]
        if below:
            # Telegram never returns an update below the offset asked for, unless it started its ids afresh
            # (after a week without updates): follow the new sequence; the database tells handled ones apart.
            log.warning("Telegram: update ids started afresh (%d after offset %d); following them",
                        min(below), asked)
            self.next_id = min(below)
        # Updates below next_id were seen in this run: in flight (the offset cannot pass them yet) or done.
        new = [update for update in updates
               if update.update_id >= self.next_id and update.update_id not in self.inflight]
        if new:
            self.next_id = max(update.update_id for update in new) + 1
            handled = await self._handled([update.update_id for update in new])
            self.skipped += len(handled)
            for update in new:
                if update.update_id not in handled:
                    self._spawn(update)
        elif self.inflight:
            # Only updates still being handled came back: wait for one to finish instead of spinning.
            running = [task for task in self.inflight.values() if not task.done()]
            if running:
                await asyncio.wait(running, timeout=self.poll_timeout, return_when=asyncio.FIRST_COMPLETED)

    async def stop(self, poll_task: asyncio.Task | None) -> None:
        """Stop polling, let the updates in flight finish (bounded), confirm what was handled."""
        if poll_task is not None and not poll_task.done():
            poll_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poll_task
        running = [task for task in self.inflight.values() if not task.done()]
        if running:
            _, late = await asyncio.wait(running, timeout=self.drain_timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
            if late:
                log.warning("Telegram: %d updates were still being handled at shutdown; they come again "
                            "at the next start.", len(late))
        if poll_task is not None and self.offset > self.confirmed:
            try:
                await self.application.bot.get_updates(offset=self.offset, timeout=0, limit=1,
                                                       read_timeout=self.read_timeout)
                self.confirmed = self.offset
            except TelegramError as exc:
                log.warning("Telegram: could not confirm the last updates (%s); they are skipped when they "
                            "come again.", exc)
