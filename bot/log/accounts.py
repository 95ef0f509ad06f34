"""Staff accounts in the log database: names and argon2 password hashes (hashing lives in bot.staff.accounts)."""

from __future__ import annotations

import sqlite3
from typing import Any

from bot.log.records import utcnow


def get_hash(conn: sqlite3.Connection | Any, name: str) -> str | None:
    """The stored password hash of an account, or None."""
    conn = getattr(conn, "conn", conn)
    row = conn.execute("SELECT password_hash FROM staff_accounts WHERE name = ?", [name]).fetchone()
    return row[0] if row else None


def set_hash(conn: sqlite3.Connection, name: str, password_hash: str) -> bool:
    """Create the account or replace its hash; True when it was new."""
    now = utcnow()
    existed = get_hash(conn, name) is not None
    conn.execute("INSERT INTO staff_accounts (name, password_hash, created, updated) VALUES (?, ?, ?, ?) "
                 "ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, updated = excluded.updated",
                 [name, password_hash, now, now])
    return not existed


def list_accounts(conn: sqlite3.Connection | Any) -> list[dict[str, str]]:
    """Every account's name, creation and last password change (never the hash)."""
    conn = getattr(conn, "conn", conn)
    rows = conn.execute("SELECT name, created, updated FROM staff_accounts ORDER BY name").fetchall()
    return [{"name": n, "created": c, "updated": u} for n, c, u in rows]


def count(conn: sqlite3.Connection | Any) -> int:
    """How many accounts exist."""
    conn = getattr(conn, "conn", conn)
    return conn.execute("SELECT count(*) FROM staff_accounts").fetchone()[0]
