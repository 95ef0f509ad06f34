"""The service every channel calls: one log row per question, stable ids for redelivered events."""

from __future__ import annotations

import asyncio

import sqlite_utils

from bot.service import RateLimiter, Service


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
