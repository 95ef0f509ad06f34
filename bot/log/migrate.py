"""The enquiry database file: numbered migrations, the schema version check, the integrity check."""

from __future__ import annotations

import datetime as dt
import logging
import os
import sqlite3
import time
from pathlib import Path

from bot.config import ROOT
from bot.errors import StoreError

log = logging.getLogger(__name__)
MIGRATIONS_DIR = ROOT / "db" / "migrations"
BUSY_SECONDS = 5.0   # how long a connection waits for another one's lock


def migrations(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, Path]]:
    """Numbered migration files, in order."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        number = path.name.split("_", 1)[0]
        if number.isdigit():
            found.append((int(number), path))
    return found


def split_sql(script: str) -> list[str]:
    """The statements of a migration script, each complete (triggers and quoted `;` kept whole)."""
    statements, buffer = [], ""
    pieces = script.split(";")
    for i, piece in enumerate(pieces):
        buffer += piece if i == len(pieces) - 1 else piece + ";"
        if sqlite3.complete_statement(buffer):
            if _has_sql(buffer):
                statements.append(buffer.strip())
            buffer = ""
    if _has_sql(buffer):
        statements.append(buffer.strip())
    return statements


def _has_sql(text: str) -> bool:
    return any(line.strip().strip(";") and not line.strip().startswith("--") for line in text.splitlines())


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]).fetchone() is not None


def apply_migrations(conn: sqlite3.Connection, upto: int | None = None) -> int:
    """Apply the pending migrations (up to `upto`), each in its own transaction; return the version."""
    for number, file in migrations():
        if upto is not None and number > upto:
            break
        if number <= schema_version(conn):
            continue
        statements = split_sql(file.read_text(encoding="utf-8"))
        conn.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(conn) >= number:     # another process migrated while we waited for the lock
                conn.execute("ROLLBACK")
                continue
            for statement in statements:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
            if _has_table(conn, "schema_history"):
                applied = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
                for done, done_file in migrations():
                    if done <= number:
                        conn.execute("INSERT OR IGNORE INTO schema_history (version, name, applied) "
                                     "VALUES (?, ?, ?)", [done, done_file.name, applied])
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return schema_version(conn)


def connect(path: Path, migrate: bool = True) -> sqlite3.Connection:
    """Open the database, apply pending migrations, check the schema version."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        create_private(path)
        conn = sqlite3.connect(str(path), timeout=BUSY_SECONDS, check_same_thread=False,
                               isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_SECONDS * 1000)}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"Cannot open the enquiry database {path}: {exc}. Check the path in VOCBOT_DB "
                         "and that the file is a SQLite database; to salvage it, see 'Recovering the log' "
                         "in docs/staff.md.") from None
    known = migrations()
    latest = known[-1][0] if known else 0
    if version > latest:
        conn.close()
        raise StoreError(f"The enquiry database {path} has schema version {version}, newer than this "
                         f"vocbot knows ({latest}); upgrade vocbot.")
    if migrate and version < latest:
        try:
            enable_wal(conn)
            apply_migrations(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"Cannot migrate the enquiry database {path}: {exc}.") from None
    elif migrate:
        try:
            enable_wal(conn)
        except sqlite3.Error as exc:
            log.error("enquiry database %s: cannot enable WAL: %s", path, exc)
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def create_private(path: Path) -> None:
    """Create an empty database file readable by its owner only; SQLite gives -wal and -shm the same mode."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def enable_wal(conn: sqlite3.Connection, wait: float = BUSY_SECONDS) -> None:
    """Switch the file to WAL, waiting out other connections that are opening it at the same time."""
    # SQLite skips the busy handler when two connections would deadlock (both switching the journal mode),
    # so processes starting together get "database is locked" at once; wait and retry here instead.
    deadline = time.monotonic() + wait
    delay = 0.005
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def check_integrity(path: Path) -> None:
    """Open (and migrate) the database, then raise StoreError if SQLite finds it damaged."""
    conn = connect(path)
    try:
        problem = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        problem = str(exc)
    finally:
        conn.close()
    if problem != "ok":
        problem = " ".join(problem.replace("*** in database main ***", "").split())
        raise StoreError(f"The enquiry database {path} is damaged ({problem}); vocbot will not write to it. "
                         "To salvage it, see 'Recovering the log' in docs/staff.md.")


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database."""
    return conn.execute("PRAGMA user_version").fetchone()[0]
