"""The enquiry log: migrations, one committed row per answer on every channel, pseudonyms, and nothing lost
when the process is killed or the database cannot be written."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
import re
import signal
import sqlite3
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner
from dbfile import rows, summaries_match

from bot.config import Settings
from bot.core.engine import Engine
from bot.errors import StoreError
from bot.log import store as store_module
from bot.log.migrate import migrations
from bot.log.records import EnquiryRecord
from bot.log.store import Store
from bot.service import Service

LATEST = migrations()[-1][0]
QUESTION = "3加2是啥子意思"     # folds to an example of pathway.3plus2 (see example())
OFF_TOPIC = "zzzz qqqq"        # matches nothing: a fallback


def example(engine: Engine, intent: str, lang: str) -> str:
    """The first curated example question of an intent: the engine answers it exactly."""
    return engine.intents[intent].examples[lang][0]


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait (bounded) until the predicate holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# ---- pseudonyms -----------------------------------------------------------------------------------------
def test_user_keys_are_keyed_hashes_not_ids(settings: Settings) -> None:
    store = Store(settings)
    other = Store(dataclasses.replace(settings, hash_key="another-key"))
    key = store.user_key("telegram", 12345)
    assert re.fullmatch(r"[0-9a-f]{16}", key)
    assert key == store.user_key("telegram", "12345")
    assert key != store.user_key("web", 12345)
    assert key != store.user_key("telegram", 12346)
    assert key != other.user_key("telegram", 12345)
    assert "12345" not in key


async def test_handled_telegram_updates_are_remembered_per_bot_and_pruned_after_a_week(service: Service) -> None:
    store = service.store
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=8)).isoformat(timespec="microseconds")
    assert await store.write("telegram_updates", {"bot_id": 1, "update_ids": [5], "ts": old})
    assert store.handled_updates(1, [5]) == {5}
    assert await store.mark_updates_handled(1, [7, 8])
    assert await store.mark_updates_handled(1, [8])            # a second record of the same update is harmless
    assert await store.mark_updates_handled(2, [9])
    assert store.handled_updates(1, [5, 6, 7, 8, 9]) == {7, 8}   # 5 was pruned; 9 is another bot's
    assert store.handled_updates(2, [7, 9]) == {9}
    assert store.handled_updates(1, []) == set()


def test_without_a_configured_key_a_private_key_file_is_made_once(tmp_path: Path) -> None:
    settings = dataclasses.replace(Settings.from_env({}), db_path=tmp_path / "e.db", hash_key=None)
    first = Store(settings).user_key("web", "u")
    key_file = tmp_path / "e.db.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert Store(settings).user_key("web", "u") == first
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_an_empty_key_file_is_refused_rather_than_changing_every_pseudonym(tmp_path: Path) -> None:
    (tmp_path / "e.db.key").write_bytes(b"")
    settings = dataclasses.replace(Settings.from_env({}), db_path=tmp_path / "e.db", hash_key=None)
    with pytest.raises(StoreError, match="is empty"):
        Store(settings)


# ---- one committed row per answer, on every channel ---------------------------------------------------
@pytest.mark.parametrize(("channel", "user_id", "chat_type", "audience", "question", "lang", "decision"), [
    ("telegram", 4242, "private", "student", ("pathway.3plus2", "zh"), "zh", "answer"),
    ("telegram", -100777, "supergroup", None, ("pathway.3plus2", "en"), "en", "answer"),
    ("web", "session-abc", None, "enterprise", ("enterprise.tax_credit", "zh"), "zh", "answer"),
    ("terminal", "local", None, None, OFF_TOPIC, "en", "fallback"),
])
async def test_every_answer_has_its_row_committed_before_it_returns(service: Service, settings: Settings,
                                                                   engine: Engine, channel: str, user_id: object,
                                                                   chat_type: str | None, audience: str | None,
                                                                   question: str | tuple[str, str], lang: str,
                                                                   decision: str) -> None:
    question = example(engine, *question) if isinstance(question, tuple) else question
    answered = await service.ask(question, channel=channel, user_id=user_id, chat_type=chat_type, audience=audience)
    found = rows(settings.db_path, "SELECT * FROM enquiries WHERE id = ?", answered.enquiry_id)
    assert len(found) == 1
    row = found[0]
    reply = answered.reply
    assert reply.decision == decision
    assert dt.datetime.fromisoformat(row["ts"]).utcoffset() == dt.timedelta(0)
    assert (row["channel"], row["chat_type"], row["audience"], row["text"], row["lang"]) == \
        (channel, chat_type, audience, question, lang)
    assert row["user_key"] == service.user_key(channel, user_id) and str(user_id) not in row["user_key"]
    assert row["raw_user_id"] is None
    assert (row["normalized"], row["decision"], row["intent"], row["score"]) == \
        (reply.normalized, reply.decision, reply.intent, reply.score)
    assert json.loads(row["candidates"]) == [{"intent": c.intent, "score": c.score} for c in reply.candidates]
    assert row["latency_ms"] == reply.latency_ms and row["latency_ms"] >= 0
    assert row["intents_version"] == engine.version
    assert (row["via"], row["parent_id"]) == ("text", None)


async def test_a_pressed_button_is_logged_with_its_parent(service: Service, settings: Settings) -> None:
    first = await service.ask("补贴", channel="web", user_id="s")
    chosen = await service.choose("pathway.3plus2", channel="web", user_id="s", lang="zh", parent_id=first.enquiry_id)
    row = rows(settings.db_path, "SELECT via, parent_id, intent, decision FROM enquiries WHERE id = ?",
               chosen.enquiry_id)
    assert row == [{"via": "button", "parent_id": first.enquiry_id, "intent": "pathway.3plus2", "decision": "answer"}]


async def test_raw_ids_are_stored_only_when_the_operator_opts_in(settings: Settings, engine: Engine) -> None:
    opted = dataclasses.replace(settings, store_raw_ids=True)
    service = Service(opted, engine, Store(opted))
    service.start()
    try:
        answered = await service.ask(QUESTION, channel="telegram", user_id=4242)
    finally:
        service.close()
    assert rows(settings.db_path, "SELECT raw_user_id FROM enquiries WHERE id = ?", answered.enquiry_id) == \
        [{"raw_user_id": "4242"}]


async def test_feedback_handoffs_and_staff_replies_link_to_the_enquiry(service: Service, settings: Settings) -> None:
    answered = await service.ask(QUESTION, channel="telegram", user_id=1)
    assert await service.feedback(answered.enquiry_id, -1, channel="telegram", user_id=1, comment="没说清楚")
    assert await service.store.add_handoff(answered.enquiry_id, "telegram", service.user_key("telegram", 1),
                                           reply_to="1", staff_message_id="m9")
    handoff = service.store.find_handoff("m9")
    assert handoff is not None and handoff["status"] == "open"
    assert await service.store.add_staff_reply(handoff["id"], answered.enquiry_id, "请咨询区教委", "staff-1")
    path = settings.db_path
    assert rows(path, "SELECT enquiry_id, value, comment, user_key FROM feedback") == [
        {"enquiry_id": answered.enquiry_id, "value": -1, "comment": "没说清楚",
         "user_key": service.user_key("telegram", 1)}]
    assert rows(path, "SELECT enquiry_id, status FROM handoffs") == [{"enquiry_id": answered.enquiry_id,
                                                                     "status": "answered"}]
    assert rows(path, "SELECT handoff_id, enquiry_id, text FROM staff_replies") == [
        {"handoff_id": handoff["id"], "enquiry_id": answered.enquiry_id, "text": "请咨询区教委"}]


async def test_the_web_api_logs_each_question(settings: Settings, engine: Engine) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from bot.channels.web import chat as web

    service = Service(settings, engine, Store(settings))
    async with TestClient(TestServer(web.create_app(service))) as client:
        ids = []
        for text in (QUESTION, "what is 3+2", OFF_TOPIC):
            response = await client.post("/api/chat", json={"text": text, "session": "s1"})
            assert response.status == 200
            ids.append((await response.json())["enquiry_id"])
            assert rows(settings.db_path, "SELECT channel FROM enquiries WHERE id = ?", ids[-1]) == [{"channel": "web"}]
    assert len(set(ids)) == 3


@pytest.mark.parametrize(("args", "stdin"), [(["ask", "--log", QUESTION], None),
                                             (["ask", "--log", "--json"], f"{QUESTION}\n{OFF_TOPIC}\n")])
def test_vocbot_ask_log_writes_terminal_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str],
                                             stdin: str | None) -> None:
    from bot.cli.main import cli

    monkeypatch.setenv("VOCBOT_DB", str(tmp_path / "e.db"))
    monkeypatch.setenv("VOCBOT_HASH_KEY", "k")
    monkeypatch.setenv("LOGNAME", "ada")  # the operating-system user, which getpass reads first
    result = CliRunner().invoke(cli, args, input=stdin)
    assert result.exit_code == 0, result.output
    logged = rows(tmp_path / "e.db", "SELECT channel, via, text, user_key FROM enquiries ORDER BY ts")
    questions = [QUESTION] if stdin is None else stdin.splitlines()
    assert [r["text"] for r in logged] == questions
    assert {(r["channel"], r["via"]) for r in logged} == {("terminal", "text")}
    assert logged[0]["user_key"] == Store(dataclasses.replace(Settings.from_env({}), db_path=tmp_path / "e.db",
                                                              hash_key="k")).user_key("terminal", "ada")


def test_vocbot_ask_without_log_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.cli.main import cli

    monkeypatch.setenv("VOCBOT_DB", str(tmp_path / "e.db"))
    result = CliRunner().invoke(cli, ["ask", QUESTION])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "e.db").exists()


# ---- the writer ---------------------------------------------------------------------------------------
async def test_close_drains_every_queued_write(settings: Settings, engine: Engine) -> None:
    store = Store(settings)
    store.start()
    reply = engine.ask(QUESTION)
    records = [EnquiryRecord.from_reply(reply, "web", f"k{i}") for i in range(300)]
    for record in records:
        store.submit("enquiry", dataclasses.asdict(record))
    store.close()
    assert {r["id"] for r in rows(settings.db_path, "SELECT id FROM enquiries")} == {r.id for r in records}


async def test_checkpoints_run_off_the_reply_path(settings: Settings, engine: Engine,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "CHECKPOINT_EVERY", 0.01)
    service = Service(settings, engine, Store(settings))
    service.start()
    try:
        await service.ask(QUESTION, channel="web", user_id="s")
        writer = service.store._thread
        assert writer is not None and writer.is_alive()
        await until(lambda: service.store.checkpoints >= 1)
        for i in range(50):
            await service.ask(QUESTION, channel="web", user_id=i)
        done = service.store.checkpoints
        await until(lambda: service.store.checkpoints > done)
    finally:
        service.close()
    assert service.store._checkpointer is None


async def test_text_the_database_cannot_encode_is_kept_with_a_replacement(service: Service, settings: Settings) -> None:
    answered = await service.ask("3加2\ud800是啥", channel="web", user_id="s")
    assert rows(settings.db_path, "SELECT text FROM enquiries WHERE id = ?", answered.enquiry_id) == \
        [{"text": "3加2?是啥"}]


async def test_a_row_the_database_refuses_is_dropped_alone_and_the_writer_goes_on(
        service: Service, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="bot.log.store")
    bad = service.store.submit("staff_reply", {"handoff_id": 1, "enquiry_id": None, "ts": "x", "text": None,
                                               "staff_key": None})
    unknown = service.store.submit("no_such_kind", {"a": 1})
    answered = await service.ask(QUESTION, channel="web", user_id="s")
    assert bad.result(5) is False and unknown.result(5) is False
    assert rows(settings.db_path, "SELECT count(*) AS n FROM enquiries WHERE id = ?", answered.enquiry_id)[0]["n"] == 1
    assert service.store.status() == {"ok": True, "error": None, "backlog": 0, "dropped": 0, "rejected": 2}
    assert "a staff_reply write was refused" in caplog.text and "a no_such_kind write was refused" in caplog.text
    later = await service.ask(OFF_TOPIC, channel="web", user_id="s")
    assert rows(settings.db_path, "SELECT count(*) AS n FROM enquiries WHERE id = ?", later.enquiry_id)[0]["n"] == 1


class Outage:
    """Makes the enquiry database unwritable in one of several ways, then writable again."""

    def __init__(self, kind: str, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.kind, self.path, self.active = kind, path, False
        self.holder: sqlite3.Connection | None = None
        real_connect = store_module.connect

        def patched(p: Path, migrate: bool = True) -> sqlite3.Connection:
            if self.active and kind == "read-only file":
                conn = sqlite3.connect(f"{Path(p).resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False,
                                       isolation_level=None)
                return conn
            if self.active and kind == "disk full":
                raise sqlite3.OperationalError("database or disk is full")
            return real_connect(p, migrate)

        monkeypatch.setattr(store_module, "connect", patched)
        monkeypatch.setattr(store_module, "WRITER_BUSY_MS", 50)
        monkeypatch.setattr(store_module, "RETRY_EVERY", 0.05)

    def start(self) -> None:
        """Begin the outage; the writer connects on its first write, so start it before any write."""
        self.active = True
        if self.kind == "locked":
            self.holder = sqlite3.connect(self.path, isolation_level=None)
            self.holder.execute("BEGIN EXCLUSIVE")

    def stop(self) -> None:
        self.active = False
        if self.holder is not None:
            self.holder.execute("ROLLBACK")
            self.holder.close()
            self.holder = None


@pytest.mark.parametrize("kind", ["locked", "read-only file", "disk full"])
async def test_an_unwritable_database_keeps_answering_and_the_rows_arrive_later(
        kind: str, settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bot.log.store")
    outage = Outage(kind, settings.db_path, monkeypatch)
    service = Service(settings, engine, Store(settings))
    service.start()
    try:
        outage.start()
        answers = []
        for i in range(5):
            started = time.monotonic()
            answered = await service.ask(example(engine, "pathway.3plus2", "zh"), channel="telegram", user_id=i)
            assert (answered.reply.decision, answered.reply.intent) == ("answer", "pathway.3plus2")   # still answered
            assert time.monotonic() - started < 3.0
            answers.append(answered.enquiry_id)
        await until(lambda: service.store.failing is not None and service.store.backlog == len(answers))
        assert service.store.status()["ok"] is False
        assert "ENQUIRY LOG UNWRITABLE" in caplog.text
        missing = rows(settings.db_path, "SELECT id FROM enquiries WHERE id IN (?, ?, ?, ?, ?)", *answers)
        assert missing == []
        outage.stop()
        await until(lambda: service.store.backlog == 0 and service.store.failing is None)
        assert "enquiry log writable again" in caplog.text
        stored = {r["id"] for r in rows(settings.db_path, "SELECT id FROM enquiries")}
        assert stored == set(answers)
        assert summaries_match(settings.db_path)
    finally:
        outage.stop()
        service.close()


async def test_the_memory_queue_is_bounded_and_counts_what_it_drops(settings: Settings, engine: Engine,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="bot.log.store")
    monkeypatch.setattr(store_module, "PENDING_LIMIT", 5)
    outage = Outage("locked", settings.db_path, monkeypatch)
    store = Store(settings)
    store.start()
    reply = engine.ask(QUESTION)
    try:
        outage.start()
        records = [EnquiryRecord.from_reply(reply, "web", f"k{i}") for i in range(8)]
        for record in records:
            store.submit("enquiry", dataclasses.asdict(record)).result(10)
        assert store.dropped == 3
        assert "memory queue full, 1 oldest writes dropped" in caplog.text
        outage.stop()
        await until(lambda: store.backlog == 0 and store.failing is None)
    finally:
        outage.stop()
        store.close()
    assert {r["id"] for r in rows(settings.db_path, "SELECT id FROM enquiries")} == {r.id for r in records[3:]}


# ---- SIGKILL in the middle of a burst -----------------------------------------------------------------
async def _when(predicate: Callable[[], bool], event: asyncio.Event) -> None:
    while not predicate():
        await asyncio.sleep(0.005)
    event.set()


def _vocbot() -> list[str]:
    script = Path(sys.executable).with_name("vocbot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


@pytest.mark.slow
async def test_sigkill_in_a_burst_loses_no_answered_question(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    env = {**os.environ, "VOCBOT_DB": str(db), "VOCBOT_HASH_KEY": "k", "PYTHONUNBUFFERED": "1",
           "VOCBOT_RATE_PER_MINUTE": "100000", "VOCBOT_ADDRESS_RATE_PER_MINUTE": "0"}
    for name in ("TELEGRAM_BOT_TOKEN", "VOCBOT_STAFF_PASSWORD"):
        env.pop(name, None)
    proc = await asyncio.create_subprocess_exec(*_vocbot(), "serve", "--port", "0", env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    answered: list[str] = []
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        match = re.search(r"open (http://127\.0\.0\.1:\d+/)", line)
        assert match, line
        url = match.group(1) + "api/chat"
        questions = [QUESTION, "what is 3+2", "职高毕业能读大专吗", "企业投资职业教育能抵税吗", OFF_TOPIC]
        enough = asyncio.Event()

        async def worker(n: int, session: aiohttp.ClientSession) -> None:
            for i in range(10_000):
                body = {"text": questions[(n + i) % len(questions)], "session": f"w{n}-{i}"}
                try:
                    async with session.post(url, json=body) as response:
                        assert response.status == 200
                        data = await response.json()
                except (aiohttp.ClientError, TimeoutError):
                    return                                   # the server is gone: this reply never went out
                answered.append(data["enquiry_id"])
                if len(answered) >= 150:
                    enough.set()

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            workers = [asyncio.create_task(worker(n, session)) for n in range(16)]
            await asyncio.wait_for(enough.wait(), 60)
            # Another writer (say a staff `logs purge`) takes the write lock: commits wait, so must replies.
            locker = sqlite3.connect(db, isolation_level=None, timeout=5)
            locker.execute("BEGIN IMMEDIATE")
            try:
                at_lock = len(answered)
                more = asyncio.Event()
                watch = asyncio.create_task(_when(lambda: len(answered) >= at_lock + 30, more))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(more.wait(), 0.5)   # a logger that does not wait would answer on
                watch.cancel()
                proc.send_signal(signal.SIGKILL)             # in the middle of the burst
            finally:
                locker.execute("ROLLBACK")
                locker.close()
            await asyncio.wait_for(asyncio.gather(*workers), 30)
        assert await asyncio.wait_for(proc.wait(), 30) == -signal.SIGKILL
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    stored = {r["id"] for r in rows(db, "SELECT id FROM enquiries")}
    assert len(answered) >= 150
    assert set(answered) - stored == set()


def test_start_up_warns_when_the_database_is_readable_by_others(settings: Settings,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """Issue 12 row 4: the files are created 0600; one made readable later is named at start-up."""
    Store(settings)
    assert settings.db_path.stat().st_mode & 0o777 == 0o600
    assert "can be read by other users" not in caplog.text
    settings.db_path.chmod(0o644)
    Store(settings)
    assert f"{settings.db_path} can be read by other users of this machine (mode 644)" in caplog.text
