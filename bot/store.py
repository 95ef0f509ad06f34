"""The enquiry log in SQLite: migrations, pseudonyms, and one writer thread that never blocks the loop."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import queue
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.config import ROOT, Settings
from bot.errors import StoreError

log = logging.getLogger(__name__)
MIGRATIONS_DIR = ROOT / "db" / "migrations"
PENDING_LIMIT = 10_000      # enquiries kept in memory while the database is unwritable
COMMIT_WAIT = 2.0           # seconds a reply waits for its row before it is sent anyway
_B32 = "0123456789abcdefghjkmnpqrstvwxyz"


def utcnow() -> str:
    """The current UTC time as ISO 8601 text, as stored in every `ts` column."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def new_id() -> str:
    """A 16-character, time-ordered, random enquiry id (safe in Telegram callback data)."""
    value = (time.time_ns() // 1_000_000) << 30 | secrets.randbits(30)
    return "".join(_B32[(value >> shift) & 31] for shift in range(75, -1, -5))[-16:]


def migrations(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, Path]]:
    """Numbered migration files, in order."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        number = path.name.split("_", 1)[0]
        if number.isdigit():
            found.append((int(number), path))
    return found


def connect(path: Path, migrate: bool = True) -> sqlite3.Connection:
    """Open the database, apply pending migrations, check the schema version."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=5, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 5000")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"Cannot open the enquiry database {path}: {exc}. Check the path in VOCBOT_DB "
                         "and that the file is a SQLite database (see README, 'Recovering the log').") from None
    known = migrations()
    latest = known[-1][0] if known else 0
    if version > latest:
        raise StoreError(f"The enquiry database {path} has schema version {version}, newer than this "
                         f"vocbot knows ({latest}); upgrade vocbot.")
    if migrate and version < latest:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            for number, file in known:
                if number > version:
                    conn.executescript(f"BEGIN IMMEDIATE;\n{file.read_text(encoding='utf-8')}\n"
                                       f"PRAGMA user_version = {number};\nCOMMIT;")
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"Cannot migrate the enquiry database {path}: {exc}.") from None
    elif migrate:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.Error as exc:
            log.error("enquiry database %s: cannot enable WAL: %s", path, exc)
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database."""
    return conn.execute("PRAGMA user_version").fetchone()[0]


def load_hash_key(settings: Settings) -> bytes:
    """The pseudonymisation key: VOCBOT_HASH_KEY, else a random key kept in a file beside the database."""
    if settings.hash_key:
        return settings.hash_key.encode("utf-8")
    key_path = settings.db_path.with_name(settings.db_path.name + ".key")
    try:
        if key_path.exists():
            return key_path.read_bytes().strip()
        key_path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32).encode()
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        log.warning("VOCBOT_HASH_KEY is not set; created a random pseudonym key in %s", key_path)
        return key
    except OSError as exc:
        raise StoreError(f"Cannot read or create the pseudonym key {key_path}: {exc}. "
                         "Set VOCBOT_HASH_KEY.") from None


@dataclass
class EnquiryRecord:
    """One row of the `enquiries` table."""

    id: str
    ts: str
    channel: str
    user_key: str | None
    text: str
    decision: str
    intent: str | None = None
    score: float | None = None
    candidates: str | None = None
    normalized: str | None = None
    lang: str | None = None
    audience: str | None = None
    chat_type: str | None = None
    raw_user_id: str | None = None
    latency_ms: float | None = None
    intents_version: str | None = None
    via: str = "text"
    parent_id: str | None = None

    @classmethod
    def from_reply(cls, reply: Any, channel: str, user_key: str | None, **extra: Any) -> EnquiryRecord:
        """Build the row for an engine reply."""
        return cls(id=extra.pop("id", None) or new_id(), ts=utcnow(), channel=channel, user_key=user_key,
                   text=reply.question, decision=reply.decision, intent=reply.intent, score=reply.score,
                   candidates=json.dumps([{"intent": c.intent, "score": c.score} for c in reply.candidates]),
                   normalized=reply.normalized, lang=reply.lang, latency_ms=reply.latency_ms,
                   intents_version=reply.intents_version, **extra)


_Op = tuple[str, dict[str, Any] | tuple, Future | None]


class Store:
    """Owns the database file; every write goes through one thread, reads use short-lived connections."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = settings.db_path
        self._key = load_hash_key(settings)
        self._queue: queue.Queue[_Op | None] = queue.Queue()
        self._pending: collections.deque[_Op] = collections.deque(maxlen=PENDING_LIMIT)
        self._thread: threading.Thread | None = None
        self.failing: str | None = None     # the last write error while the database is unwritable
        self.dropped = 0
        connect(self.path).close()           # migrate now, so a bad file fails at start-up

    # ---- identities -------------------------------------------------------------------------------
    def user_key(self, channel: str, raw_id: object) -> str:
        """Pseudonym of a platform user: HMAC-SHA256 with the configured key, 16 hex characters."""
        message = f"{channel}:{raw_id}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:16]

    def raw_id(self, raw_id: object) -> str | None:
        """The raw id, only when the operator opted in with VOCBOT_STORE_RAW_IDS."""
        return str(raw_id) if self.settings.store_raw_ids else None

    # ---- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="vocbot-writer", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Drain every queued write, then stop the writer."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None
        if self._pending:
            log.error("enquiry log: %d enquiries could not be written before shutdown: %s",
                      len(self._pending), self.failing)

    @property
    def backlog(self) -> int:
        """Writes waiting in memory because the database was unwritable."""
        return len(self._pending)

    # ---- writes -------------------------------------------------------------------------------------
    def submit(self, kind: str, payload: dict[str, Any] | tuple) -> Future:
        """Queue a write; the future resolves True once committed, False if kept for retry."""
        future: Future = Future()
        self._queue.put((kind, payload, future))
        return future

    async def write(self, kind: str, payload: dict[str, Any] | tuple) -> bool:
        """Queue a write and wait (without blocking the loop) until it is committed or kept for retry."""
        future = self.submit(kind, payload)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), COMMIT_WAIT)
        except TimeoutError:
            log.error("enquiry log: a write took over %.1fs; it stays queued", COMMIT_WAIT)
            return False

    async def log_enquiry(self, record: EnquiryRecord) -> str:
        """Commit one enquiry row before the reply goes out; returns its id."""
        await self.write("enquiry", asdict(record))
        return record.id

    async def add_feedback(self, enquiry_id: str, value: int, comment: str | None = None,
                           user_key: str | None = None) -> bool:
        """Record 👍 (1) or 👎 (-1) on an enquiry."""
        return await self.write("feedback", {"enquiry_id": enquiry_id, "ts": utcnow(), "value": 1 if value > 0 else -1,
                                             "comment": comment, "user_key": user_key})

    async def add_handoff(self, enquiry_id: str | None, channel: str, user_key: str | None,
                          reply_to: str | None, staff_message_id: str | None = None) -> bool:
        """Record that a question was passed to staff."""
        return await self.write("handoff", {"enquiry_id": enquiry_id, "ts": utcnow(), "channel": channel,
                                            "user_key": user_key, "reply_to": reply_to,
                                            "staff_message_id": staff_message_id, "status": "open"})

    async def add_staff_reply(self, handoff_id: int, enquiry_id: str | None, text: str,
                              staff_key: str | None) -> bool:
        """Record a staff member's reply to a handoff."""
        return await self.write("staff_reply", {"handoff_id": handoff_id, "enquiry_id": enquiry_id,
                                                "ts": utcnow(), "text": text, "staff_key": staff_key})

    async def set_pref(self, user_key: str, **prefs: str | None) -> bool:
        """Remember a user's audience and/or language."""
        row = {"user_key": user_key, "updated": utcnow(), **{k: v for k, v in prefs.items() if v is not None}}
        return await self.write("pref", row)

    # ---- reads --------------------------------------------------------------------------------------
    def reader(self) -> sqlite_utils.Database:
        """A new read connection (WAL lets it read while the writer writes); close it when done."""
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5, check_same_thread=False)
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

    def get_pref(self, user_key: str) -> dict[str, str | None]:
        """A user's remembered audience and language (empty when unknown or unreadable)."""
        def query(db: sqlite_utils.Database) -> dict[str, str | None]:
            rows = list(db.query("SELECT audience, lang FROM user_prefs WHERE user_key = ?", [user_key]))
            return rows[0] if rows else {}
        try:
            return self.read(query)
        except sqlite3.Error as exc:
            log.error("enquiry log: cannot read preferences: %s", exc)
            return {}

    def find_handoff(self, staff_message_id: str) -> dict[str, Any] | None:
        """The handoff whose message in the staff chat has this id."""
        def query(db: sqlite_utils.Database) -> dict[str, Any] | None:
            rows = list(db.query("SELECT * FROM handoffs WHERE staff_message_id = ? ORDER BY id DESC LIMIT 1",
                                 [staff_message_id]))
            return rows[0] if rows else None
        return self.read(query)

    # ---- the writer thread --------------------------------------------------------------------------
    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        stopping = False
        while True:
            timeout = 0.5 if self._pending else None
            try:
                item = self._queue.get(timeout=timeout)
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
            todo = list(self._pending) + batch
            self._pending.clear()
            if todo:
                conn = self._write(conn, todo)
            if stopping:
                if self._pending:      # one last try at shutdown
                    todo = list(self._pending)
                    self._pending.clear()
                    conn = self._write(conn, todo)
                break
        if conn is not None:
            conn.close()

    def _write(self, conn: sqlite3.Connection | None, todo: list[_Op]) -> sqlite3.Connection | None:
        try:
            if conn is None:
                conn = connect(self.path)
            conn.execute("BEGIN IMMEDIATE")
            try:
                for kind, payload, _ in todo:
                    _apply(conn, kind, payload)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except (sqlite3.Error, OSError, StoreError) as exc:
            if self.failing is None:
                log.error("ENQUIRY LOG UNWRITABLE (%s): keeping %d writes in memory and retrying", exc, len(todo))
            self.failing = str(exc)
            overflow = len(self._pending) + len(todo) - PENDING_LIMIT
            if overflow > 0:
                self.dropped += overflow
                log.error("enquiry log: memory queue full, %d oldest writes dropped", overflow)
            for op in todo:
                self._pending.append(op)
                _resolve(op[2], False)
            if conn is not None:
                conn.close()
            return None
        if self.failing is not None:
            log.warning("enquiry log writable again; %d queued writes committed", len(todo))
            self.failing = None
        for op in todo:
            _resolve(op[2], True)
        return conn


def _resolve(future: Future | None, value: bool) -> None:
    if future is not None and not future.done():
        future.set_result(value)


_TABLES = {"enquiry": "enquiries", "feedback": "feedback", "handoff": "handoffs",
           "staff_reply": "staff_replies"}


def _apply(conn: sqlite3.Connection, kind: str, payload: dict[str, Any]) -> None:
    # Plain SQL inside the writer's one transaction; sqlite-utils' insert() would commit per row.
    columns = list(payload)
    names, marks = ", ".join(columns), ", ".join("?" for _ in columns)
    values = [payload[c] for c in columns]
    if kind in _TABLES:
        verb = "INSERT OR IGNORE" if kind == "enquiry" else "INSERT"
        conn.execute(f"{verb} INTO {_TABLES[kind]} ({names}) VALUES ({marks})", values)
        if kind == "staff_reply":
            conn.execute("UPDATE handoffs SET status = 'answered' WHERE id = ?", [payload["handoff_id"]])
    elif kind == "pref":
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "user_key")
        conn.execute(f"INSERT INTO user_prefs ({names}) VALUES ({marks}) "  # noqa: S608
                     f"ON CONFLICT (user_key) DO UPDATE SET {updates}", values)
    else:
        raise ValueError(f"unknown write {kind!r}")


class SyncLogger:
    """Log enquiries from synchronous code (the terminal): each call waits for its commit."""

    def __init__(self, settings: Settings, channel: str = "terminal", user: str = "local") -> None:
        self.store = Store(settings)
        self.store.start()
        self.channel = channel
        self.user_key = self.store.user_key(channel, user)

    def __call__(self, reply: Any, **extra: Any) -> str:
        """Write the enquiry for a reply and return its id."""
        record = EnquiryRecord.from_reply(reply, self.channel, self.user_key, **extra)
        self.store.submit("enquiry", asdict(record)).result(timeout=COMMIT_WAIT * 5)
        return record.id

    def feedback(self, enquiry_id: str, value: int) -> None:
        """Record feedback and wait for it."""
        self.store.submit("feedback", {"enquiry_id": enquiry_id, "ts": utcnow(), "value": 1 if value > 0 else -1,
                                       "comment": None, "user_key": self.user_key}).result(timeout=COMMIT_WAIT * 5)

    def close(self) -> None:
        """Drain and stop."""
        self.store.close()
