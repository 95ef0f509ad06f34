"""/wechat end to end: `vocbot serve`'s app with WeChat on, driven by the fake platform on 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import re
import time
from typing import Any

import aiohttp
import defusedxml.ElementTree as SafeET
import pytest
from fake_wechat import AES_KEY, FakeWeChat, billion_laughs, external_entity, message_xml, oversized, sign
from wechat_harness import rows, running, wechat_settings

from bot.channels.wechat.app import WeChatChannel
from bot.config import Settings
from bot.core.engine import Engine

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


async def wait_for(condition: Any, seconds: float = 5.0) -> None:
    """Wait (bounded) until condition() is true."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def numbered(content: str) -> list[str]:
    """The titles of the numbered options in a reply."""
    return re.findall(r"^(?:\d)\. (.+)$", content, flags=re.MULTILINE)


# ---- the acceptance request ----------------------------------------------------------------------------
def acceptance_request(signature: str | None = None) -> tuple[dict[str, str], bytes]:
    """The request of the issue's acceptance: S = sha1 of the sorted token, T and N; a plain text message."""
    timestamp, nonce = str(int(time.time())), "1405968582"
    joined = "".join(sorted(["t0ken", timestamp, nonce])).encode()
    s = signature or hashlib.sha1(joined).hexdigest()  # noqa: S324 - WeChat's protocol
    body = ("<xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName><![CDATA[" + OPENID +
            "]]></FromUserName><CreateTime>" + timestamp + "</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            "<Content><![CDATA[三加二是啥子]]></Content><MsgId>1234567890123456</MsgId></xml>")
    return {"signature": s, "timestamp": timestamp, "nonce": nonce}, body.encode("utf-8")


@pytest.fixture
async def token_only(settings: Settings, engine: Engine) -> Any:
    """`vocbot serve` with WECHAT_TOKEN=t0ken and nothing else WeChat-related."""
    only = dataclasses.replace(settings, **{k: v for k, v in vars(Settings.from_env({"WECHAT_TOKEN": "t0ken"})).items()
                                            if k.startswith("wechat_")})
    async with FakeWeChat() as fake, running(only, engine, fake) as channel:
        yield fake.bot_url, channel


async def test_the_acceptance_request_gets_the_3plus2_answer(token_only: Any, settings: Settings,
                                                             engine: Engine) -> None:
    url, _ = token_only
    query, body = acceptance_request()
    async with aiohttp.ClientSession() as client, client.post(url, params=query, data=body) as response:
        assert response.status == 200
        reply = {child.tag: child.text for child in SafeET.fromstring(await response.read())}
    assert reply["ToUserName"] == OPENID
    assert reply["FromUserName"] == "gh_account"
    assert reply["MsgType"] == "text"
    assert "三(一)4" in reply["Content"]
    assert engine.answer_intent("pathway.3plus2", "zh").answer in reply["Content"]
    [row] = rows(settings)
    assert (row["channel"], row["intent"], row["decision"]) == ("wechat", "pathway.3plus2", "answer")


async def test_a_wrong_signature_gets_403_and_no_log_row(token_only: Any, settings: Settings) -> None:
    url, _ = token_only
    query, body = acceptance_request(signature="0" * 40)
    async with aiohttp.ClientSession() as client, client.post(url, params=query, data=body) as response:
        assert response.status == 403
        assert "三加二" not in await response.text()
    assert rows(settings) == []


async def test_the_echostr_check_returns_echostr_exactly(token_only: Any) -> None:
    url, _ = token_only
    query, _ = acceptance_request()
    async with aiohttp.ClientSession() as client:
        async with client.get(url, params={**query, "echostr": "8127394871293874129"}) as response:
            assert (response.status, await response.text()) == (200, "8127394871293874129")
        async with client.get(url, params={**query, "signature": "f" * 40, "echostr": "x"}) as response:
            assert response.status == 403


@pytest.mark.parametrize(("change", "status"), [
    ({"signature": None}, 403),
    ({"nonce": "another"}, 403),                                    # signed for another nonce
    ({"timestamp": str(int(time.time()) - 301), "resign": True}, 403),   # stale: over 5 minutes old
    ({"timestamp": str(int(time.time()) + 400), "resign": True}, 403),   # from the future
    ({"timestamp": "12ab", "resign": True}, 403),
])
async def test_unsigned_altered_and_stale_requests_get_4xx(token_only: Any, settings: Settings,
                                                           change: dict[str, Any], status: int) -> None:
    url, _ = token_only
    query, body = acceptance_request()
    resign = change.pop("resign", False)
    query.update({k: v for k, v in change.items() if v is not None})
    for key in [k for k, v in change.items() if v is None]:
        query.pop(key)
    if resign:
        query["signature"] = sign("t0ken", query["timestamp"], query["nonce"])
    async with aiohttp.ClientSession() as client, client.post(url, params=query, data=body) as response:
        assert response.status == status
    assert rows(settings) == []


@pytest.mark.parametrize(("body", "status"), [
    (billion_laughs(), 400),
    (external_entity(), 400),
    (oversized(), 413),
    (b"<xml><ToUserName>gh</ToUserName>", 400),                    # malformed
    (b'<?xml version="1.0"?><!DOCTYPE xml><xml><MsgType>text</MsgType></xml>', 400),
    (b"<html><body>hi</body></html>", 400),
    (message_xml({"ToUserName": "gh", "MsgType": "text", "Content": "no sender"}).encode(), 400),
    (b"", 400),
])
async def test_hostile_bodies_get_4xx_without_echo_or_row(token_only: Any, settings: Settings, body: bytes,
                                                          status: int) -> None:
    url, _ = token_only
    query, _ = acceptance_request()
    async with aiohttp.ClientSession() as client:
        async with client.post(url, params=query, data=body) as response:
            assert response.status == status
            text = await response.text()
            assert len(text) < 200 and "lol" not in text and "passwd" not in text
        good_query, good = acceptance_request()
        async with client.post(url, params=good_query, data=good) as response:     # still serving
            assert response.status == 200
    assert len(rows(settings)) == 1


# ---- conversation through the fake platform ----------------------------------------------------------
async def test_safe_mode_round_trip(settings: Settings, engine: Engine) -> None:
    async with FakeWeChat(aes_key=AES_KEY) as fake, running(wechat_settings(settings, fake), engine, fake) as channel:
        assert channel.protocol.safe_mode
        delivery = await fake.deliver(fake.text(OPENID, "三加二是啥子"))
        assert delivery.reply is not None and "<Encrypt>" in delivery.raw and "三(一)4" not in delivery.raw
        assert "三(一)4" in delivery.reply["Content"]
        body, query = fake.envelope(fake.text(OPENID, "三加二是啥子"))
        query["msg_signature"] = "0" * 40
        assert (await fake.post(body, query))[0] == 403
    assert [r["intent"] for r in rows(settings)] == ["pathway.3plus2"]


async def test_a_duplicate_msgid_is_answered_once_with_one_row(channel: WeChatChannel, fake: FakeWeChat,
                                                               settings: Settings) -> None:
    fields = fake.text(OPENID, "企业投资职业教育能抵税吗")
    first = await fake.deliver(fields, duplicates=2)       # three copies at once, as crossed retries
    assert first.attempts == [200, 200, 200]
    again = await fake.deliver(fields)                     # a late retry of the same MsgId
    assert first.reply is not None and again.reply is not None
    assert again.reply["Content"] == first.reply["Content"]
    assert len(rows(settings)) == 1


async def test_a_redelivery_after_a_restart_adds_no_row(settings: Settings, engine: Engine) -> None:
    async with FakeWeChat() as fake:
        fields = fake.text(OPENID, "三加二是啥子")
        for _ in range(2):
            async with running(wechat_settings(settings, fake), engine, fake):
                assert (await fake.deliver(fields)).reply is not None
    assert len(rows(settings)) == 1


async def test_numbered_follow_up_answers_the_related_question(channel: WeChatChannel, fake: FakeWeChat,
                                                               settings: Settings, engine: Engine) -> None:
    first = await fake.deliver(fake.text(OPENID, "三加二是啥子"))
    assert first.reply is not None
    related = [c.intent for c in engine.ask("三加二是啥子").related]
    assert numbered(first.reply["Content"]) == [engine.title(i, "zh") for i in related]
    picked = await fake.deliver(fake.text(OPENID, "2"))
    assert picked.reply is not None
    question, follow = rows(settings)
    assert (follow["intent"], follow["via"], follow["parent_id"]) == (related[1], "button", question["id"])
    assert engine.answer_intent(related[1], "zh").answer in picked.reply["Content"]
    missing = await fake.deliver(fake.text(OPENID, "9"))
    assert missing.reply is not None and "9" in missing.reply["Content"]
    assert len(rows(settings)) == 2


async def test_a_long_answer_is_split_and_the_rest_sent_as_customer_service_messages(
        channel: WeChatChannel, fake: FakeWeChat, engine: Engine) -> None:
    await fake.deliver(fake.text(OPENID, "三加二是啥子"))
    original = await fake.deliver(fake.text(OPENID, "原文"))
    assert original.reply is not None
    await wait_for(lambda: len(fake.sent) >= 1)
    await asyncio.sleep(0.1)
    parts = [original.reply["Content"], *(m["content"] for m in fake.sent)]
    assert all(m["touser"] == OPENID for m in fake.sent) and fake.errors == []
    assert all(len(p.encode()) <= 2048 for p in parts) and len(parts) >= 2
    whole = "".join(parts).replace("\n", "")
    for cid in engine.ask("三加二是啥子").source:
        assert engine.clause(cid).text.replace("\n", "") in whole


async def test_subscribe_sends_the_welcome_and_the_topics(channel: WeChatChannel, fake: FakeWeChat,
                                                          engine: Engine, settings: Settings) -> None:
    delivery = await fake.deliver(fake.event(OPENID, "subscribe"))
    assert delivery.reply is not None
    assert engine.content.message("wx_welcome", "zh") in delivery.reply["Content"]
    assert numbered(delivery.reply["Content"]) == [t.title["zh"] for t in engine.menu.topics_for(None)][:9]
    unsubscribe = await fake.deliver(fake.event(OPENID, "unsubscribe"))
    assert unsubscribe.raw == "success" and unsubscribe.reply is None
    assert rows(settings) == []


async def test_voice_is_answered_from_its_recognition(channel: WeChatChannel, fake: FakeWeChat,
                                                      settings: Settings, engine: Engine) -> None:
    delivery = await fake.deliver(fake.voice(OPENID, "三加二是啥子。"))
    assert delivery.reply is not None and "三(一)4" in delivery.reply["Content"]
    [row] = rows(settings)
    assert (row["intent"], row["chat_type"], row["text"]) == ("pathway.3plus2", "voice", "三加二是啥子。")
    unclear = await fake.deliver(fake.voice(OPENID, ""))
    assert unclear.reply is not None
    assert unclear.reply["Content"] == engine.content.message("wx_voice_unclear", "zh")


@pytest.mark.parametrize("kind", ["image", "location", "video", "shortvideo", "link", "sticker"])
async def test_other_message_types_get_one_polite_line(channel: WeChatChannel, fake: FakeWeChat, engine: Engine,
                                                       kind: str) -> None:
    fields = {**fake.image(OPENID), "MsgType": kind}
    delivery = await fake.deliver(fields)
    assert delivery.reply is not None
    assert delivery.reply["Content"] == engine.content.message("non_text", "zh")
    assert "\n" not in delivery.reply["Content"]


async def test_menu_clicks_open_topics_and_the_route_finder(channel: WeChatChannel, fake: FakeWeChat,
                                                            engine: Engine, settings: Settings) -> None:
    topic = await fake.deliver(fake.event(OPENID, "CLICK", "topic:pathways"))
    assert topic.reply is not None
    pathways = engine.menu.topics["pathways"].intents
    assert numbered(topic.reply["Content"]) == [engine.title(i, "zh") for i in pathways]
    await fake.deliver(fake.text(OPENID, "1"))
    assert [r["intent"] for r in rows(settings)] == [pathways[0]]
    menu = await fake.deliver(fake.event(OPENID, "CLICK", "no-such-key"))
    assert menu.reply is not None and numbered(menu.reply["Content"])


@pytest.mark.parametrize("flow", ["student", "enterprise"])
async def test_the_route_finder_runs_on_numbered_replies(channel: WeChatChannel, fake: FakeWeChat, engine: Engine,
                                                         settings: Settings, flow: str) -> None:
    first = engine.routes.step(flow, {}, "zh")
    start = await fake.deliver(fake.event(OPENID, "CLICK", f"route:{flow}"))
    assert start.reply is not None and first.question in start.reply["Content"]
    answers: dict[str, str] = {}
    step = first
    while not step.done:
        delivery = await fake.deliver(fake.text(OPENID, "1"))
        answers[step.id] = step.options[0].id
        step = engine.routes.step(flow, answers, "zh")
        assert delivery.reply is not None
        content = delivery.reply["Content"]
        assert (step.question if not step.done else step.items[0].why) in content
    for item in step.items:
        assert item.title in content and all(clause in content for clause in item.source)
    [logged] = rows(settings)
    assert (logged["channel"], logged["decision"]) == ("wechat", "route")
    picked = await fake.deliver(fake.text(OPENID, "1"))          # the result's items are numbered too
    assert picked.reply is not None
    assert rows(settings)[-1]["intent"] == step.items[0].intent


async def test_handoff_keeps_the_reply_address_sealed(channel: WeChatChannel, fake: FakeWeChat,
                                                      settings: Settings, engine: Engine) -> None:
    await fake.deliver(fake.text(OPENID, "三加二是啥子"))
    delivery = await fake.deliver(fake.text(OPENID, "人工"))
    assert delivery.reply is not None
    assert delivery.reply["Content"].startswith(engine.content.message("wx_handoff_recorded", "zh"))
    [handoff] = rows(settings, "SELECT * FROM handoffs")
    [question] = rows(settings)
    store = channel.service.store
    assert (handoff["channel"], handoff["enquiry_id"]) == ("wechat", question["id"])
    assert handoff["user_key"] == question["user_key"] == store.user_key("wechat", OPENID)
    assert OPENID not in str(handoff) and OPENID not in str(question)
    assert store.reply_address(handoff) == OPENID
    assert await channel.api.send_text(handoff["reply_to"], "工作人员回复：你好") == 1
    assert fake.sent[-1] == {"touser": OPENID, "content": "工作人员回复：你好"}


async def test_raw_openids_are_stored_only_when_asked(settings: Settings, engine: Engine) -> None:
    async with FakeWeChat() as fake, running(wechat_settings(settings, fake, store_raw_ids=True), engine, fake):
        await fake.deliver(fake.text(OPENID, "三加二是啥子"))
    [row] = rows(settings)
    assert row["raw_user_id"] == OPENID


async def test_english_questions_get_english_replies(channel: WeChatChannel, fake: FakeWeChat,
                                                     engine: Engine) -> None:
    delivery = await fake.deliver(fake.text(OPENID, "what is 3+2"))
    assert delivery.reply is not None
    reply = engine.ask("what is 3+2")
    assert reply.lang == "en" and reply.answer in delivery.reply["Content"]


async def test_an_expired_token_is_refreshed_for_the_split_answer(channel: WeChatChannel, fake: FakeWeChat) -> None:
    await fake.deliver(fake.text(OPENID, "三加二是啥子"))
    await fake.deliver(fake.text(OPENID, "原文"))
    await wait_for(lambda: len(fake.sent) >= 1)
    fake.expire_tokens()
    before = fake.token_requests
    await fake.deliver(fake.text(OPENID, "原文"))
    await wait_for(lambda: fake.token_requests == before + 1 and len(fake.sent) >= 2)
    assert "42001 access_token expired" in fake.errors


async def test_without_the_api_the_rest_waits_for_continue(settings: Settings, engine: Engine) -> None:
    async with FakeWeChat() as fake:
        no_api = dataclasses.replace(wechat_settings(settings, fake), wechat_app_secret=None)
        async with running(no_api, engine, fake) as channel:
            assert channel.api is None
            await fake.deliver(fake.text(OPENID, "三加二是啥子"))
            parts = []
            reply = (await fake.deliver(fake.text(OPENID, "原文"))).reply
            while reply is not None and engine.content.message("wx_continue", "zh") in reply["Content"]:
                parts.append(reply["Content"])
                reply = (await fake.deliver(fake.text(OPENID, "继续"))).reply
                assert len(parts) < 10
            assert reply is not None and len(parts) >= 1
            done = (await fake.deliver(fake.text(OPENID, "继续"))).reply
            assert done is not None and done["Content"] == engine.content.message("wx_nothing_more", "zh")
            handoff = (await fake.deliver(fake.text(OPENID, "人工"))).reply
            assert handoff is not None and handoff["Content"].startswith(
                engine.content.message("wx_handoff_logged", "zh"))
        assert fake.sent == [] and fake.token_requests == 0
    [handoff_row] = rows(settings, "SELECT * FROM handoffs")
    assert handoff_row["reply_to"] is None


async def test_staff_stats_exports_and_filters_show_the_channel(channel: WeChatChannel, fake: FakeWeChat,
                                                                settings: Settings) -> None:
    from bot.log import reports
    from bot.staff import views

    await fake.deliver(fake.text(OPENID, "三加二是啥子"))
    await fake.deliver(fake.text(OPENID, "今天天气怎么样"))
    store = channel.service.store
    stats = store.read(reports.stats)
    assert stats["channels"] == {"wechat": 2}
    exported = store.read(reports.export_csv)
    assert exported.count(",wechat,") == 2 and OPENID not in exported
    found = store.read(reports.search_enquiries, {"channel": "wechat"})
    assert [row["channel"] for row in found["rows"]] == ["wechat", "wechat"]
    assert "wechat" in views.CHANNELS


async def test_an_answer_too_slow_for_the_passive_reply_goes_as_a_customer_service_message(
        channel: WeChatChannel, fake: FakeWeChat, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.channels.wechat import app as wechat_app

    handle = channel.conversation.handle

    async def slow(message: Any) -> list[str]:
        await asyncio.sleep(0.3)
        return await handle(message)

    monkeypatch.setattr(wechat_app, "BUDGET", 0.05)
    monkeypatch.setattr(channel.conversation, "handle", slow)
    delivery = await fake.deliver(fake.text(OPENID, "三加二是啥子"), duplicates=1)
    assert delivery.attempts == [200, 200] and delivery.reply is None and delivery.raw == "success"
    await wait_for(lambda: len(fake.sent) >= 1)
    await asyncio.sleep(0.1)
    [sent] = fake.sent
    assert sent["touser"] == OPENID and "三(一)4" in sent["content"]
    assert len(rows(settings)) == 1


async def test_a_failing_answer_is_one_line_and_the_retry_tries_again(
        channel: WeChatChannel, fake: FakeWeChat, settings: Settings, engine: Engine,
        monkeypatch: pytest.MonkeyPatch) -> None:
    handle = channel.conversation.handle
    calls = []

    async def flaky(message: Any) -> list[str]:
        calls.append(message.msg_id)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return await handle(message)

    monkeypatch.setattr(channel.conversation, "handle", flaky)
    fields = fake.text(OPENID, "三加二是啥子")
    failed = await fake.deliver(fields)
    assert failed.reply is not None and failed.reply["Content"] == engine.content.message("error", "zh")
    assert "boom" not in failed.raw
    retried = await fake.deliver(fields)
    assert retried.reply is not None and "三(一)4" in retried.reply["Content"]
    assert len(rows(settings)) == 1


async def test_a_question_about_a_term_gets_the_labelled_general_block(channel: WeChatChannel, fake: FakeWeChat,
                                                                       engine: Engine) -> None:
    reply = engine.ask("3加2是啥子意思")
    assert reply.general
    delivery = await fake.deliver(fake.text(OPENID, "3加2是啥子意思"))
    assert delivery.reply is not None
    content = delivery.reply["Content"]
    assert content.startswith(f"[{engine.content.message('general_label', 'zh')}]")
    assert content.index(reply.general[:20]) < content.index("三(一)4")
