"""What users see in Telegram, end to end: commands, questions, buttons, feedback, groups, inline mode, limits.

The real python-telegram-bot Application talks HTTP to the fake Bot API server; tests wait on conditions.
"""

from __future__ import annotations

import copy
import dataclasses
import html
import shutil
from pathlib import Path

import pytest
from fake_bot_api import BOT_USERNAME, FakeBotAPI
from telegram_harness import (
    FALLBACK_POOL,
    FAST,
    answered,
    ask,
    bot_settings,
    buttons,
    data_of,
    logged,
    pick,
    press,
    rows,
    running_bot,
    running_service,
    shown,
    visible,
)

from bot.channels.telegram.addressing import update_enquiry_id
from bot.config import ROOT, Settings
from bot.core.engine import Engine
from bot.log.store import Store
from bot.service import Service

STAFF_CHAT = -100777


# ---- commands and language -----------------------------------------------------------------------
@pytest.mark.parametrize(("language_code", "lang"), [("zh-hans", "zh"), ("en", "en"), ("ru", "en"), (None, "zh")])
async def test_start_welcomes_in_the_users_language_with_the_audience_choice(
        fake: FakeBotAPI, bot: object, engine: Engine, language_code: str | None, lang: str) -> None:
    user = fake.user(1001, language_code=language_code)
    reply = await ask(fake, user, "/start")
    assert visible(reply).startswith(engine.content.message("welcome", lang).split("\n")[0])
    assert data_of(reply) == [f"a:{a}" for a in engine.menu.audiences] + ["r:"]   # and the route finder
    assert [text for text, _ in buttons(reply)] == [a.title[lang] for a in engine.menu.audiences.values()] + \
        ["🧭 " + engine.content.message("route_button", lang)]


async def test_audience_choice_survives_a_restart(settings: Settings, engine: Engine, fake: FakeBotAPI) -> None:
    configured = bot_settings(settings, fake)
    user = fake.user(1002, language_code="zh")
    async with running_service(configured, engine) as service, running_bot(service):
        welcome = await ask(fake, user, "/start")
        topics = await press(fake, user, welcome, "a:enterprise")
        assert visible(topics) == engine.content.message("audience_set", "zh", audience="企业")
        assert [d for d in data_of(topics) if d.startswith("t:")] == \
            [f"t:{t.id}" for t in engine.menu.topics_for("enterprise")]
    async with running_service(configured, engine) as service, running_bot(service):   # a new process
        welcome = await ask(fake, user, "/start")
        assert ("✓ 企业", "a:enterprise") in buttons(welcome)
        menu = await ask(fake, user, "/menu")
        assert [d for d in data_of(menu) if d.startswith("t:")] == \
            [f"t:{t.id}" for t in engine.menu.topics_for("enterprise")]
    assert fake.client_errors() == []


async def test_lang_command_and_buttons_switch_the_interface(fake: FakeBotAPI, bot: object, engine: Engine) -> None:
    user = fake.user(1003, language_code="zh")
    assert visible(await ask(fake, user, "/lang en")) == engine.content.message("lang_set", "en")
    assert visible(await ask(fake, user, "/help")) == engine.content.message("help", "en")
    chooser = await ask(fake, user, "/lang")
    assert data_of(chooser) == ["l:zh", "l:en"]
    assert visible(await press(fake, user, chooser, "l:zh")) == engine.content.message("lang_set", "zh")
    assert visible(await ask(fake, user, "/help")) == engine.content.message("help", "zh")


async def test_about_and_privacy(fake: FakeBotAPI, bot: object, engine: Engine, service: Service) -> None:
    user = fake.user(1004, language_code="en")
    about = visible(await ask(fake, user, "/about"))
    assert "北碚府发〔2020〕44号" in about and "4 September 2020" in about
    assert visible(await ask(fake, user, "/privacy")) == engine.content.message(
        "privacy", "en", days=service.settings.retention_days)
    assert "2020年9月4日" in visible(await ask(fake, fake.user(1005, language_code="zh"), "/about"))


async def test_unknown_command_in_private(fake: FakeBotAPI, bot: object, engine: Engine) -> None:
    reply = await ask(fake, fake.user(1006), "/frobnicate")
    assert visible(reply) == engine.content.message("tg_unknown_command", "zh")




# ---- questions, buttons, feedback ----------------------------------------------------------------
async def test_colloquial_question_is_answered_with_citation_and_buttons(
        fake: FakeBotAPI, bot: object, engine: Engine, service: Service) -> None:
    user = fake.user(1010)
    reply = await ask(fake, user, "3加2是啥子意思")
    assert reply.params["parse_mode"] == "HTML"
    intent = engine.intents["pathway.3plus2"]
    assert visible(reply) == shown(engine, "3加2是啥子意思")
    assert "北碚府发〔2020〕44号" in visible(reply)
    [row] = await logged(service, "SELECT id, decision, intent, channel, user_key, chat_type FROM enquiries")
    assert (row["decision"], row["intent"], row["channel"], row["chat_type"]) == \
        ("answer", "pathway.3plus2", "telegram", "private")
    assert row["user_key"] == service.user_key("telegram", 1010) != "1010"
    eid = row["id"]
    assert data_of(reply) == [f"i:{r}:{eid}" for r in intent.related] + \
        ["o:pathway.3plus2", f"f:+:{eid}", f"f:-:{eid}"]


async def test_a_meaning_question_gets_the_general_block_as_a_labelled_quote(fake: FakeBotAPI, bot: object,
                                                                             engine: Engine) -> None:
    reply = await ask(fake, fake.user(1012), "3加2是啥子意思")
    general = engine.ask("3加2是啥子意思").general
    label = engine.content.message("general_label", "zh")
    assert reply.params["text"].startswith(f"<b>{label}</b>\n<blockquote>{html.escape(general, quote=False)}"
                                           "</blockquote>\n\n")


@pytest.mark.parametrize(("command", "lang", "expected"), [
    ("/glossary", "zh", "术语表"),
    ("/glossary 3+2", "zh", "【3+2】"),
    ("/glossary 学分银行", "en", "credit bank (学分银行)"),
    ("/glossary 火锅", "zh", "术语表里没有“火锅”"),
])
async def test_glossary_command(fake: FakeBotAPI, bot: object, engine: Engine, command: str, lang: str,
                                expected: str) -> None:
    user = fake.user(1013 if lang == "zh" else 1014, language_code=lang)
    reply = await ask(fake, user, command)
    assert expected in visible(reply)
    if command == "/glossary 3+2":
        term = next(t for t in engine.content.glossary if t.term == "3+2")
        label = engine.content.message("general_label", "zh")
        assert f"{label}：{term.general['zh']}" in visible(reply) and term.plan["zh"] in visible(reply)


async def test_follow_up_button_answers_and_logs_the_parent(fake: FakeBotAPI, bot: object, engine: Engine,
                                                           service: Service) -> None:
    user = fake.user(1011)
    first = await ask(fake, user, "3加2是啥子意思")
    follow = engine.intents["pathway.3plus2"].related[0]
    second = await press(fake, user, first, engine.title(follow, "zh"))
    assert visible(second) == engine.answer_intent(follow, "zh").answer
    found = await logged(service, "SELECT id, intent, via, parent_id FROM enquiries ORDER BY ts", count=2)
    assert [(r["intent"], r["via"]) for r in found] == [("pathway.3plus2", "text"), (follow, "button")]
    assert found[1]["parent_id"] == found[0]["id"]


async def test_original_text_button_shows_the_cited_clauses(fake: FakeBotAPI, bot: object, engine: Engine) -> None:
    user = fake.user(1012)
    answer = await ask(fake, user, "3加2是啥子意思")
    mark = fake.mark()
    await press(fake, user, answer, "o:pathway.3plus2")
    source = engine.intents["pathway.3plus2"].source
    shown = await fake.wait_for(lambda: len(found := fake.find("sendMessage", since=mark)) >= len(source) and found)
    for call, cid in zip(shown, source, strict=True):
        clause = engine.clause(cid)
        assert visible(call).startswith(f"{cid} {clause.heading}")
        assert clause.text.split("\n")[0] in visible(call)
        assert "<b>" in call.params["text"]


async def test_clarify_offers_choices_that_answer(settings: Settings, engine: Engine, fake: FakeBotAPI) -> None:
    # An engine that never answers outright, so the question is ambiguous whatever the tuning of the day.
    hesitant = copy.copy(engine)
    hesitant.thresholds = {**engine.thresholds, "answer": 101.0, "lead": 101.0}
    question = "3加2和3加4有啥子区别"
    expected = hesitant.ask(question)
    assert expected.decision == "clarify"
    user = fake.user(1013)
    async with running_service(bot_settings(settings, fake), hesitant) as service, running_bot(service):
        reply = await ask(fake, user, question)
        assert visible(reply) == engine.content.message("clarify", "zh")
        [eid] = [r["id"] for r in await logged(service, "SELECT id FROM enquiries")]
        assert data_of(reply) == [f"i:{c.intent}:{eid}" for c in expected.choices] + [f"h:{eid}"]
        assert [text for text, _ in buttons(reply)][:-1] == [engine.title(c.intent, "zh") for c in expected.choices]
        chosen = expected.choices[-1].intent
        answer = await press(fake, user, reply, f"i:{chosen}:{eid}")
        assert visible(answer) == engine.answer_intent(chosen, "zh").answer
        found = await logged(service, "SELECT decision, intent, via, parent_id FROM enquiries ORDER BY ts", count=2)
        assert [(r["decision"], r["via"], r["parent_id"]) for r in found] == \
            [("clarify", "text", None), ("answer", "button", eid)]


@pytest.mark.parametrize(("button", "value", "notice"), [("f:+", 1, "feedback_thanks"),
                                                         ("f:-", -1, "feedback_sorry")])
async def test_feedback_is_stored_and_the_buttons_change(fake: FakeBotAPI, bot: object, engine: Engine,
                                                        service: Service, button: str, value: int,
                                                        notice: str) -> None:
    user = fake.user(1014)
    answer = await ask(fake, user, "3加2是啥子意思")
    [eid] = [r["id"] for r in await logged(service, "SELECT id FROM enquiries")]
    mark = fake.mark()
    query = fake.press(user, fake.sent_message(answer), f"{button}:{eid}")
    await answered(fake, query)
    assert fake.callback_queries[query]["text"] == engine.content.message(notice, "zh")
    assert [(r["enquiry_id"], r["value"], r["user_key"]) for r in await logged(service, "SELECT * FROM feedback")] == \
        [(eid, value, service.user_key("telegram", 1014))]
    await fake.wait_call("editMessageReplyMarkup", since=mark)
    after = [b.get("callback_data") for row in fake.sent_message(answer)["reply_markup"]["inline_keyboard"]
             for b in row]
    assert not any(d.startswith("f:") for d in after)
    assert (f"h:{eid}" in after) == (value < 0)


@pytest.mark.parametrize("button", ["f:-:{eid}", "f:+:{eid}", "i:pathway.3plus4:{eid}"])
async def test_buttons_of_another_users_answer_are_refused(fake: FakeBotAPI, bot: object, engine: Engine,
                                                           service: Service, button: str) -> None:
    """Issue 12 row 11: a 👎 press carrying another user's enquiry id was recorded."""
    asker, other = fake.user(1031), fake.user(1032)
    answer = await ask(fake, asker, "3加2是啥子意思")
    [eid] = [r["id"] for r in await logged(service, "SELECT id FROM enquiries")]
    mark = fake.mark()
    query = fake.press(other, fake.sent_message(answer), button.format(eid=eid))
    await answered(fake, query)
    assert fake.callback_queries[query]["text"] == engine.content.message("tg_button_not_yours", "zh")
    assert fake.find("sendMessage", since=mark) == [] and fake.find("editMessageReplyMarkup", since=mark) == []
    service.store.close()
    counts = service.store.read(lambda db: list(db.execute(
        "SELECT (SELECT COUNT(*) FROM feedback), (SELECT COUNT(*) FROM enquiries)").fetchone()))
    service.store.start()
    assert counts == [0, 1]


def test_telegram_enquiry_ids_are_keyed_not_sequential(service: Service, settings: Settings) -> None:
    """Issue 12 row 11: ids were `t` + bot id + update id, so the next user's id was the next number."""
    ids = [update_enquiry_id(service, 123456, n) for n in range(1000, 1100)]
    assert all(len(i) == 16 and i.startswith("t") for i in ids) and len(set(ids)) == 100
    assert not any(str(n) in i for n, i in zip(range(1000, 1100), ids, strict=True))
    assert update_enquiry_id(service, 123456, 1000) == ids[0]            # a redelivered update: the same id
    assert len({i[1:3] for i in ids}) > 30                                # no shared, counting prefix
    rekeyed = dataclasses.replace(settings, hash_key="another key")
    other = Service(rekeyed, service.engine, Store(rekeyed))
    assert update_enquiry_id(other, 123456, 1000) != ids[0]              # without the key it cannot be derived


async def test_topic_menu_navigation_edits_in_place(fake: FakeBotAPI, bot: object, engine: Engine) -> None:
    user = fake.user(1015)
    menu = await ask(fake, user, "/menu")
    topic = engine.menu.topics_for(None)[0]
    mark = fake.mark()
    fake.press(user, fake.sent_message(menu), f"t:{topic.id}")
    await fake.wait_call("editMessageText", since=mark)
    shown = fake.sent_message(menu)
    assert shown["text"] == engine.content.message("topic_header", "zh", topic=topic.title["zh"])
    questions = [b["callback_data"] for row in shown["reply_markup"]["inline_keyboard"] for b in row]
    assert questions == [f"i:{i}:" for i in topic.intents] + ["m"]
    answer = await press(fake, user, menu, f"i:{topic.intents[0]}:")
    assert visible(answer) == engine.answer_intent(topic.intents[0], "zh").answer
    mark = fake.mark()
    fake.press(user, fake.sent_message(menu), "m")
    await fake.wait_call("editMessageText", since=mark)
    assert fake.sent_message(menu)["text"] == engine.content.message("menu_header", "zh")
    assert fake.client_errors() == []


async def test_a_forged_or_stale_button_gets_a_polite_notice(fake: FakeBotAPI, bot: object, engine: Engine) -> None:
    user = fake.user(1016)
    menu = await ask(fake, user, "/menu")
    stored = fake.sent_message(menu)
    stored["reply_markup"]["inline_keyboard"].append([{"text": "old", "callback_data": "i:no.such_intent:"}])
    query = fake.press(user, stored, "i:no.such_intent:")
    await answered(fake, query)
    assert fake.callback_queries[query]["text"] == engine.content.message("tg_stale_button", "zh")




# ---- fallback without a staff chat ---------------------------------------------------------------
async def test_fallback_offers_topics_and_contacts_without_a_staff_chat(
        fake: FakeBotAPI, bot: object, engine: Engine, service: Service) -> None:
    question = pick(engine, "fallback", FALLBACK_POOL)
    user = fake.user(1020)
    reply = await ask(fake, user, question)
    assert visible(reply) == engine.content.message("fallback", "zh")
    [eid] = [r["id"] for r in await logged(service, "SELECT id FROM enquiries")]
    assert data_of(reply) == [f"t:{t.id}" for t in engine.menu.topics_for(None)] + [f"h:{eid}", f"n:{eid}"]
    contacts = await press(fake, user, reply, f"h:{eid}")
    assert visible(contacts).startswith(engine.content.message("staff_unavailable", "zh"))
    filled = [d for d in engine.content.departments.values() if d.details()]
    if not filled:
        assert visible(contacts).endswith(engine.content.message("no_contacts", "zh"))
    assert rows(service, "SELECT * FROM handoffs") == []


async def test_contacts_show_only_filled_in_fields(settings: Settings, fake: FakeBotAPI, tmp_path: Path) -> None:
    content = Path(shutil.copytree(ROOT / "content", tmp_path / "content"))
    contacts = content / "contacts.yaml"
    text = contacts.read_text(encoding="utf-8")
    contacts.write_text(text.replace('phone: ""', 'phone: "023-0000-0000"', 1), encoding="utf-8")
    engine = Engine.load(ROOT / "intents", content)
    [filled] = [d for d in engine.content.departments.values() if d.details()]
    user = fake.user(1026)
    async with running_service(bot_settings(settings, fake), engine) as service, running_bot(service):
        reply = await ask(fake, user, pick(engine, "fallback", FALLBACK_POOL))
        [eid] = [r["id"] for r in await logged(service, "SELECT id FROM enquiries")]
        shown = visible(await press(fake, user, reply, f"h:{eid}"))
    contact_lines = engine.content.message("contacts_header", "zh") + f"\n{filled.name['zh']}: 023-0000-0000"
    assert shown == engine.content.message("staff_unavailable", "zh") + "\n\n" + contact_lines




# ---- other input, groups, inline mode, limits, errors --------------------------------------------
@pytest.mark.parametrize("kind", ["sticker", "photo", "voice", "document", "location", "contact"])
async def test_non_text_gets_text_questions_only(fake: FakeBotAPI, bot: object, engine: Engine, kind: str) -> None:
    user = fake.user(1030)
    mark = fake.mark()
    message = fake.send_media(user, kind)
    reply = await fake.reply_to(message, since=mark)
    assert visible(reply) == engine.content.message("non_text", "zh")


async def test_an_edited_question_is_answered_again(fake: FakeBotAPI, bot: object, engine: Engine) -> None:
    user = fake.user(1031)
    mark = fake.mark()
    message = fake.say(user, "今天天气怎么样")
    await fake.reply_to(message, since=mark)
    mark = fake.mark()
    fake.edit(message, "3加2是啥子意思")
    reply = await fake.reply_to(message, since=mark)
    assert visible(reply) == shown(engine, "3加2是啥子意思")


async def test_group_answers_only_commands_mentions_and_replies(fake: FakeBotAPI, bot: object,
                                                               engine: Engine, service: Service) -> None:
    group = fake.group(-2001, "Parents")
    user = fake.user(1040)
    mark = fake.mark()
    fake.say(user, "3加2是啥子意思", chat=group)                 # chatter: ignored
    fake.send_media(user, "sticker", chat=group)                 # ignored
    mention = fake.say(user, f"@{BOT_USERNAME} 3加2是啥子意思", chat=group)
    reply = await fake.reply_to(mention, since=mark)
    assert visible(reply) == shown(engine, "3加2是啥子意思")
    assert reply.params["reply_parameters"]                      # quotes the question in a group
    assert len(fake.find("sendMessage", since=mark)) == 1
    threaded = await ask(fake, user, "3加4呢", chat=group, reply_to=fake.sent_message(reply))
    assert threaded.params["reply_parameters"]
    command = await ask(fake, user, f"/help@{BOT_USERNAME}", chat=group)
    assert visible(command) == engine.content.message("help", "zh")
    mark = fake.mark()
    fake.say(user, "/start@some_other_bot", chat=group)
    fake.say(user, f"@{BOT_USERNAME} 谢谢", chat=group)
    await fake.wait_call("sendMessage", since=mark, chat_id=-2001)
    assert len(fake.find("sendMessage", since=mark)) == 1
    found = await logged(service, "SELECT text, chat_type FROM enquiries ORDER BY ts", count=3)
    assert [r["text"] for r in found] == ["3加2是啥子意思", "3加4呢", "谢谢"]
    assert {r["chat_type"] for r in found} == {"supergroup"}


async def test_inline_mode_offers_matching_answers(fake: FakeBotAPI, bot: object, engine: Engine,
                                                  service: Service) -> None:
    user = fake.user(1050, language_code="zh")
    query = fake.inline(user, "3+2")
    await fake.wait_call("answerInlineQuery", inline_query_id=query)
    results = fake.inline_queries[query]["results"]
    assert results[0]["id"] == "pathway.3plus2"
    assert results[0]["title"] == engine.title("pathway.3plus2", "zh")
    assert results[0]["input_message_content"]["message_text"] == \
        html.escape(engine.answer_intent("pathway.3plus2", "zh").answer, quote=False)
    assert len({r["id"] for r in results}) == len(results) <= 5
    empty = fake.inline(user, "")
    await fake.wait_call("answerInlineQuery", inline_query_id=empty)
    assert fake.inline_queries[empty]["results"] == []
    assert rows(service, "SELECT id FROM enquiries") == []        # previews are not logged as enquiries


async def test_per_user_rate_limit_sends_one_polite_note(settings: Settings, engine: Engine,
                                                        fake: FakeBotAPI) -> None:
    user, other = fake.user(1060), fake.user(1061)
    async with running_service(bot_settings(settings, fake, rate_per_minute=3), engine) as service, \
            running_bot(service):
        for _ in range(3):
            await ask(fake, user, "你好")
        note = await ask(fake, user, "你好")
        assert visible(note) == engine.content.message("rate_limited", "zh")
        mark = fake.mark()
        fake.say(user, "你好")                                      # still limited: no second note
        await ask(fake, other, "你好")                              # others are not affected
        assert fake.find("sendMessage", since=mark, chat_id=1060) == []
        assert len(await logged(service, "SELECT id FROM enquiries", count=4)) == 4


async def test_error_handler_tells_the_user_without_echoing_anything(fake: FakeBotAPI, bot: object,
                                                                    engine: Engine,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    user = fake.user(1073)
    fake.fail("sendMessage", status=500, times=FAST.send_attempts)     # every retry fails too
    secret_question = "3加2是啥子意思 my phone is 13800000000"
    with caplog.at_level("ERROR", logger="bot.channels.telegram.handlers"):
        reply = await ask(fake, user, secret_question)
    assert visible(reply) == engine.content.message("error", "zh")
    assert reply.params.get("reply_markup") is None
    assert any("error while handling message" in r.getMessage() for r in caplog.records)
    assert not any("13800000000" in r.getMessage() for r in caplog.records)
    assert visible(await ask(fake, user, "你好")) == engine.answer_intent("smalltalk.greeting", "zh").answer


async def test_an_error_after_a_button_press_still_answers_the_button(fake: FakeBotAPI, bot: object,
                                                                     engine: Engine) -> None:
    user = fake.user(1074)
    answer = await ask(fake, user, "3加2是啥子意思")
    follow = engine.intents["pathway.3plus2"].related[0]
    fake.fail("sendMessage", status=500, times=FAST.send_attempts)     # every retry fails too
    mark = fake.mark()
    query = fake.press(user, fake.sent_message(answer), engine.title(follow, "zh"))
    told = await fake.wait_call("sendMessage", since=mark, chat_id=1074)
    assert visible(told) == engine.content.message("error", "zh")
    await answered(fake, query)
