"""Reply addresses of handoffs, kept only sealed (bot.log.sealing) and deleted once used or expired.

A Telegram chat id identifies a person (in a private chat it is the user's id), so it never sits in clear
beside the pseudonym: it is sealed when the handoff is recorded, opened only to deliver a staff reply, set
to NULL by that delivery (bot.log.records) and by the retention purge (bot.log.reports.purge).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from bot.errors import StoreError
from bot.log.migrate import connect
from bot.log.sealing import Sealer, SealError

log = logging.getLogger("bot.log.store")
REPLY_TO = "handoffs.reply_to"      # the purpose a reply address is sealed for


def open_reply_address(sealer: Sealer, handoff: dict[str, Any]) -> str | None:
    """The address of a handoff row in clear, or None when it was used, expired or cannot be opened."""
    sealed = handoff.get("reply_to")
    if not sealed:
        return None
    try:
        return sealer.open(sealed, REPLY_TO)
    except SealError as exc:
        log.error("handoff %s: %s", handoff.get("id"), exc)
        return None


def seal_clear(path: Path, sealer: Sealer) -> int:
    """Seal the addresses an older version stored in clear (migration 004 cleared those no longer needed)."""
    conn = connect(path)
    try:
        clear = conn.execute("SELECT id, reply_to FROM handoffs WHERE reply_to IS NOT NULL "
                             "AND reply_to NOT LIKE 's1:%'").fetchall()
        if clear:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("UPDATE handoffs SET reply_to = ? WHERE id = ?",
                             [(sealer.seal(str(value), REPLY_TO), hid) for hid, value in clear])
            conn.execute("COMMIT")
            log.warning("enquiry log: sealed %d reply addresses an older version stored in clear", len(clear))
        return len(clear)
    except sqlite3.Error as exc:
        raise StoreError(f"Cannot seal the reply addresses in {path}: {exc}.") from None
    finally:
        conn.close()
