"""The rows of the enquiry log: ids and timestamps, the pseudonym key, the enquiry record, and the SQL
each kind of queued write runs (the writer thread that runs it lives in bot.log.store)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.errors import StoreError

log = logging.getLogger("bot.log.store")   # operators filter the log's messages under one name
_B32 = "0123456789abcdefghjkmnpqrstvwxyz"


def utcnow() -> str:
    """The current UTC time as ISO 8601 text, as stored in every `ts` column."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def new_id() -> str:
    """A 16-character random enquiry id (80 bits: not guessable, not sequential; safe in Telegram callback data)."""
    return "".join(secrets.choice(_B32) for _ in range(16))


def stable_id(ms: int, seed: str) -> str:
    """A 16-character enquiry id ordered by `ms` whose random part is derived from `seed` (the same seed, the
    same id), for a platform that may deliver one message twice (WeChat's MsgId)."""
    bits = int.from_bytes(hashlib.sha256(seed.encode("utf-8")).digest()[:4], "big") & (2**30 - 1)
    value = ms << 30 | bits
    return "".join(_B32[(value >> shift) & 31] for shift in range(75, -1, -5))[-16:]


def load_hash_key(settings: Settings) -> bytes:
    """The pseudonymisation key: VOCBOT_HASH_KEY, else a random key kept in VOCBOT_HASH_KEY_FILE (created 0600),
    by default `<db>.key` beside the database."""
    if settings.hash_key:
        return settings.hash_key.encode("utf-8")
    key_path = key_file(settings)
    try:
        if not key_path.exists():
            key_path.parent.mkdir(parents=True, exist_ok=True)
            key = secrets.token_hex(32).encode()
            # Written under a temporary name and linked into place, so a process starting at the same
            # moment never reads a half-written key (and the loser of the race uses the winner's key).
            temp = key_path.with_name(f"{key_path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(key)
            try:
                os.link(temp, key_path)
                log.warning("VOCBOT_HASH_KEY is not set; created a random pseudonym key in %s", key_path)
            except FileExistsError:
                pass
            finally:
                temp.unlink()
        else:
            warn_if_exposed(key_path)
        key = key_path.read_bytes().strip()
    except OSError as exc:
        raise StoreError(f"Cannot read or create the pseudonym key {key_path}: {exc}. "
                         "Set VOCBOT_HASH_KEY_FILE or VOCBOT_HASH_KEY.") from None
    if not key:
        raise StoreError(f"The pseudonym key file {key_path} is empty; restore it from a backup or set "
                         "VOCBOT_HASH_KEY (a new key gives every user a new pseudonym).")
    return key


def key_file(settings: Settings) -> Path:
    """Where the pseudonym key is kept: VOCBOT_HASH_KEY_FILE, else `<db>.key`."""
    return settings.hash_key_file or settings.db_path.with_name(settings.db_path.name + ".key")


def warn_if_exposed(path: Path) -> bool:
    """Log a warning (and return True) when a file exists and its group or others may read or write it."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    if mode & 0o077:
        log.warning("%s can be read by other users of this machine (mode %03o); run: chmod 600 %s", path,
                    mode & 0o777, path)
        return True
    return False


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
    text_length: int | None = None       # characters of the question as sent (text holds at most 2,000)
    truncated: int = 0                   # 1 when text is only the start of the question

    def row(self) -> dict[str, Any]:
        """The column values, for the writer (a shallow copy: every field is a plain value, so no deep asdict)."""
        return dict(vars(self))

    @classmethod
    def from_reply(cls, reply: Any, channel: str, user_key: str | None, **extra: Any) -> EnquiryRecord:
        """Build the row for an engine reply."""
        extra.setdefault("text_length", len(reply.question))
        return cls(id=extra.pop("id", None) or new_id(), ts=utcnow(), channel=channel, user_key=user_key,
                   text=reply.question, decision=reply.decision, intent=reply.intent, score=reply.score,
                   candidates=json.dumps([{"intent": c.intent, "score": c.score} for c in reply.candidates]),
                   normalized=reply.normalized, lang=reply.lang, latency_ms=reply.latency_ms,
                   intents_version=reply.intents_version, **extra)


def route_record(result: Any, channel: str, user_key: str | None, latency_ms: float | None = None,
                 intents_version: str | None = None, **extra: Any) -> EnquiryRecord:
    """The row for a route-finder result: decision "route", and as text only ids (flow, profile, the chosen
    options, the result's intents), never free text."""
    intents = [item.intent for item in result.items]
    text = json.dumps({"flow": result.flow, "profile": result.profile, "answers": result.answers,
                       "intents": intents}, ensure_ascii=False, separators=(",", ":"))
    return EnquiryRecord(id=extra.pop("id", None) or new_id(), ts=utcnow(), channel=channel, user_key=user_key,
                         text=text, decision="route", intent=intents[0] if intents else None,
                         candidates=json.dumps([{"intent": i, "score": None} for i in intents]),
                         lang=result.lang, audience=extra.pop("audience", None) or result.audience, via="route",
                         latency_ms=latency_ms, intents_version=intents_version, **extra)


def promotion_row(enquiry_id: str, intent: str, text: str, normalized: str | None, lang: str,
                  staff: str | None = None) -> dict[str, Any]:
    """The `promotions` row for a question staff turned into an example."""
    return {"enquiry_id": enquiry_id, "ts": utcnow(), "intent": intent, "text": text, "normalized": normalized,
            "lang": lang, "staff": staff}


_TABLES = {"enquiry": "enquiries", "feedback": "feedback", "handoff": "handoffs",
           "staff_reply": "staff_replies", "promotion": "promotions"}


def apply_write(conn: sqlite3.Connection, kind: str, payload: dict[str, Any]) -> None:
    """Run one queued write (an enquiry, feedback, a handoff ...) as SQL inside the caller's transaction."""
    # Plain SQL inside the writer's one transaction; sqlite-utils' insert() would commit per row.
    columns = list(payload)
    names, marks = ", ".join(columns), ", ".join("?" for _ in columns)
    values = [storable(payload[c]) for c in columns]
    if kind in _TABLES:
        verb = "INSERT OR IGNORE" if kind == "enquiry" else "INSERT"
        conn.execute(f"{verb} INTO {_TABLES[kind]} ({names}) VALUES ({marks})", values)
        if kind == "staff_reply":
            # The reply address has served its purpose: it is deleted with the first delivered reply.
            conn.execute("UPDATE handoffs SET status = 'answered', reply_to = NULL WHERE id = ?",
                         [payload["handoff_id"]])
    elif kind == "telegram_updates":
        conn.executemany("INSERT OR IGNORE INTO telegram_updates (bot_id, update_id, ts) VALUES (?, ?, ?)",
                         [(payload["bot_id"], update_id, payload["ts"]) for update_id in payload["update_ids"]])
        week_ago = (dt.datetime.fromisoformat(payload["ts"]) - dt.timedelta(days=7)).isoformat(timespec="microseconds")
        conn.execute("DELETE FROM telegram_updates WHERE ts < ?", [week_ago])
    elif kind == "pref":
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "user_key")
        # S608: column names are the keys set_pref builds in this module, never user input; values are bound.
        conn.execute(f"INSERT INTO user_prefs ({names}) VALUES ({marks}) "  # noqa: S608
                     f"ON CONFLICT (user_key) DO UPDATE SET {updates}", values)
    else:
        raise ValueError(f"unknown write {kind!r}")


def storable(value: Any) -> Any:
    """The value as SQLite can store it: lone surrogates (possible from JSON clients) become "?"."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "replace").decode("utf-8")
    return value
