"""Opt-in notices in the log: "tell me when there is an answer", claimed before sending so none goes out twice.

A row goes pending -> sending -> told, or pending -> withdrawn. The claim (pending -> sending, stamping
`notified_at`) is committed before the message is sent, so a crash between the two can lose a notice but
never repeat one; the claim also erases the sealed reply address, which the sender holds in memory only. A
platform that certainly refused the message sends the row back to pending with its address; a dead address
makes it unreachable. Withdrawal erases the address too, and the retention purge deletes the rest.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from bot.log.records import utcnow

FIELDS = "id, enquiry_id, ts, channel, user_key, reply_to, question, lang, status, intent, notified_at"


def _dicts(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def add(conn: sqlite3.Connection, enquiry_id: str, channel: str, user_key: str, reply_to: str | None,
        question: str, lang: str | None) -> bool:
    """Record an opt-in (again pending if it was withdrawn); False when it already was pending or told."""
    cur = conn.execute(
        "INSERT INTO optins (enquiry_id, ts, channel, user_key, reply_to, question, lang) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (enquiry_id, user_key) DO UPDATE SET status = 'pending', reply_to = excluded.reply_to, "
        "ts = excluded.ts WHERE optins.status = 'withdrawn'",
        [enquiry_id, utcnow(), channel, user_key, reply_to, question, lang])
    return cur.rowcount > 0


def withdraw(conn: sqlite3.Connection, channel: str, user_key: str) -> int:
    """Withdraw every pending opt-in of a user; their reply addresses are erased. Returns how many."""
    return conn.execute("UPDATE optins SET status = 'withdrawn', reply_to = NULL "
                        "WHERE channel = ? AND user_key = ? AND status = 'pending'", [channel, user_key]).rowcount


def pending(db: Any, channel: str | None = None, user_key: str | None = None) -> list[dict[str, Any]]:
    """Pending opt-ins, oldest first (of one channel and user when given)."""
    conn = getattr(db, "conn", db)
    where, args = ["status = 'pending'"], []
    if channel:
        where.append("channel = ?")
        args.append(channel)
    if user_key:
        where.append("user_key = ?")
        args.append(user_key)
    # S608: FIELDS and the conditions are constants of this module; values are bound.
    return _dicts(conn.execute(f"SELECT {FIELDS} FROM optins WHERE {' AND '.join(where)} ORDER BY id",  # noqa: S608
                               args))


def claim(conn: sqlite3.Connection, optin_id: int, intent: str) -> bool:
    """pending -> sending, stamping `notified_at` and erasing the address (the sender holds it in memory);
    False when another sender (or an earlier run) had it."""
    return conn.execute("UPDATE optins SET status = 'sending', intent = ?, notified_at = ?, reply_to = NULL "
                        "WHERE id = ? AND status = 'pending'", [intent, utcnow(), optin_id]).rowcount == 1


def told(conn: sqlite3.Connection, optin_id: int) -> None:
    """sending -> told: the notice went out."""
    conn.execute("UPDATE optins SET status = 'told', reply_to = NULL WHERE id = ?", [optin_id])


def release(conn: sqlite3.Connection, optin_id: int, reply_to: str | None) -> None:
    """sending -> pending with its sealed address back: the platform certainly did not take the notice."""
    conn.execute("UPDATE optins SET status = 'pending', notified_at = NULL, intent = NULL, reply_to = ? "
                 "WHERE id = ? AND status = 'sending'", [reply_to, optin_id])


def give_up(conn: sqlite3.Connection, optin_id: int) -> None:
    """sending -> unreachable: the address can never be used (the user blocked the bot); it is erased."""
    conn.execute("UPDATE optins SET status = 'unreachable', reply_to = NULL WHERE id = ?", [optin_id])


def counts(db: Any, enquiry_ids: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
    """{enquiry_id: {"pending": n, "told": n}} (told counts `sending` too: its notice was claimed)."""
    conn = getattr(db, "conn", db)
    rows = conn.execute("SELECT enquiry_id, status, count(*) FROM optins GROUP BY 1, 2").fetchall()
    wanted = set(enquiry_ids) if enquiry_ids is not None else None
    out: dict[str, dict[str, int]] = {}
    for enquiry_id, status, n in rows:
        if wanted is not None and enquiry_id not in wanted:
            continue
        slot = out.setdefault(enquiry_id, {"pending": 0, "told": 0})
        if status == "pending":
            slot["pending"] += n
        elif status in ("sending", "told"):
            slot["told"] += n
    return out


def by_question(db: Any, limit: int = 100) -> list[dict[str, Any]]:
    """Opt-ins grouped by question: how many pending and how many told, newest first."""
    conn = getattr(db, "conn", db)
    return _dicts(conn.execute(
        "SELECT question, sum(status = 'pending') AS pending, sum(status IN ('sending', 'told')) AS told, "
        "max(ts) AS last_ts FROM optins WHERE status != 'withdrawn' GROUP BY question ORDER BY last_ts DESC LIMIT ?",
        [limit]))


def purge(conn: sqlite3.Connection, cutoff: str) -> int:
    """Delete opt-ins older than the retention cutoff (their reply addresses with them)."""
    return conn.execute("DELETE FROM optins WHERE ts < ?", [cutoff]).rowcount
