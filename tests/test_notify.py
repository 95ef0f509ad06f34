"""Opt-in notices (bot/notify.py): sealed addresses, sent once the question is answered, never twice."""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from loop_data import INTENT, QUESTION, write_intent

from bot.config import Settings
from bot.core.engine import Engine
from bot.core.reply import Reply
from bot.log import optins
from bot.log.reports import purge
from bot.log.store import Store
from bot.service import Service


@pytest.fixture
async def svc(settings: Settings, tmp_path: Path, trimmed_intents: Path,
              variant_models: Path) -> AsyncIterator[Service]:
    shutil.copytree(trimmed_intents, tmp_path / "intents")
    (tmp_path / "intents" / "learned.yaml").unlink(missing_ok=True)
    configured = dataclasses.replace(settings, intents_dir=tmp_path / "intents", model_dir=variant_models)
    service = Service(configured, Engine.load(configured.intents_dir, configured.content_dir, configured.model_dir),
                      Store(configured))
    service.start()
    yield service
    await service.drain_notices()
    service.close()


class Outbox:
    """A sender that records what it was asked to send (and can fail once claimed)."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, str, str | None]] = []
        self.fail = fail

    async def __call__(self, row: dict[str, Any], reply: Reply, address: str | None) -> None:
        if self.fail:
            raise ConnectionError("the platform is down")
        self.sent.append((row["question"], reply.intent or "", address))


def rows(service: Service) -> list[dict]:
    conn = sqlite3.connect(service.store.path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM optins ORDER BY id")]
    finally:
        conn.close()


async def opted_in(service: Service, user: int = 42) -> str:
    answered = await service.ask(QUESTION, channel="telegram", user_id=user)
    assert answered.reply.decision == "fallback"
    key = service.user_key("telegram", user)
    assert await service.notifier.opt_in(answered.enquiry_id, "telegram", key, QUESTION, "zh", address=str(user * 100))
    return answered.enquiry_id


async def test_the_reply_address_is_kept_only_sealed(svc: Service) -> None:
    await opted_in(svc)
    [row] = rows(svc)
    assert row["reply_to"].startswith("s1:") and "4200" not in row["reply_to"]
    assert svc.store.sealer.open(row["reply_to"], "optin:telegram") == "4200"
    with pytest.raises(Exception, match="cannot be opened"):
        svc.store.sealer.open(row["reply_to"], "optin:wechat")


async def test_opting_in_twice_records_once(svc: Service) -> None:
    enquiry_id = await opted_in(svc)
    assert not await svc.notifier.opt_in(enquiry_id, "telegram", svc.user_key("telegram", 42), QUESTION, "zh", "4200")
    assert len(rows(svc)) == 1


async def test_unanswered_questions_stay_pending_and_answered_ones_are_sent_once(svc: Service) -> None:
    await opted_in(svc)
    outbox = Outbox()
    svc.notifier.register("telegram", outbox)
    assert await svc.notifier.push(svc.engine) == 0
    assert rows(svc)[0]["status"] == "pending" and outbox.sent == []
    write_intent(svc.settings.intents_dir, svc.settings.content_dir, svc.settings.model_dir)
    assert await svc.reload_engine() is None
    await svc.drain_notices()
    assert outbox.sent == [(QUESTION, INTENT, "4200")]
    [row] = rows(svc)
    assert (row["status"], row["intent"], row["reply_to"]) == ("told", INTENT, None)
    assert row["notified_at"]
    assert await svc.notifier.push(svc.engine) == 0 and len(outbox.sent) == 1     # never twice
    assert await svc.reload_engine() is None
    await svc.drain_notices()
    assert len(outbox.sent) == 1


async def test_a_notice_claimed_before_a_crash_is_not_sent_again(svc: Service) -> None:
    await opted_in(svc)
    write_intent(svc.settings.intents_dir, svc.settings.content_dir, svc.settings.model_dir)
    svc.notifier.register("telegram", Outbox(fail=True))     # claimed, then the send dies (as a crash would)
    assert await svc.reload_engine() is None
    await svc.drain_notices()
    assert rows(svc)[0]["status"] == "sending" and rows(svc)[0]["notified_at"]
    assert rows(svc)[0]["reply_to"] is None                   # the claim erased the chat id
    outbox = Outbox()
    svc.notifier.register("telegram", outbox)
    assert await svc.notifier.push(svc.engine) == 0 and outbox.sent == []


async def test_two_pushes_at_once_send_one_notice(svc: Service) -> None:
    import asyncio

    await opted_in(svc)
    write_intent(svc.settings.intents_dir, svc.settings.content_dir, svc.settings.model_dir)
    assert await svc.reload_engine(notify=False) is None
    outbox = Outbox()
    svc.notifier.register("telegram", outbox)
    counts = await asyncio.gather(*(svc.notifier.push(svc.engine) for _ in range(3)))
    assert sum(counts) == 1 and len(outbox.sent) == 1


async def test_withdrawing_erases_the_address_and_nothing_is_sent(svc: Service) -> None:
    await opted_in(svc)
    assert await svc.notifier.withdraw("telegram", svc.user_key("telegram", 42)) == 1
    assert (rows(svc)[0]["status"], rows(svc)[0]["reply_to"]) == ("withdrawn", None)
    write_intent(svc.settings.intents_dir, svc.settings.content_dir, svc.settings.model_dir)
    outbox = Outbox()
    svc.notifier.register("telegram", outbox)
    assert await svc.reload_engine() is None
    await svc.drain_notices()
    assert outbox.sent == []


async def test_pull_channels_collect_once(svc: Service) -> None:
    answered = await svc.ask(QUESTION, channel="web", user_id="session-1")
    key = svc.user_key("web", "session-1")
    await svc.notifier.opt_in(answered.enquiry_id, "web", key, QUESTION, "zh")
    assert await svc.notifier.collect(svc.engine, "web", key) == []
    write_intent(svc.settings.intents_dir, svc.settings.content_dir, svc.settings.model_dir)
    assert await svc.reload_engine() is None
    [notice] = await svc.notifier.collect(svc.engine, "web", key)
    assert (notice.question, notice.reply.intent) == (QUESTION, INTENT)
    assert await svc.notifier.collect(svc.engine, "web", key) == []
    assert await svc.notifier.collect(svc.engine, "web", svc.user_key("web", "another")) == []


async def test_a_failed_publish_keeps_the_engine_and_says_why(svc: Service) -> None:
    old = svc.engine
    (svc.settings.intents_dir / "zz.yaml").write_text("intents: [{id: x}]\n", encoding="utf-8")
    error = await svc.reload_engine()
    assert svc.engine is old and error is not None and "zz.yaml" in error and svc.last_reload_error == error


async def test_retention_purges_opt_ins_with_their_addresses(svc: Service) -> None:
    await opted_in(svc)
    svc.close()
    conn = sqlite3.connect(svc.store.path, isolation_level=None)
    conn.execute("UPDATE optins SET ts = '2000-01-01T00:00:00.000000+00:00'")
    result = purge(conn, 180)
    conn.close()
    assert result["optins"] == 1 and rows(svc) == []
    svc.start()


def test_counts_per_enquiry(settings: Settings) -> None:
    store = Store(settings)
    for status, n in (("pending", 2), ("told", 1), ("sending", 1), ("withdrawn", 1)):
        for i in range(n):
            store.change(lambda c, s=status, i=i: c.execute(
                "INSERT INTO optins (enquiry_id, ts, channel, user_key, question, status) VALUES "
                "('e1', '2026-01-01', 'web', ?, 'q', ?)", [f"{s}{i}", s]))
    assert store.read(optins.counts) == {"e1": {"pending": 2, "told": 2}}
    assert store.read(optins.by_question)[0] | {"last_ts": None} == {"question": "q", "pending": 2, "told": 2,
                                                                      "last_ts": None}


class Refusing:
    """A sender whose platform answers with a definite refusal (or a dead address)."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    async def __call__(self, row: dict[str, Any], reply: Reply, address: str | None) -> None:
        self.calls += 1
        raise self.error


async def test_a_certain_refusal_stays_pending_and_is_sent_at_the_next_push(svc: Service) -> None:
    from bot.notify import NotSent

    await opted_in(svc)
    write_intent(svc.settings.intents_dir, svc.settings.content_dir, svc.settings.model_dir)
    svc.notifier.register("telegram", Refusing(NotSent("502 Bad Gateway")))
    assert await svc.reload_engine() is None
    await svc.drain_notices()
    [row] = rows(svc)
    assert (row["status"], row["notified_at"]) == ("pending", None) and row["reply_to"]
    outbox = Outbox()
    svc.notifier.register("telegram", outbox)
    assert await svc.notifier.push(svc.engine) == 1 and outbox.sent == [(QUESTION, INTENT, "4200")]


async def test_a_dead_address_is_given_up_and_erased(svc: Service) -> None:
    from bot.notify import Undeliverable

    await opted_in(svc)
    write_intent(svc.settings.intents_dir, svc.settings.content_dir, svc.settings.model_dir)
    refusing = Refusing(Undeliverable("Forbidden: bot was blocked by the user"))
    svc.notifier.register("telegram", refusing)
    assert await svc.reload_engine() is None
    await svc.drain_notices()
    assert (rows(svc)[0]["status"], rows(svc)[0]["reply_to"]) == ("unreachable", None)
    assert await svc.notifier.push(svc.engine) == 0 and refusing.calls == 1
