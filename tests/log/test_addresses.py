"""Issue 12 row 3: reply addresses are stored sealed, sealed at start-up when an older version left them clear,
and opened only with the key."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest
from dbfile import rows

from bot.config import Settings
from bot.log.addresses import REPLY_TO, open_reply_address, seal_clear
from bot.log.migrate import apply_migrations
from bot.log.sealing import Sealer
from bot.log.store import Store


async def test_a_handoff_stores_its_reply_address_sealed(settings: Settings) -> None:
    store = Store(settings)
    store.start()
    try:
        assert await store.add_handoff(None, "telegram", "k1", reply_to="777000111")
    finally:
        store.close()
    [row] = rows(settings.db_path, "SELECT * FROM handoffs")
    assert row["reply_to"].startswith("s1:") and "777000111" not in row["reply_to"]
    assert store.reply_address(row) == "777000111"
    assert open_reply_address(Sealer(b"another key"), row) is None           # the database alone is not enough


def test_start_up_seals_clear_addresses_left_by_an_older_version(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    old = sqlite3.connect(path, isolation_level=None)
    apply_migrations(old, upto=3)
    old.execute("INSERT INTO handoffs (ts, channel, user_key, reply_to, status) "
                "VALUES ('2026-01-01', 'telegram', 'k1', '555002', 'open')")
    old.close()
    store = Store(dataclasses.replace(Settings.from_env({}), db_path=path, hash_key="k"))
    [row] = rows(path, "SELECT * FROM handoffs")
    assert row["reply_to"].startswith("s1:") and store.reply_address(row) == "555002"
    assert seal_clear(path, store.sealer) == 0                                  # nothing left in clear


def test_an_altered_address_does_not_open(caplog: pytest.LogCaptureFixture) -> None:
    sealer = Sealer(b"k")
    token = sealer.seal("123", REPLY_TO)
    assert open_reply_address(sealer, {"id": 9, "reply_to": token[:-4] + "AAAA"}) is None
    assert open_reply_address(sealer, {"id": 9, "reply_to": None}) is None
    assert "handoff 9" in caplog.text
