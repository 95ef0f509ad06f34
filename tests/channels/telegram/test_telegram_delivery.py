"""Telegram delivery: every update is answered at least once and at most once, through Bot API faults, a crash
mid-batch and restarts; replies lost to a 5xx or a dropped connection are sent again.

The real bot runs against the fake Bot API server; every wait is on a condition with a timeout.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import aiohttp
import pytest
from fake_bot_api import BOT_ID, FakeBotAPI
from telegram_harness import (
    FAST,
    ask,
    bot_settings,
    data_of,
    free_socket,
    logged,
    running_bot,
    running_service,
    shown,
    visible,
)

from bot.channels.telegram.app import SECRET_HEADER, WEBHOOK_PATH
from bot.channels.telegram.delivery import IDLE_RESET
from bot.config import Settings
from bot.core.engine import Engine
from bot.service import Service

QUICK = dataclasses.replace(FAST, poll_timeout=0.5, read_timeout=1, send_retry_delay=0.05, poll_retry_max=0.2)
GREETING = "你好"


def sent(fake: FakeBotAPI, chat: int) -> int:
    """How many messages went into a chat."""
    return len(fake.find("sendMessage", chat_id=chat))


async def until(predicate: Any, timeout: float = 10.0) -> None:
    """Wait (bounded) until the predicate holds, polling it."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


# ---- replies through faults ------------------------------------------------------------------------------
@pytest.mark.parametrize(("fault", "statuses"), [
    ({"status": 500}, [500, 200]),
    ({"status": 500, "times": 2}, [500, 500, 200]),
    ({"status": 502}, [502, 200]),
    ({"drop": True}, [0, 200]),
])
async def test_a_failed_reply_is_sent_again_and_arrives_once(fake: FakeBotAPI, service: Service, engine: Engine,
                                                            fault: dict[str, Any], statuses: list[int]) -> None:
    user = fake.user(2001)
    async with running_bot(service, QUICK):
        fake.fail("sendMessage", **fault)
        reply = await ask(fake, user, GREETING)
        assert visible(reply) == engine.answer_intent("smalltalk.greeting", "zh").answer
        await until(lambda: not fake.updates)           # handled, then confirmed
        assert [c.status for c in fake.find("sendMessage", ok=None)] == statuses
        assert sent(fake, 2001) == 1
        assert len(await logged(service, "SELECT id FROM enquiries")) == 1
    assert fake.client_errors() == []


async def test_a_reply_failing_every_attempt_is_given_up_after_three(fake: FakeBotAPI, service: Service,
                                                                    engine: Engine) -> None:
    user = fake.user(2002)
    async with running_bot(service, QUICK):
        fake.fail("sendMessage", status=500, times=QUICK.send_attempts + 1)   # the answer and the error note
        mark = fake.mark()
        fake.say(user, GREETING)
        await fake.wait_for(lambda: len(fake.find("sendMessage", since=mark, ok=None)) >= 5)
        await until(lambda: not fake.updates)           # a failed update is still confirmed: no endless retry
        calls = fake.find("sendMessage", since=mark, ok=None)
        assert [c.status for c in calls] == [500, 500, 500, 500, 200]
        assert visible(calls[-1]) == engine.content.message("error", "zh")


# ---- getUpdates through faults ---------------------------------------------------------------------------
@pytest.mark.parametrize("fault", [{"hang": True}, {"drop": True, "times": 3}, {"status": 500, "times": 3},
                                   {"status": 429, "retry_after": 1}])
async def test_polling_survives_get_updates_faults(fake: FakeBotAPI, service: Service, engine: Engine,
                                                   fault: dict[str, Any]) -> None:
    user = fake.user(2003)
    async with running_bot(service, QUICK):
        fake.fail("getUpdates", **fault)
        await fake.wait_for(lambda: [c for c in fake.calls if c.params.get("_fault")])
        reply = await ask(fake, user, GREETING)
        assert visible(reply) == engine.answer_intent("smalltalk.greeting", "zh").answer
        assert sent(fake, 2003) == 1
    assert fake.client_errors() == []


# ---- a crash in the middle of a batch --------------------------------------------------------------------
async def test_a_crash_mid_batch_redelivers_what_was_unhandled_and_answers_nothing_twice(
        settings: Settings, engine: Engine, fake: FakeBotAPI) -> None:
    configured = bot_settings(settings, fake)
    first, second, third = fake.user(2011), fake.user(2012), fake.user(2013)
    async with running_service(configured, engine) as service:
        async with running_bot(service, QUICK) as bot:
            await ask(fake, first, GREETING)
            fake.fail("sendMessage", hang=True)               # the second user's answer is stuck in flight
            stuck = fake.say(second, "3加2是啥子意思")
            await fake.wait_for(lambda: fake.find("sendMessage", ok=None, chat_id=2012))
            await ask(fake, third, GREETING)                   # answered while the second is stuck
            third_id = max(u["update_id"] for u in fake.updates)
            await until(lambda: service.store.handled_updates(BOT_ID, [third_id]))
            # The crash: everything in flight dies without finishing or confirming.
            assert bot.poll_task is not None
            bot.poll_task.cancel()
            in_flight = list(bot.delivery.inflight.values())
            for task in in_flight:
                task.cancel()
            await asyncio.gather(bot.poll_task, *in_flight, return_exceptions=True)
        unconfirmed = [u["update_id"] for u in fake.updates]
        assert unconfirmed[-1] == third_id and len(unconfirmed) >= 2    # the stuck one and the one after it
        assert (sent(fake, 2011), sent(fake, 2012), sent(fake, 2013)) == (1, 0, 1)

        async with running_bot(service, QUICK) as bot:
            reply = await fake.reply_to(stuck, since=0)
            assert visible(reply) == shown(engine, "3加2是啥子意思")
            await until(lambda: not fake.updates)
            assert bot.delivery.skipped >= 1                  # the third user's update, handled before the crash
        assert (sent(fake, 2011), sent(fake, 2012), sent(fake, 2013)) == (1, 1, 1)
    assert fake.client_errors() == []


async def test_an_update_is_recorded_when_its_answer_is_accepted_so_a_crash_after_it_repeats_nothing(
        settings: Settings, engine: Engine, fake: FakeBotAPI) -> None:
    # A follow-up button: the answer (sendMessage) is accepted, then answering the button press hangs and
    # the process dies. The update comes again after the restart; the user must not get the answer twice.
    configured = bot_settings(settings, fake)
    user = fake.user(2015)
    async with running_service(configured, engine) as service:
        async with running_bot(service, QUICK) as bot:
            reply = await ask(fake, user, "3加2是啥子意思")
            follow_up = next(data for data in data_of(reply) if data.startswith("i:"))
            fake.fail("answerCallbackQuery", hang=True)
            mark = fake.mark()
            fake.press(user, fake.sent_message(reply), follow_up)
            await fake.wait_for(lambda: fake.find("answerCallbackQuery", since=mark, ok=None))
            pressed = max(u["update_id"] for u in fake.updates)
            assert len(fake.find("sendMessage", since=mark, chat_id=2015)) == 1
            # Recorded although the handler has not finished (the commit is the writer thread's: wait for it).
            await until(lambda: service.store.handled_updates(BOT_ID, [pressed]) == {pressed})
            assert not bot.delivery.inflight[pressed].done()
            assert bot.poll_task is not None
            bot.poll_task.cancel()                                  # the crash
            in_flight = list(bot.delivery.inflight.values())
            for task in in_flight:
                task.cancel()
            await asyncio.gather(bot.poll_task, *in_flight, return_exceptions=True)
        assert pressed in [u["update_id"] for u in fake.updates]    # never confirmed: Telegram sends it again
        async with running_bot(service, QUICK) as bot:
            await until(lambda: not fake.updates)
            assert bot.delivery.skipped == 1
        assert len(fake.find("sendMessage", since=mark, chat_id=2015)) == 1
    assert fake.client_errors() == []


async def test_updates_in_flight_at_a_clean_stop_are_finished_and_confirmed(fake: FakeBotAPI, service: Service,
                                                                           engine: Engine) -> None:
    users = [fake.user(2020 + n) for n in range(5)]
    async with running_bot(service, QUICK):
        fake.fail("sendMessage", status=500, times=2)          # keeps the first answers busy with retries
        for user in users:
            fake.say(user, GREETING)
        await fake.wait_for(lambda: fake.find("sendMessage", ok=False))
    assert [sent(fake, user["id"]) for user in users] == [1] * 5
    assert not fake.updates


# ---- update ids that start afresh -------------------------------------------------------------------------
async def test_update_ids_started_afresh_at_a_lower_value_are_followed(fake: FakeBotAPI, service: Service,
                                                                    engine: Engine) -> None:
    user = fake.user(2040)
    greeting = engine.answer_intent("smalltalk.greeting", "zh").answer
    fake.restart_update_ids(5_000)
    async with running_bot(service, QUICK) as bot:
        assert visible(await ask(fake, user, GREETING)) == greeting
        await until(lambda: not fake.updates)
        fake.restart_update_ids(17)                   # a week without updates: Telegram picks a new start
        for _ in range(2):
            assert visible(await ask(fake, user, GREETING)) == greeting
        await until(lambda: not fake.updates)         # the new ids are confirmed too
        assert bot.delivery.next_id == 19
    assert sent(fake, 2040) == 3
    assert fake.client_errors() == []


async def test_after_six_idle_days_the_poller_asks_without_an_offset(fake: FakeBotAPI, service: Service,
                                                                    engine: Engine) -> None:
    user = fake.user(2041)
    shift = [0.0]
    async with running_bot(service, QUICK) as bot:
        bot.delivery.clock = lambda: time.monotonic() + shift[0]
        await ask(fake, user, GREETING)
        await until(lambda: not fake.updates)
        mark = fake.mark()
        await fake.wait_for(lambda: fake.find("getUpdates", since=mark, ok=None))
        assert all(c.params.get("offset") for c in fake.find("getUpdates", since=mark, ok=None))
        shift[0] = IDLE_RESET + 60
        mark = fake.mark()          # a poll sent just before the shift may still carry its offset: wait for one
        await fake.wait_for(lambda: [c for c in fake.find("getUpdates", since=mark, ok=None)
                                     if "offset" not in c.params])
        fake.restart_update_ids(3)
        assert visible(await ask(fake, user, GREETING)) == engine.answer_intent("smalltalk.greeting", "zh").answer
        await until(lambda: not fake.updates)
    assert sent(fake, 2041) == 2


# ---- webhook ------------------------------------------------------------------------------------------------
async def test_the_webhook_answers_200_only_after_handling_and_skips_a_redelivery(
        settings: Settings, engine: Engine, fake: FakeBotAPI) -> None:
    sock = free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}{WEBHOOK_PATH}"
    configured = bot_settings(settings, fake, webhook_url=url, webhook_secret="s3cret")
    user = fake.user(2030)
    update = {"update_id": 777, "message": {"message_id": 1, "date": 0, "chat": {"id": 2030, "type": "private"},
                                            "from": user, "text": GREETING}}
    async with running_service(configured, engine) as service, running_bot(service, QUICK, sock=sock):
        async with aiohttp.ClientSession() as http:
            for _ in range(2):          # Telegram redelivers when it did not see the 200 in time
                async with http.post(url, json=update, headers={SECRET_HEADER: "s3cret"}) as response:
                    assert response.status == 200
                    assert sent(fake, 2030) == 1                  # the answer went out before the 200
        assert service.store.handled_updates(BOT_ID, [777]) == {777}
    assert fake.client_errors() == []
