"""Staff in Telegram: the handoff to the staff chat and back, and /stats /unanswered /export /reload for admins
only (refused for everyone else)."""

from __future__ import annotations

import csv
import html
import io
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fake_bot_api import BOT_USERNAME, FakeBotAPI
from telegram_harness import (
    ADMIN,
    FALLBACK_POOL,
    answered,
    ask,
    bot_settings,
    data_of,
    logged,
    pick,
    press,
    rows,
    running_bot,
    running_service,
    visible,
)

from bot.config import ROOT, Settings
from bot.core.engine import Engine
from bot.service import Service

STAFF_CHAT = -100555
COMMANDS = ("/stats", "/unanswered", "/export", "/reload")


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    """The fake Bot API server."""
    async with FakeBotAPI() as server:
        server.group(STAFF_CHAT, "Staff")
        yield server


@pytest.fixture
def intents_dir(tmp_path: Path) -> Path:
    """A copy of the shipped intents that a test may break."""
    return Path(shutil.copytree(ROOT / "intents", tmp_path / "intents"))


@pytest.fixture
async def service(settings: Settings, engine: Engine, fake: FakeBotAPI, intents_dir: Path) -> AsyncIterator[Service]:
    """Telegram with one admin, a staff chat and reloadable intents."""
    configured = bot_settings(settings, fake, admin_ids=frozenset({ADMIN}), staff_chat_id=STAFF_CHAT,
                              intents_dir=intents_dir)
    async with running_service(configured, engine) as svc:
        yield svc


@pytest.fixture
async def bot(service: Service, fake: FakeBotAPI) -> AsyncIterator[object]:
    """The running bot."""
    async with running_bot(service) as running:
        yield running
    assert fake.client_errors() == []


async def some_traffic(fake: FakeBotAPI, engine: Engine) -> str:
    """An answered question with 👍 and a fallback; returns the fallback question."""
    user = fake.user(2001)
    answer = await ask(fake, user, "3加2是啥子意思")
    plus = next(b["callback_data"] for row in fake.sent_message(answer)["reply_markup"]["inline_keyboard"]
                for b in row if b["callback_data"].startswith("f:+"))
    await press(fake, user, answer, plus, method="editMessageReplyMarkup")
    question = pick(engine, "fallback", FALLBACK_POOL)
    await ask(fake, user, question)
    return question


# ---- refused ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", COMMANDS)
async def test_anyone_else_gets_a_plain_refusal(fake: FakeBotAPI, bot: object, engine: Engine, command: str) -> None:
    await some_traffic(fake, engine)
    mark = fake.mark()
    reply = await ask(fake, fake.user(2002), command)
    assert visible(reply) == engine.content.message("not_allowed", "zh")
    assert len(fake.find(since=mark, ok=None, chat_id=2002)) == 1
    assert fake.find("sendDocument") == []


@pytest.mark.parametrize("command", COMMANDS)
async def test_refused_in_groups_even_for_admins(fake: FakeBotAPI, bot: object, engine: Engine, command: str) -> None:
    group = fake.group(-3001, "Parents")
    admin, other = fake.user(ADMIN), fake.user(2003)
    refused = await ask(fake, other, f"{command}@{BOT_USERNAME}", chat=group)
    assert visible(refused) == engine.content.message("not_allowed", "zh")
    private_only = await ask(fake, admin, command, chat=group)
    assert visible(private_only) == engine.content.message("tg_admin_private", "zh")
    assert fake.find("sendDocument") == []


@pytest.mark.parametrize("sender", [2004, ADMIN])
async def test_edited_commands_are_ignored(fake: FakeBotAPI, bot: object, engine: Engine, sender: int) -> None:
    user = fake.user(sender)
    mark = fake.mark()
    message = fake.say(user, "你好")
    await fake.reply_to(message, since=mark)
    mark = fake.mark()
    fake.edit(message, "/export")
    probe = await ask(fake, user, "/help")             # handled after the edit, in order
    assert visible(probe) == engine.content.message("help", "zh")
    assert len(fake.find("sendMessage", since=mark)) == 1
    assert fake.find("sendDocument") == []


# ---- allowed ----------------------------------------------------------------------------------------
async def test_stats(fake: FakeBotAPI, bot: object, engine: Engine) -> None:
    await some_traffic(fake, engine)
    reply = await ask(fake, fake.user(ADMIN), "/stats")
    title = engine.title("pathway.3plus2", "zh")
    assert visible(reply) == engine.content.message("tg_stats", "zh", today=2, week=2, total=2, fallback_rate="50%",
                                                 up=1, down=0, top=f"· {title} (pathway.3plus2) × 1")


async def test_stats_in_the_staff_chat(fake: FakeBotAPI, bot: object, engine: Engine) -> None:
    staff_chat = fake.chats[STAFF_CHAT]
    reply = await ask(fake, fake.user(ADMIN), "/stats", chat=staff_chat)
    assert visible(reply) == engine.content.message("tg_stats", "zh", today=0, week=0, total=0, fallback_rate="—",
                                                 up=0, down=0, top=engine.content.message("tg_stats_none", "zh"))


async def test_unanswered_lists_recent_fallbacks(fake: FakeBotAPI, bot: object, engine: Engine) -> None:
    admin = fake.user(ADMIN)
    assert visible(await ask(fake, admin, "/unanswered")) == engine.content.message("tg_unanswered_empty", "zh")
    question = await some_traffic(fake, engine)
    listing = visible(await ask(fake, admin, "/unanswered"))
    assert listing.startswith(engine.content.message("tg_unanswered_header", "zh"))
    assert f"• {question} ×1 (fallback 1, clarify 0, 👎 0)" in listing


async def test_export_sends_the_log_as_csv(fake: FakeBotAPI, bot: object, engine: Engine, service: Service) -> None:
    question = await some_traffic(fake, engine)
    mark = fake.mark()
    fake.say(fake.user(ADMIN), "/export")
    sent = await fake.wait_call("sendDocument", since=mark, chat_id=ADMIN)
    assert sent.params["document_filename"].startswith("vocbot-enquiries-")
    assert sent.params["document_filename"].endswith(".csv")
    assert sent.result["caption"] == engine.content.message("tg_export_caption", "zh")
    table = list(csv.DictReader(io.StringIO(sent.files["document"].decode("utf-8-sig"))))
    assert [(r["text"], r["decision"], r["feedback"]) for r in table] == \
        [("3加2是啥子意思", "answer", "1"), (question, "fallback", "")]
    assert {r["user_key"] for r in table} == {service.user_key("telegram", 2001)}


async def test_reload_reports_success(fake: FakeBotAPI, bot: object, engine: Engine, service: Service) -> None:
    reply = await ask(fake, fake.user(ADMIN), "/reload")
    assert visible(reply) == engine.content.message("tg_reload_ok", "zh", count=len(service.engine.intents),
                                                 version=service.engine.version)
    assert service.engine is not engine


async def test_reload_with_a_broken_file_keeps_the_old_intents(fake: FakeBotAPI, bot: object, engine: Engine,
                                                              service: Service, intents_dir: Path) -> None:
    broken = sorted(p for p in intents_dir.glob("*.yaml") if p.name not in ("synonyms.yaml", "matching.yaml"))[0]
    broken.write_text("intents:\n  - id: [unclosed\n", encoding="utf-8")
    reply = await ask(fake, fake.user(ADMIN), "/reload")
    assert visible(reply).startswith(engine.content.message("tg_reload_failed", "zh", version=engine.version,
                                                         error="")[:20])
    assert broken.name in visible(reply)
    assert service.engine is engine
    answer = await ask(fake, fake.user(2005), "3加2是啥子意思")
    expected = engine.ask("3加2是啥子意思")
    assert visible(answer).endswith(expected.answer) and expected.general in visible(answer)
    assert await logged(service, "SELECT intent FROM enquiries") == [{"intent": "pathway.3plus2"}]

# ---- handoff to the staff chat and back ------------------------------------------------------------
async def test_staff_handoff_both_ways(settings: Settings, engine: Engine, fake: FakeBotAPI) -> None:
    staff_chat = fake.group(STAFF_CHAT, "Staff")
    staff = fake.user(5001, "Staffer")
    configured = bot_settings(settings, fake, staff_chat_id=STAFF_CHAT)
    question = pick(engine, "fallback", FALLBACK_POOL)
    user = fake.user(1021)
    async with running_service(configured, engine) as service, running_bot(service):
        reply = await ask(fake, user, question)
        [eid] = [r["id"] for r in await logged(service, "SELECT id FROM enquiries")]
        mark = fake.mark()
        query = fake.press(user, fake.sent_message(reply), f"h:{eid}")
        forwarded = await fake.wait_call("sendMessage", since=mark, chat_id=STAFF_CHAT)
        key = service.user_key("telegram", 1021)
        assert visible(forwarded) == engine.content.message("tg_handoff_staff", "zh", user=key, language="zh",
                                                            enquiry=eid, question=question)
        assert "1021" not in visible(forwarded) and "Tester" not in visible(forwarded)
        told = await fake.wait_call("sendMessage", since=mark, chat_id=1021)
        assert visible(told) == engine.content.message("staff_forwarded", "zh")
        await answered(fake, query)
        [handoff] = await logged(service, "SELECT * FROM handoffs")
        assert (handoff["enquiry_id"], handoff["user_key"], handoff["staff_message_id"], handoff["status"]) == \
            (eid, key, str(forwarded.result["message_id"]), "open")
        # Issue 12 row 3: the chat id (here the user's id) is kept only sealed, never in clear beside the pseudonym.
        assert handoff["reply_to"].startswith("s1:") and "1021" not in handoff["reply_to"]
        assert service.store.reply_address(handoff) == "1021"
        await fake.wait_call("editMessageReplyMarkup", since=mark)     # the contact button is gone
        left = fake.sent_message(reply).get("reply_markup", {}).get("inline_keyboard", [])
        assert f"h:{eid}" not in [b["callback_data"] for row in left for b in row]
        # staff chatter is ignored; a reply to the handoff message reaches the user
        mark = fake.mark()
        fake.say(staff, "who is on duty today?", chat=staff_chat)
        fake.say(staff, "<b>Hello</b> & welcome: 请联系区教委", chat=staff_chat,
                 reply_to=fake.sent_message(forwarded))
        delivered = await fake.wait_call("sendMessage", since=mark, chat_id=1021)
        assert visible(delivered) == engine.content.message("staff_reply", "zh") + \
            "\n\n<b>Hello</b> & welcome: 请联系区教委"
        confirm = await fake.wait_call("sendMessage", since=mark, chat_id=STAFF_CHAT)
        assert visible(confirm) == engine.content.message("tg_staff_delivered", "zh")
        assert len(fake.find("sendMessage", since=mark)) == 2          # the chatter got no answer
        [reply_row] = await logged(service, "SELECT * FROM staff_replies")
        assert (reply_row["handoff_id"], reply_row["enquiry_id"], reply_row["text"], reply_row["staff_key"]) == \
            (handoff["id"], eid, "<b>Hello</b> & welcome: 请联系区教委", service.user_key("telegram", 5001))
        # The address is deleted once used: a second staff reply is not delivered and staff are told why.
        assert rows(service, "SELECT status, reply_to FROM handoffs") == [{"status": "answered", "reply_to": None}]
        assert len(fake.find("sendMessage", chat_id=STAFF_CHAT)) == 2       # one handoff, one confirmation
        mark = fake.mark()
        fake.say(staff, "one more thing", chat=staff_chat, reply_to=fake.sent_message(forwarded))
        gone = await fake.wait_call("sendMessage", since=mark, chat_id=STAFF_CHAT)
        assert visible(gone) == engine.content.message("tg_staff_address_gone", "zh")
        assert fake.find("sendMessage", since=mark, chat_id=1021) == []
    assert fake.client_errors() == []


async def test_only_the_asker_can_hand_a_question_to_staff(fake: FakeBotAPI, bot: object, engine: Engine,
                                                          service: Service) -> None:
    asker, other = fake.user(1022), fake.user(1023)
    reply = await ask(fake, asker, pick(engine, "fallback", FALLBACK_POOL))
    [eid] = [r["id"] for r in await logged(service, "SELECT id FROM enquiries")]
    query = fake.press(other, fake.sent_message(reply), f"h:{eid}")
    await answered(fake, query)
    assert fake.callback_queries[query]["text"] == engine.content.message("tg_handoff_not_yours", "zh")


async def test_a_question_full_of_markup_is_echoed_safely_to_staff(settings: Settings, engine: Engine,
                                                                  fake: FakeBotAPI) -> None:
    fake.group(STAFF_CHAT, "Staff")
    question = "<b>天气</b> & <script>alert('x')</script> &amp; <i>怎么样</i> < > &"
    user = fake.user(1024)
    async with running_service(bot_settings(settings, fake, staff_chat_id=STAFF_CHAT), engine) as service, \
            running_bot(service):
        reply = await ask(fake, user, question)
        eid = (await logged(service, "SELECT id FROM enquiries"))[0]["id"]
        contact = next(d for d in data_of(reply) if d.startswith("h:"))
        assert contact == f"h:{eid}"
        mark = fake.mark()
        fake.press(user, fake.sent_message(reply), contact)
        forwarded = await fake.wait_call("sendMessage", since=mark, chat_id=STAFF_CHAT)
        assert question in visible(forwarded)
        assert html.escape(question, quote=False) in forwarded.params["text"]
    assert fake.client_errors() == []


async def test_a_10000_character_question(settings: Settings, engine: Engine, fake: FakeBotAPI) -> None:
    fake.group(STAFF_CHAT, "Staff")
    question = ("请问职业教育补贴怎么申请？" * 800)[:10_000]
    user = fake.user(1025)
    async with running_service(bot_settings(settings, fake, staff_chat_id=STAFF_CHAT), engine) as service, \
            running_bot(service):
        reply = await ask(fake, user, question)
        [row] = await logged(service, "SELECT id, text, text_length, truncated FROM enquiries")
        # Issue 12 row 7: the log keeps the first 2,000 characters, the full length and a flag.
        assert (row["text"], row["text_length"], row["truncated"]) == (question[:2000], 10_000, 1)
        contact = f"h:{row['id']}"
        if contact not in data_of(reply):                     # an answer: 👎 first, then contact staff
            await press(fake, user, reply, f"f:-:{row['id']}", method="editMessageReplyMarkup")
        mark = fake.mark()
        fake.press(user, fake.sent_message(reply), contact)
        forwarded = await fake.wait_call("sendMessage", since=mark, chat_id=STAFF_CHAT)
        assert len(visible(forwarded)) <= 4096
        assert engine.content.message("tg_handoff_truncated", "zh", chars=10_000) in visible(forwarded)
    assert fake.client_errors() == []
