"""The store's point look-ups the channels need while answering: preferences, a handoff, an enquiry, handled
Telegram updates. Short reads on their own connection (Store.read), never through the writer thread."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import Any

import sqlite_utils

from bot.log import addresses
from bot.log.sealing import Sealer

log = logging.getLogger("bot.log.store")


class Lookups:
    """Mixed into Store, which provides `read` and `sealer`."""

    sealer: Sealer
    read: Callable[..., Any]

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

    def reply_address(self, handoff: dict[str, Any]) -> str | None:
        """The opened reply address of a handoff row, or None when it was used, expired or cannot be opened."""
        return addresses.open_reply_address(self.sealer, handoff)

    def find_enquiry(self, enquiry_id: str) -> dict[str, Any] | None:
        """The channel, pseudonym, intent, language, text and kind of one enquiry, or None when it is not logged."""
        def query(db: sqlite_utils.Database) -> dict[str, Any] | None:
            rows = list(db.query("SELECT id, channel, user_key, intent, lang, text, text_length, via FROM enquiries "
                                 "WHERE id = ?", [enquiry_id]))
            return rows[0] if rows else None
        return self.read(query)

    def handled_updates(self, bot_id: int, update_ids: list[int]) -> set[int]:
        """Which of these Telegram update ids were already handled (recorded by mark_updates_handled)."""
        if not update_ids:
            return set()
        marks = ", ".join("?" for _ in update_ids)
        # S608: only "?" placeholders are interpolated; the ids are bound.
        sql = f"SELECT update_id FROM telegram_updates WHERE bot_id = ? AND update_id IN ({marks})"  # noqa: S608
        return self.read(lambda db: {row[0] for row in db.execute(sql, [bot_id, *update_ids]).fetchall()})

