"""The service every channel calls: one log row per question, stable ids for redelivered events."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlite_utils

from bot.errors import NotYours, UnknownEnquiry
from bot.service import RateLimiter, Service, Topics


async def _rows(service: Service) -> list[dict]:
    service.store.close()          # drain the writer, then read what was committed
    rows = list(sqlite_utils.Database(service.store.path).query("select id, channel, text, intent from enquiries"))
    service.store.start()
    return rows


async def test_each_question_gets_one_row_before_the_reply(service: Service) -> None:
    first = await service.ask("3加2是啥子意思", channel="web", user_id="s1")
    second = await service.ask("北京积分落户怎么办", channel="web", user_id="s1")
    assert first.enquiry_id != second.enquiry_id
    rows = await _rows(service)
    assert [(r["id"], r["intent"]) for r in rows] == [(first.enquiry_id, "pathway.3plus2"), (second.enquiry_id, None)]


async def test_a_redelivered_event_with_the_same_id_logs_once(service: Service) -> None:
    answers = await asyncio.gather(*(service.ask("3加2是啥子意思", channel="telegram", user_id=7,
                                                 enquiry_id="t0000100000000042") for _ in range(3)))
    assert {a.enquiry_id for a in answers} == {"t0000100000000042"}
    assert len(await _rows(service)) == 1


def test_rate_limiter_window() -> None:
    limiter = RateLimiter(limit=2, window=60)
    assert [limiter.allow("u", now=t) for t in (0, 1, 2)] == [True, True, False]
    assert limiter.allow("other", now=2)
    assert limiter.allow("u", now=61.5)


async def test_a_topicless_follow_up_asks_about_the_users_last_answer(service: Service) -> None:
    await service.ask("我40岁了想去职校参加技能培训", channel="web", user_id="a")
    assert (await service.ask("要钱不", channel="web", user_id="a")).reply.intent == "subsidy.training"
    assert (await service.ask("要钱不", channel="web", user_id="b")).reply.intent == "subsidy.tuition"   # no topic
    await service.ask("北京积分落户怎么办", channel="web", user_id="a")        # a fallback forgets the topic
    assert (await service.ask("要钱不", channel="web", user_id="a")).reply.intent == "subsidy.tuition"
    await service.choose("enterprise.certification", channel="web", user_id="a", lang="zh")   # so does a button
    follow = (await service.ask("怎么申请", channel="web", user_id="a")).reply
    assert follow.intent == "enterprise.certification" and follow.extra["silent"] == ["procedure"]


def test_topics_are_kept_per_user_for_a_window() -> None:
    topics = Topics(window=60, max_keys=2)
    topics.note("u", "pathway.3plus2", now=0)
    assert (topics.get("u", now=60), topics.get("u", now=61), topics.get("v", now=0)) == ("pathway.3plus2", None, None)
    topics.note("u", None)
    assert topics.get("u", now=1) is None
    for n, key in enumerate("abc"):
        topics.note(key, "pathway.3plus2", now=n)
    assert topics.get("c", now=3) == "pathway.3plus2" and len(topics._last) <= 2


# ---- issue 12 rows 7 and 11 ---------------------------------------------------------------------------
async def test_only_the_first_2000_characters_are_matched_and_stored(service: Service) -> None:
    question = "3加2是啥子意思" + "。" * 3000
    answered = await service.ask(question, channel="web", user_id="s1")
    assert answered.reply.question == question[:2000]
    service.store.close()
    [row] = list(sqlite_utils.Database(service.store.path).query("select text, text_length, truncated from enquiries"))
    service.store.start()
    assert row == {"text": question[:2000], "text_length": 3008, "truncated": 1}


async def test_feedback_counts_only_from_the_user_who_asked(service: Service) -> None:
    asked = await service.ask("3加2是啥子意思", channel="telegram", user_id=7)
    with pytest.raises(NotYours):
        await service.feedback(asked.enquiry_id, -1, channel="telegram", user_id=8)
    with pytest.raises(NotYours):
        await service.feedback(asked.enquiry_id, -1, channel="web", user_id=7)
    with pytest.raises(UnknownEnquiry):
        await service.feedback("0000000000000000", -1, channel="telegram", user_id=7)
    assert await service.feedback(asked.enquiry_id, 1, channel="telegram", user_id=7)


def test_sessions_are_minted_and_signed(service: Service) -> None:
    minted = service.mint_session()
    assert service.session_valid(minted) and minted != service.mint_session()
    token, _, signature = minted.rpartition(".")
    for forged in (token, f"{token}.", f"{token}.{'a' * len(signature)}", f"x{token}.{signature}", "s-1", ""):
        assert not service.session_valid(forged)


def _own_intents(service: Service, tmp_path, models: Path | None = None) -> None:
    """A private copy of the shipped intents; a test that changes it fits into `models` (shipped_copy_models)."""
    import dataclasses
    import shutil

    from bot.config import ROOT

    shutil.copytree(ROOT / "intents", tmp_path / "intents")
    service.settings = dataclasses.replace(service.settings, intents_dir=tmp_path / "intents",
                                           model_dir=models or service.settings.model_dir)


async def test_reload_retrains_in_the_background_and_swaps_whole(service: Service, tmp_path,
                                                                shipped_copy_models: Path) -> None:
    _own_intents(service, tmp_path, shipped_copy_models)
    old = service.engine
    (tmp_path / "intents" / "learned.yaml").write_text(
        "examples:\n  cert.credit_bank:\n    zh: [学分存折咋个开户]\n", encoding="utf-8")
    future = service.reload()
    assert old.ask("3加2是啥子意思").intent == "pathway.3plus2"   # the old engine answers meanwhile
    assert await asyncio.wrap_future(future) is None
    assert service.engine is not old and service.engine.version != old.version
    assert service.engine.model.key != old.model.key
    assert service.engine.ask("学分存折咋个开户").intent == "cert.credit_bank"


async def test_failed_reload_keeps_the_old_engine_and_says_why(service: Service, tmp_path) -> None:
    _own_intents(service, tmp_path)
    old = service.engine
    (tmp_path / "intents" / "matching.yaml").write_text("model: {alpha: 0}\n", encoding="utf-8")
    error = await asyncio.wrap_future(service.reload())
    assert error and "fitting the intent model failed" in error
    assert service.engine is old


async def test_concurrent_reloads_end_on_the_newest_files(service: Service, tmp_path) -> None:
    _own_intents(service, tmp_path)
    futures = [service.reload() for _ in range(5)]
    results = await asyncio.gather(*(asyncio.wrap_future(f) for f in futures))
    assert results == [None] * 5 and len({id(f) for f in futures}) <= 2
    assert service.engine.version == service.engine.intent_set.version
