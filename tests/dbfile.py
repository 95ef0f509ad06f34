"""Reading an enquiry database file in tests, through a fresh connection of its own."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def rows(path: Path, sql: str, *params: object) -> list[dict]:
    """Query the database file with a fresh connection."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def tables(path: Path) -> set[str]:
    """The names of the tables in the file."""
    return {r["name"] for r in rows(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}


def summaries_match(path: Path) -> bool:
    """The trigger-kept summary tables equal a GROUP BY over the enquiries."""
    by_day = rows(path, "SELECT substr(ts, 1, 10) AS day, channel, decision, via, count(*) AS n FROM enquiries "
                        "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4")
    kept = rows(path, "SELECT day, channel, decision, via, n FROM enquiry_days ORDER BY 1, 2, 3, 4")
    by_intent = rows(path, "SELECT substr(ts, 1, 10) AS day, intent, count(*) AS n FROM enquiries "
                           "WHERE decision = 'answer' AND intent IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2")
    kept_intent = rows(path, "SELECT day, intent, n FROM intent_days ORDER BY 1, 2")
    return by_day == kept and by_intent == kept_intent
