"""The rows of the enquiry log: ids, timestamps, the pseudonym key, the enquiry record and the SQL of each write."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import threading
from pathlib import Path

import pytest
from dbfile import rows

from bot.config import Settings
from bot.core.engine import Engine
from bot.errors import StoreError
from bot.log.migrate import connect
from bot.log.records import EnquiryRecord, apply_write, load_hash_key, new_id, promotion_row, storable, utcnow


def test_ids_are_16_random_url_safe_characters() -> None:
    """Issue 12 row 11: public ids are not guessable (they used to start with the millisecond clock)."""
    ids = [new_id() for _ in range(2000)]
    assert all(re.fullmatch(r"[0-9a-hjkmnp-tv-z]{16}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert len({i[:2] for i in ids}) > 500                 # no shared prefix: 1,024 possible, all equally likely
    assert ids != sorted(ids)
    assert len(ids[0].encode()) < 64                       # fits Telegram callback data with room to spare


def test_timestamps_are_utc_iso_with_microseconds() -> None:
    stamp = dt.datetime.fromisoformat(utcnow())
    assert stamp.utcoffset() == dt.timedelta(0)
    assert abs((dt.datetime.now(dt.UTC) - stamp).total_seconds()) < 5


@pytest.mark.parametrize(("value", "stored"), [
    ("3加2", "3加2"),
    ("a\ud800b", "a?b"),                  # a lone surrogate cannot be UTF-8: replaced, the rest kept
    ("\udfff", "?"),
    ("", ""),
    (12, 12),
    (None, None),
    (1.5, 1.5),
])
def test_storable_values(value: object, stored: object) -> None:
    assert storable(value) == stored


def test_the_configured_key_is_used_as_given(tmp_path: Path) -> None:
    settings = dataclasses.replace(Settings.from_env({}), db_path=tmp_path / "e.db", hash_key="sekret")
    assert load_hash_key(settings) == b"sekret"
    assert not (tmp_path / "e.db.key").exists()


def test_processes_creating_the_key_file_together_agree_on_one_key(tmp_path: Path) -> None:
    settings = dataclasses.replace(Settings.from_env({}), db_path=tmp_path / "e.db", hash_key=None)
    barrier = threading.Barrier(8)
    keys: list[bytes] = []

    def make() -> None:
        barrier.wait()
        keys.append(load_hash_key(settings))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(keys) == 8 and len(set(keys)) == 1 and len(keys[0]) == 64
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.db.key"]


def test_an_unreadable_key_location_is_one_sentence(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    settings = dataclasses.replace(Settings.from_env({}), db_path=blocker / "e.db", hash_key=None)
    with pytest.raises(StoreError,
                       match=r"Cannot read or create the pseudonym key .*Set VOCBOT_HASH_KEY_FILE or "
                             r"VOCBOT_HASH_KEY\.$"):
        load_hash_key(settings)


def test_an_enquiry_record_carries_the_reply(engine: Engine) -> None:
    reply = engine.ask("3加2是啥子意思")
    record = EnquiryRecord.from_reply(reply, "web", "k1", audience="student", id="fixed-id")
    assert (record.id, record.channel, record.user_key, record.audience) == ("fixed-id", "web", "k1", "student")
    assert (record.text, record.decision, record.intent) == ("3加2是啥子意思", reply.decision, reply.intent)
    assert json.loads(record.candidates) == [{"intent": c.intent, "score": c.score} for c in reply.candidates]
    assert record.via == "text" and record.intents_version == engine.version
    assert len(EnquiryRecord.from_reply(reply, "web", None).id) == 16
    assert record.row() == dataclasses.asdict(record)
    record.row()["text"] = "changed"
    assert record.text == "3加2是啥子意思"                        # a copy: the writer's row is its own


def test_each_write_kind_becomes_its_rows(tmp_path: Path, engine: Engine) -> None:
    path = tmp_path / "e.db"
    conn = connect(path)
    try:
        record = EnquiryRecord.from_reply(engine.ask("3加2"), "web", "k1", id="e1")
        apply_write(conn, "enquiry", dataclasses.asdict(record))
        apply_write(conn, "enquiry", dataclasses.asdict(record))          # delivered twice: stored once
        apply_write(conn, "feedback", {"enquiry_id": "e1", "ts": utcnow(), "value": -1})
        apply_write(conn, "handoff", {"enquiry_id": "e1", "ts": utcnow(), "channel": "web", "user_key": "k1",
                                      "reply_to": "42", "staff_message_id": "m1"})
        handoff = conn.execute("SELECT id FROM handoffs").fetchone()[0]
        apply_write(conn, "staff_reply", {"handoff_id": handoff, "enquiry_id": "e1", "ts": utcnow(),
                                          "text": "回复", "staff_key": "s1"})
        apply_write(conn, "promotion", promotion_row("e1", "pathway.3plus2", "3加2", "3+2", "zh", "cli"))
        apply_write(conn, "pref", {"user_key": "k1", "updated": utcnow(), "lang": "en"})
        apply_write(conn, "pref", {"user_key": "k1", "updated": utcnow(), "audience": "student"})
        with pytest.raises(ValueError, match="unknown write 'nonsense'"):
            apply_write(conn, "nonsense", {"x": 1})
    finally:
        conn.close()
    assert rows(path, "SELECT id, channel FROM enquiries") == [{"id": "e1", "channel": "web"}]
    assert rows(path, "SELECT enquiry_id, value FROM feedback") == [{"enquiry_id": "e1", "value": -1}]
    assert rows(path, "SELECT status FROM handoffs") == [{"status": "answered"}]
    assert rows(path, "SELECT intent, staff FROM promotions") == [{"intent": "pathway.3plus2", "staff": "cli"}]
    assert rows(path, "SELECT lang, audience FROM user_prefs") == [{"lang": "en", "audience": "student"}]


# ---- issue 12 row 4: where the key lives and who may read it ------------------------------------------------
def test_the_key_file_can_live_apart_from_the_database(tmp_path: Path) -> None:
    keys = tmp_path / "secrets" / "vocbot.key"
    env = {"VOCBOT_DB": str(tmp_path / "db" / "e.db"), "VOCBOT_HASH_KEY_FILE": str(keys)}
    settings = Settings.from_env(env)
    assert settings.hash_key_file == keys
    key = load_hash_key(settings)
    assert keys.read_bytes().strip() == key and not (tmp_path / "db").exists()
    assert keys.stat().st_mode & 0o777 == 0o600
    assert load_hash_key(settings) == key


def test_a_key_readable_by_others_is_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = dataclasses.replace(Settings.from_env({}), db_path=tmp_path / "e.db", hash_key=None)
    load_hash_key(settings)
    key_path = tmp_path / "e.db.key"
    assert key_path.stat().st_mode & 0o777 == 0o600
    assert "chmod 600" not in caplog.text
    key_path.chmod(0o644)
    load_hash_key(settings)
    assert f"{key_path} can be read by other users of this machine (mode 644); run: chmod 600 {key_path}" \
        in caplog.text
