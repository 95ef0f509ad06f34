"""The enquiry log in SQLite: one writer thread that never blocks the loop, short-lived readers, pseudonyms.

The file and its migrations live in bot.log.migrate, the rows and their SQL in bot.log.records, the
synchronous logger in bot.log.sync.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import hmac
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import sqlite_utils

from bot.config import Settings
from bot.errors import StoreError
from bot.log import addresses
from bot.log.lookups import Lookups
from bot.log.migrate import check_integrity, connect
from bot.log.records import EnquiryRecord, apply_write, load_hash_key, promotion_row, utcnow, warn_if_exposed
from bot.log.sealing import Sealer

log = logging.getLogger(__name__)
PENDING_LIMIT = 10_000      # enquiries kept in memory while the database is unwritable
COMMIT_WAIT = 2.0           # seconds a reply waits for its row before it is sent anyway
FAILING_WAIT = 0.05         # ... while the database is known to be unwritable (the row stays queued)
WRITER_BUSY_MS = 1000       # the writer gives up on a lock after this long and queues in memory
RETRY_EVERY = 0.5           # seconds between retries of the in-memory queue
REMIND_EVERY = 60.0         # seconds between repeated errors while the database stays unwritable
CHECKPOINT_EVERY = 1.0      # seconds between WAL checkpoints, run off the reply path by their own thread
# Primary SQLite result codes that mean "the database cannot be written now" (retry later), as opposed
# to a bad row: BUSY, LOCKED, NOMEM, READONLY, INTERRUPT, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL, NOTADB.
_UNWRITABLE_CODES = frozenset({5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 26})


_Op = tuple[str, dict[str, Any] | tuple, Future | None]


class Store(Lookups):
    """Owns the database file; every write goes through one thread, reads use short-lived connections."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = settings.db_path
        self._key = load_hash_key(settings)
        self.sealer = Sealer(self._key)      # reply addresses are kept only sealed (bot.log.sealing)
        self._queue: queue.Queue[_Op | None] = queue.Queue()
        self._pending: collections.deque[_Op] = collections.deque(maxlen=PENDING_LIMIT)
        self._thread: threading.Thread | None = None
        self.failing: str | None = None     # the last write error while the database is unwritable
        self.dropped = 0                     # writes lost because the memory queue overflowed
        self.rejected = 0                    # writes refused by the database as invalid (logged)
        self._alarmed = 0.0                  # monotonic time of the last loud error
        self._checkpointer: threading.Thread | None = None
        self._dirty = threading.Event()      # set after each commit: the WAL has frames to checkpoint
        self._stopping = threading.Event()
        self.checkpoints = 0
        check_integrity(self.path)           # migrate and check now, so a bad file fails at start-up
        for path in (self.path, *(self.path.with_name(self.path.name + end) for end in ("-wal", "-shm"))):
            warn_if_exposed(path)
        addresses.seal_clear(self.path, self.sealer)

    # ---- identities -------------------------------------------------------------------------------
    def user_key(self, channel: str, raw_id: object) -> str:
        """Pseudonym of a platform user: HMAC-SHA256 with the configured key, 16 hex characters."""
        message = f"{channel}:{raw_id}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:16]

    def digest(self, purpose: str, message: str, length: int = 16) -> str:
        """A keyed digest (HMAC-SHA256 under a key derived for `purpose`) as base32 text: ids and signatures
        nobody without the key file can guess or forge."""
        key = hmac.new(self._key, f"vocbot {purpose}".encode(), hashlib.sha256).digest()
        raw = hmac.new(key, message.encode("utf-8", "replace"), hashlib.sha256).digest()
        return base64.b32encode(raw).decode("ascii").lower()[:length]

    def raw_id(self, raw_id: object) -> str | None:
        """The raw id, only when the operator opted in with VOCBOT_STORE_RAW_IDS."""
        return str(raw_id) if self.settings.store_raw_ids else None

    # ---- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer thread."""
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="vocbot-writer", daemon=True)
            self._thread.start()
            self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="vocbot-checkpoint",
                                                  daemon=True)
            self._checkpointer.start()

    def close(self, timeout: float = 10.0) -> None:
        """Drain every queued write, then stop the writer."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("enquiry log: the writer did not finish within %.0fs; unwritten enquiries may be lost",
                          timeout)
            self._thread = None
        if self._checkpointer is not None:
            self._stopping.set()
            self._checkpointer.join(timeout)
            self._checkpointer = None
        if self._pending:
            log.error("enquiry log: %d enquiries could not be written before shutdown: %s",
                      len(self._pending), self.failing)

    @property
    def backlog(self) -> int:
        """Writes waiting in memory because the database was unwritable."""
        return len(self._pending)

    def status(self) -> dict[str, Any]:
        """Health of the log for /healthz and the dashboard: ok, the last error, writes waiting or lost."""
        return {"ok": self.failing is None, "error": self.failing, "backlog": self.backlog,
                "dropped": self.dropped, "rejected": self.rejected}

    # ---- writes -------------------------------------------------------------------------------------
    def submit(self, kind: str, payload: dict[str, Any] | tuple) -> Future:
        """Queue a write; the future resolves True once committed, False if kept for retry."""
        future: Future = Future()
        self._queue.put((kind, payload, future))
        return future

    async def write(self, kind: str, payload: dict[str, Any] | tuple) -> bool:
        """Queue a write and wait (without blocking the loop) until it is committed or kept for retry."""
        future = self.submit(kind, payload)
        # While the database is known to be unwritable, replies do not wait for the retries.
        failing = self.failing is not None
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), FAILING_WAIT if failing else COMMIT_WAIT)
        except TimeoutError:
            if not failing:
                log.error("enquiry log: a write took over %.1fs; it stays queued", COMMIT_WAIT)
            return False

    async def log_enquiry(self, record: EnquiryRecord) -> str:
        """Commit one enquiry row before the reply goes out; returns its id."""
        await self.write("enquiry", record.row())
        return record.id

    async def add_feedback(self, enquiry_id: str, value: int, comment: str | None = None,
                           user_key: str | None = None) -> bool:
        """Record 👍 (1) or 👎 (-1) on an enquiry."""
        return await self.write("feedback", {"enquiry_id": enquiry_id, "ts": utcnow(), "value": 1 if value > 0 else -1,
                                             "comment": comment, "user_key": user_key})

    async def add_handoff(self, enquiry_id: str | None, channel: str, user_key: str | None,
                          reply_to: str | None, staff_message_id: str | None = None) -> bool:
        """Record that a question was passed to staff; the reply address is stored only sealed."""
        sealed = self.sealer.seal(reply_to, addresses.REPLY_TO) if reply_to is not None else None
        return await self.write("handoff", {"enquiry_id": enquiry_id, "ts": utcnow(), "channel": channel,
                                            "user_key": user_key, "reply_to": sealed,
                                            "staff_message_id": staff_message_id, "status": "open"})

    async def add_staff_reply(self, handoff_id: int, enquiry_id: str | None, text: str,
                              staff_key: str | None) -> bool:
        """Record a staff member's reply to a handoff."""
        return await self.write("staff_reply", {"handoff_id": handoff_id, "enquiry_id": enquiry_id,
                                                "ts": utcnow(), "text": text, "staff_key": staff_key})

    async def add_promotion(self, enquiry_id: str, intent: str, text: str, normalized: str | None,
                            lang: str, staff: str | None = None) -> bool:
        """Record that staff made an enquiry's question an example of an intent (`logs promote`)."""
        return await self.write("promotion", promotion_row(enquiry_id, intent, text, normalized, lang, staff))

    async def set_pref(self, user_key: str, **prefs: str | None) -> bool:
        """Remember a user's audience and/or language."""
        row = {"user_key": user_key, "updated": utcnow(), **{k: v for k, v in prefs.items() if v is not None}}
        return await self.write("pref", row)

    async def mark_updates_handled(self, bot_id: int, update_ids: list[int]) -> bool:
        """Record Telegram updates as handled (and prune records older than a week)."""
        return await self.write("telegram_updates", {"bot_id": bot_id, "update_ids": list(update_ids),
                                                     "ts": utcnow()})

    # ---- reads --------------------------------------------------------------------------------------
    def reader(self) -> sqlite_utils.Database:
        """A new read connection (WAL lets it read while the writer writes); close it when done."""
        conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=5,
                               check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 5000")
        return sqlite_utils.Database(conn)

    def read(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn(db, *args) on a fresh read connection and close it."""
        db = self.reader()
        try:
            return fn(db, *args)
        finally:
            db.conn.close()

    async def aread(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`read` in a worker thread, for the event loop."""
        return await asyncio.to_thread(self.read, fn, *args)

    def change(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn(conn, *args) in one committed transaction on a short-lived connection; return its result.

        For the rare staff-side writes whose result decides what happens next (claim an opt-in before its
        notice is sent, save a version, an account): the writer thread queues and cannot answer "did it change".
        """
        conn = connect(self.path, migrate=False)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn, *args)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result
        finally:
            conn.close()

    async def achange(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`change` in a worker thread, for the event loop."""
        return await asyncio.to_thread(self.change, fn, *args)

    def probe_writable(self) -> str | None:
        """None when a write transaction can be opened on the database now, else the error."""
        try:
            conn = sqlite3.connect(str(self.path), timeout=2, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
            finally:
                conn.close()
        except (sqlite3.Error, OSError) as exc:
            return str(exc)
        return None

    # ---- the writer thread --------------------------------------------------------------------------
    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        stopping = False
        while True:
            try:
                item = self._queue.get(timeout=RETRY_EVERY if self._pending else None)
            except queue.Empty:
                item = ()
            batch: list[_Op] = []
            if item is None:
                stopping = True
            elif item:
                batch.append(item)
            while len(batch) < 500:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                else:
                    batch.append(more)
            if batch or self._pending:
                conn = self._write(conn, batch)
            if stopping:
                if self._pending:      # one last try at shutdown
                    conn = self._write(conn, [])
                break
        if conn is not None:
            conn.close()

    def _write(self, conn: sqlite3.Connection | None, batch: list[_Op]) -> sqlite3.Connection | None:
        """Commit the waiting writes and a new batch in one transaction; keep them in memory if that fails."""
        todo = [*self._pending, *batch]
        rejected: list[_Op] = []
        try:
            if conn is None:
                conn = connect(self.path)
                conn.execute(f"PRAGMA busy_timeout = {WRITER_BUSY_MS}")
                # A checkpoint inside a commit would hold a reply for milliseconds: another thread does them.
                conn.execute("PRAGMA wal_autocheckpoint = 0")
            conn.execute("BEGIN IMMEDIATE")
            try:
                for op in todo:
                    # One savepoint per write: a row the database refuses is dropped alone, never the batch.
                    conn.execute("SAVEPOINT one")
                    try:
                        apply_write(conn, op[0], op[1])
                    except Exception as exc:
                        if _unwritable(exc):
                            raise
                        conn.execute("ROLLBACK TO one")
                        rejected.append(op)
                        log.error("enquiry log: a %s write was refused and not stored: %s: %s",
                                  op[0], type(exc).__name__, exc)
                    conn.execute("RELEASE one")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except Exception as exc:       # the writer thread must survive anything: keep the rows and retry
            self._keep(batch, exc)
            if conn is not None:
                conn.close()
            return None
        self._pending.clear()
        self._dirty.set()
        self.rejected += len(rejected)
        if self.failing is not None:
            log.warning("enquiry log writable again; %d queued writes committed", len(todo) - len(rejected))
            self.failing = None
        refused = {id(op) for op in rejected}
        for op in todo:
            _resolve(op[2], id(op) not in refused)
        return conn

    def _keep(self, batch: list[_Op], exc: Exception) -> None:
        """Add a failed batch to the bounded in-memory queue (the oldest go first when it is full)."""
        overflow = len(self._pending) + len(batch) - PENDING_LIMIT
        for op in batch:
            self._pending.append(op)
            _resolve(op[2], False)
        now = time.monotonic()
        if self.failing is None or now - self._alarmed >= REMIND_EVERY:
            self._alarmed = now
            log.error("ENQUIRY LOG UNWRITABLE (%s: %s): %d writes kept in memory (at most %d) and retried "
                      "every %.1fs; fix the database (see docs/staff.md) or they are lost at shutdown",
                      type(exc).__name__, exc, len(self._pending), PENDING_LIMIT, RETRY_EVERY)
        self.failing = f"{type(exc).__name__}: {exc}"
        if overflow > 0:
            self.dropped += overflow
            log.error("enquiry log: memory queue full, %d oldest writes dropped", overflow)

    def _checkpoint_loop(self) -> None:
        """Copy committed WAL frames into the database file now and then (PASSIVE: never blocks the writer)."""
        conn: sqlite3.Connection | None = None
        while not self._stopping.wait(CHECKPOINT_EVERY):
            if not self._dirty.is_set():
                continue
            self._dirty.clear()
            try:
                if conn is None:
                    conn = sqlite3.connect(str(self.path), timeout=1, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                self.checkpoints += 1
            except sqlite3.Error as exc:
                log.warning("enquiry log: WAL checkpoint failed (retrying later): %s", exc)
                self._dirty.set()
                if conn is not None:
                    conn.close()
                    conn = None
        if conn is not None:
            conn.close()


def _unwritable(exc: BaseException) -> bool:
    """True for errors of the database or disk (retry later), False for a row the database refuses."""
    if isinstance(exc, OSError | StoreError):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        code = getattr(exc, "sqlite_errorcode", None)
        return code is None or (code & 0xFF) in _UNWRITABLE_CODES
    return False


def _resolve(future: Future | None, value: bool) -> None:
    if future is not None and not future.done():
        future.set_result(value)
