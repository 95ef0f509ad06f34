"""Versions of intents saved from the dashboard: who changed which intent when, the YAML after it and the diff."""

from __future__ import annotations

import sqlite3
from typing import Any

from bot.log.records import utcnow

COLUMNS = "id, ts, author, intent, file, action, body, diff"


def add_version(conn: sqlite3.Connection, author: str, intent: str, file: str, action: str, body: str,
                diff: str) -> int:
    """Record one change; returns the version's id."""
    cur = conn.execute("INSERT INTO intent_versions (ts, author, intent, file, action, body, diff) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)", [utcnow(), author, intent, file, action, body, diff])
    return int(cur.lastrowid or 0)


def _dicts(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def list_versions(db: Any, intent: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The newest versions first (of one intent, or of all)."""
    conn = getattr(db, "conn", db)
    if intent:
        # S608: COLUMNS is the constant above; values are bound.
        return _dicts(conn.execute(f"SELECT {COLUMNS} FROM intent_versions WHERE intent = ? "  # noqa: S608
                                   "ORDER BY id DESC LIMIT ?", [intent, limit]))
    return _dicts(conn.execute(f"SELECT {COLUMNS} FROM intent_versions ORDER BY id DESC LIMIT ?",  # noqa: S608
                               [limit]))


def get_version(db: Any, version_id: int) -> dict[str, Any] | None:
    """One version, or None."""
    conn = getattr(db, "conn", db)
    rows = _dicts(conn.execute(f"SELECT {COLUMNS} FROM intent_versions WHERE id = ?",  # noqa: S608
                               [version_id]))
    return rows[0] if rows else None
