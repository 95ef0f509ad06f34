"""The web chat's HTTP interface: every endpoint, every bad request, limits, headers, and `vocbot serve`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import html.parser
import json
import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.channels.web import chat as web
from bot.config import Settings
from bot.core.engine import Engine
from bot.log.store import Store
from bot.service import Service

COLLOQUIAL_3PLUS2 = "3加2是啥子意思"
# Short, vague questions: at least one of them gets "did you mean" choices from the shipped intents.
VAGUE = ["补贴", "证书", "学徒", "企业", "技能", "升学", "subsidy", "读书", "学分", "老师"]
REPLY_KEYS = {"decision", "intent", "score", "answer", "choices", "related", "source", "enquiry_id", "confidence",
              "also_intents"}
SECURITY = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@contextlib.asynccontextmanager
async def serving(settings: Settings, engine: Engine) -> AsyncIterator[TestClient]:
    """A test client on a fresh web app whose service logs to the settings' temporary database."""
    service = Service(settings, engine, Store(settings))
    client = TestClient(TestServer(web.create_app(service)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def client(settings: Settings, engine: Engine) -> AsyncIterator[TestClient]:
    """A client on the web app with the default limits."""
    async with serving(settings, engine) as c:
        yield c


def rows(settings: Settings, sql: str, *params: object) -> list[dict]:
    """Query the test database directly."""
    conn = sqlite3.connect(settings.db_path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def clarifying_question(engine: Engine) -> str:
    """A question the engine answers with "did you mean" choices."""
    for question in VAGUE:
        if engine.ask(question).decision == "clarify":
            return question
    raise AssertionError(f"none of {VAGUE} gets a clarify reply; update VAGUE in tests/test_web.py")


async def post(client: TestClient, path: str, body: object, **kwargs: object) -> tuple[int, dict]:
    response = await client.post(path, json=body, **kwargs)
    return response.status, await response.json()


# ---- /api/chat -------------------------------------------------------------------------------------------
async def test_chat_answers_a_colloquial_question_with_its_citation(client: TestClient, settings: Settings,
                                                                    engine: Engine) -> None:
    status, data = await post(client, "/api/chat", {"text": COLLOQUIAL_3PLUS2, "session": "s-1"})
    assert status == 200
    assert set(data) >= REPLY_KEYS
    assert data["decision"] == "answer"
    assert data["intent"] == "pathway.3plus2"
    assert data["answer"] == engine.ask(COLLOQUIAL_3PLUS2).answer
    assert "三(一)4" in data["source"]
    assert data["citation"] and data["answer"].endswith(data["citation"])
    assert [c["id"] for c in data["clauses"]] == data["source"]
    assert data["clauses"][0]["text"] == engine.clause(data["source"][0]).text
    assert data["related"] and all(set(r) == {"intent", "title"} for r in data["related"])
    assert data["choices"] == []
    assert data["lang"] == "zh" and client.server.app[web.SERVICE].session_valid(data["session"])
    again = (await post(client, "/api/chat", {"text": "hi", "session": data["session"]}))[1]
    assert again["session"] == data["session"]                 # a minted session is kept
    service: Service = client.server.app[web.SERVICE]
    [row] = rows(settings, "SELECT * FROM enquiries WHERE id = ?", data["enquiry_id"])
    assert (row["channel"], row["text"], row["intent"], row["via"]) == ("web", COLLOQUIAL_3PLUS2, "pathway.3plus2",
                                                                        "text")
    assert row["user_key"] == service.user_key("web", data["session"]) != data["session"]


async def test_chat_carries_the_general_explanation_beside_the_answer(client: TestClient, engine: Engine) -> None:
    status, data = await post(client, "/api/chat", {"text": COLLOQUIAL_3PLUS2, "session": "s-g"})
    reply = engine.ask(COLLOQUIAL_3PLUS2)
    assert status == 200 and data["general"] == reply.general and data["general"]
    assert data["general"] not in data["answer"]
    status, data = await post(client, "/api/chat", {"text": "助学金每个月发好多", "session": "s-g"})
    assert data["general"] is None
    assert data["answer"].startswith(engine.intents["subsidy.student_aid"].silent_on["amounts"]["zh"])


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_glossary_lists_every_term_with_its_label(client: TestClient, engine: Engine, lang: str) -> None:
    response = await client.get(f"/api/glossary?lang={lang}")
    data = await response.json()
    assert response.status == 200
    assert data["label"] == engine.content.message("general_label", lang)
    assert [t["term"] for t in data["terms"]] == [t.term for t in engine.content.glossary]
    first = engine.content.glossary[0]
    assert data["terms"][0]["general"] == first.general[lang] and data["terms"][0]["plan"] == first.plan[lang]


async def test_served_pages_hold_no_emoji(client: TestClient) -> None:
    """The chat must not depend on an emoji font: no emoji code point in its HTML, JS, CSS or texts."""
    emoji = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F]")
    for path in ("/", "/static/app.js", "/static/icons.js", "/static/app.css", "/api/menu?lang=zh",
                 "/api/menu?lang=en", "/api/glossary?lang=zh"):
        response = await client.get(path)
        body = await response.text()
        assert response.status == 200 and not emoji.search(body), (path, emoji.findall(body))
    status, data = await post(client, "/api/chat", {"text": COLLOQUIAL_3PLUS2})
    assert status == 200 and not emoji.search(json.dumps(data, ensure_ascii=False))


async def test_chat_answers_english_in_english(client: TestClient, engine: Engine) -> None:
    status, data = await post(client, "/api/chat", {"text": "what is 3+2", "lang": "zh"})
    assert status == 200
    assert (data["lang"], data["intent"]) == ("en", "pathway.3plus2")
    assert data["answer"] == engine.ask("what is 3+2").answer
    assert data["citation"].startswith("Source")
    clause = engine.clause(data["source"][0])
    assert data["clauses"][0]["heading"] == (clause.heading_en or clause.heading)


async def test_chat_offers_choices_for_a_vague_question(client: TestClient, engine: Engine) -> None:
    question = clarifying_question(engine)
    status, data = await post(client, "/api/chat", {"text": question, "session": "s"})
    assert status == 200
    assert data["decision"] == "clarify"
    expected = [{"intent": c.intent, "title": c.title} for c in engine.ask(question).choices]
    assert data["choices"] == expected and len(expected) >= 2
    assert data["citation"] is None and data["clauses"] == []


async def test_chat_without_a_session_gets_a_new_one(client: TestClient) -> None:
    first = (await post(client, "/api/chat", {"text": "hello"}))[1]["session"]
    second = (await post(client, "/api/chat", {"text": "hello"}))[1]["session"]
    assert isinstance(first, str) and len(first) >= 16 and first != second


async def test_chat_records_the_audience(client: TestClient, settings: Settings) -> None:
    _, data = await post(client, "/api/chat", {"text": COLLOQUIAL_3PLUS2, "audience": "student"})
    assert rows(settings, "SELECT audience FROM enquiries WHERE id = ?", data["enquiry_id"]) == [
        {"audience": "student"}]


def _big(n: int) -> bytes:
    return json.dumps({"text": "x" * n}).encode()


BAD_CHAT = [
    # (body, content type, status, words in the error)
    (b"{bad", "application/json", 400, "not valid JSON"),
    (b"\xff\xfe\xfa", "application/json", 400, "not valid JSON"),
    (b"[1, 2]", "application/json", 400, "JSON object"),
    (b'"text"', "application/json", 400, "JSON object"),
    (b"{}", "application/json", 422, '"text" is required'),
    (b'{"text": null}', "application/json", 422, '"text" is required'),
    (b'{"text": 5}', "application/json", 422, '"text" must be a string'),
    (b'{"text": ["a"]}', "application/json", 422, '"text" must be a string'),
    (b'{"text": "hi", "lang": "fr"}', "application/json", 422, '"lang" must be'),
    (b'{"text": "hi", "session": 7}', "application/json", 422, '"session" must be a string'),
    (json.dumps({"text": "hi", "session": "s" * 129}).encode(), "application/json", 422, "longer than 128"),
    (b'{"text": "hi", "session": "a\\nb"}', "application/json", 422, '"session" must be printable'),
    (b'{"text": "hi", "audience": "alien"}', "application/json", 422, '"audience"'),
    (b'{"text": "hi"}', "text/plain", 415, "Content-Type: application/json"),
    (b"text=hi", "application/x-www-form-urlencoded", 415, "Content-Type: application/json"),
    (_big(70_000), "application/json", 413, "64 KiB"),
]


@pytest.mark.parametrize(("body", "content_type", "status", "words"), BAD_CHAT,
                         ids=[f"{s}-{w}" for _, _, s, w in BAD_CHAT])
async def test_bad_chat_requests_get_a_json_error_in_one_sentence(client: TestClient, body: bytes,
                                                                  content_type: str, status: int,
                                                                  words: str) -> None:
    response = await client.post("/api/chat", data=body, headers={"Content-Type": content_type})
    assert response.status == status
    data = await response.json()
    assert set(data) == {"error"}
    assert words in data["error"]
    assert data["error"].endswith(".") and data["error"].count(". ") == 0
    for name, value in SECURITY.items():
        assert response.headers[name] == value


async def test_a_chunked_body_over_64_kib_gets_413(client: TestClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        for _ in range(20):
            yield b"x" * 4096
        yield b'"}'

    response = await client.post("/api/chat", data=chunks(), headers={"Content-Type": "application/json"})
    assert response.status == 413
    assert "64 KiB" in (await response.json())["error"]


async def test_a_body_just_under_64_kib_is_accepted(client: TestClient) -> None:
    body = _big(64 * 1024 - 100)
    assert len(body) < 64 * 1024
    response = await client.post("/api/chat", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 200


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/api/chat", 405), ("GET", "/api/choice", 405), ("GET", "/api/feedback", 405),
    ("GET", "/api/handoff", 405), ("POST", "/api/menu", 405), ("GET", "/api/nothing", 404),
])
async def test_unknown_api_routes_and_methods_answer_json(client: TestClient, method: str, path: str,
                                                          status: int) -> None:
    response = await client.request(method, path)
    assert response.status == status
    assert set(await response.json()) == {"error"}


# ---- /api/choice -----------------------------------------------------------------------------------------
async def test_choice_answers_the_pressed_intent_and_logs_a_button(client: TestClient, settings: Settings,
                                                                   engine: Engine) -> None:
    question = clarifying_question(engine)
    _, asked = await post(client, "/api/chat", {"text": question, "session": "s"})
    picked = asked["choices"][1]
    status, data = await post(client, "/api/choice", {"intent": picked["intent"], "session": asked["session"],
                                                      "lang": "zh",
                                                      "parent_id": asked["enquiry_id"]})
    assert status == 200
    assert set(data) >= REPLY_KEYS
    assert (data["decision"], data["intent"], data["score"]) == ("answer", picked["intent"], 100.0)
    assert data["answer"] == engine.answer_intent(picked["intent"], "zh").answer
    [row] = rows(settings, "SELECT via, parent_id, intent FROM enquiries WHERE id = ?", data["enquiry_id"])
    assert row == {"via": "button", "parent_id": asked["enquiry_id"], "intent": picked["intent"]}


async def test_choice_of_a_follow_up_in_english(client: TestClient, engine: Engine) -> None:
    status, data = await post(client, "/api/choice", {"intent": "pathway.3plus2", "lang": "en"})
    assert status == 200
    assert data["lang"] == "en"
    assert data["related"] == [{"intent": r, "title": engine.title(r, "en")}
                               for r in engine.intents["pathway.3plus2"].related]


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"intent": "no.such.intent"}, 404, "no intent with this id"),
    ({}, 422, '"intent" is required'),
    ({"intent": 3}, 422, '"intent" must be a string'),
    ({"intent": "pathway.3plus2", "lang": "de"}, 422, '"lang"'),
    ({"intent": "pathway.3plus2", "parent_id": "p" * 65}, 422, "longer than 64"),
])
async def test_bad_choices(client: TestClient, body: dict, status: int, words: str) -> None:
    got_status, data = await post(client, "/api/choice", body)
    assert got_status == status
    assert words in data["error"]


# ---- /api/feedback ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "message_key"), [(1, "feedback_thanks"), (-1, "feedback_sorry")])
async def test_feedback_is_recorded(client: TestClient, settings: Settings, engine: Engine, value: int,
                                    message_key: str) -> None:
    _, asked = await post(client, "/api/chat", {"text": COLLOQUIAL_3PLUS2, "session": "s"})
    status, data = await post(client, "/api/feedback", {"enquiry_id": asked["enquiry_id"], "value": value,
                                                        "comment": "<b>ok</b>", "session": asked["session"]})
    assert status == 200
    assert data == {"ok": True, "recorded": True, "message": engine.content.message(message_key, "zh")}
    service: Service = client.server.app[web.SERVICE]
    assert rows(settings, "SELECT value, comment, user_key FROM feedback WHERE enquiry_id = ?",
                asked["enquiry_id"]) == [{"value": value, "comment": "<b>ok</b>",
                                          "user_key": service.user_key("web", asked["session"])}]


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"value": 1}, 422, '"enquiry_id" is required'),
    ({"enquiry_id": "ENQ", "value": 0}, 422, '"value" must be 1'),
    ({"enquiry_id": "ENQ", "value": 2}, 422, '"value" must be 1'),
    ({"enquiry_id": "ENQ", "value": True}, 422, '"value" must be 1'),
    ({"enquiry_id": "ENQ", "value": "1"}, 422, '"value" must be 1'),
    ({"enquiry_id": "ENQ", "value": 1, "comment": 5}, 422, '"comment" must be a string'),
    ({"enquiry_id": "ENQ", "value": 1, "comment": "c" * 2001}, 422, "longer than 2000"),
    ({"enquiry_id": "0000000000000000", "value": 1}, 404, "no web enquiry"),
    ({"enquiry_id": "TELEGRAM", "value": 1}, 404, "no web enquiry"),
])
async def test_bad_feedback(client: TestClient, settings: Settings, body: dict, status: int, words: str) -> None:
    service: Service = client.server.app[web.SERVICE]
    web_enquiry = (await service.ask("hello", channel="web", user_id="s")).enquiry_id
    other = (await service.ask("hello", channel="telegram", user_id=42)).enquiry_id
    body = {k: {"ENQ": web_enquiry, "TELEGRAM": other}.get(v, v) if k == "enquiry_id" else v
            for k, v in body.items()}
    got_status, data = await post(client, "/api/feedback", body)
    assert got_status == status
    assert words in data["error"]
    assert rows(settings, "SELECT COUNT(*) AS n FROM feedback") == [{"n": 0}]


async def test_feedback_is_taken_unchecked_while_the_log_is_unwritable(client: TestClient,
                                                                      settings: Settings) -> None:
    service: Service = client.server.app[web.SERVICE]
    service.store.failing = "OperationalError: disk I/O error"   # its enquiry may still wait in memory
    status, data = await post(client, "/api/feedback", {"enquiry_id": "waiting-in-memory", "value": -1})
    assert status == 200 and data["ok"] is True
    await asyncio.to_thread(service.store.close)
    assert rows(settings, "SELECT enquiry_id, value FROM feedback") == [{"enquiry_id": "waiting-in-memory",
                                                                          "value": -1}]


# ---- /api/handoff ----------------------------------------------------------------------------------------
async def test_handoff_records_the_enquiry_and_explains_who_to_contact(client: TestClient, settings: Settings,
                                                                        engine: Engine) -> None:
    _, asked = await post(client, "/api/chat", {"text": "今天天气怎么样", "session": "s"})
    status, data = await post(client, "/api/handoff", {"enquiry_id": asked["enquiry_id"],
                                                       "session": asked["session"]})
    assert status == 200
    assert data["ok"] is True and data["recorded"] is True
    assert engine.content.message("staff_unavailable", "zh") in data["message"]
    assert engine.content.message("web_handoff_recorded", "zh") in data["message"]
    assert isinstance(data["contacts"], list)
    service: Service = client.server.app[web.SERVICE]
    assert rows(settings, "SELECT enquiry_id, channel, user_key, status FROM handoffs") == [
        {"enquiry_id": asked["enquiry_id"], "channel": "web", "user_key": service.user_key("web", asked["session"]),
         "status": "open"}]


async def test_handoff_without_an_enquiry_in_english(client: TestClient, settings: Settings,
                                                     engine: Engine) -> None:
    status, data = await post(client, "/api/handoff", {"lang": "en"})
    assert status == 200
    assert engine.content.message("staff_unavailable", "en") in data["message"]
    assert rows(settings, "SELECT enquiry_id, channel FROM handoffs") == [{"enquiry_id": None, "channel": "web"}]


async def test_handoff_for_an_unknown_enquiry_is_404(client: TestClient, settings: Settings) -> None:
    status, data = await post(client, "/api/handoff", {"enquiry_id": "nope"})
    assert status == 404 and "no web enquiry" in data["error"]
    assert rows(settings, "SELECT COUNT(*) AS n FROM handoffs") == [{"n": 0}]


# ---- /api/menu and /api/clause ---------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_menu_lists_audiences_topics_and_their_intents(client: TestClient, engine: Engine,
                                                             lang: str) -> None:
    response = await client.get("/api/menu", params={"lang": lang})
    assert response.status == 200
    data = await response.json()
    assert data["lang"] == lang and data["audience"] is None
    assert data["audiences"] == [{"id": a.id, "title": a.title[lang]} for a in engine.menu.audiences.values()]
    assert [t["id"] for t in data["topics"]] == list(engine.menu.topics)
    first = engine.menu.topics[data["topics"][0]["id"]]
    assert data["topics"][0]["intents"] == [{"intent": i, "title": engine.title(i, lang)} for i in first.intents]
    assert set(data["messages"]) == {*web.PAGE_MESSAGES, "privacy"}
    assert all(isinstance(v, str) and v and "{days}" not in v for v in data["messages"].values())
    assert data["messages"]["web_send"] == engine.content.message("web_send", lang)


async def test_menu_for_an_audience_shows_its_topics(client: TestClient, engine: Engine) -> None:
    data = await (await client.get("/api/menu", params={"lang": "zh", "audience": "enterprise"})).json()
    assert data["audience"] == "enterprise"
    assert [t["id"] for t in data["topics"]] == list(engine.menu.audiences["enterprise"].topics)


@pytest.mark.parametrize(("params", "words"), [({"lang": "fr"}, '"lang"'), ({"audience": "alien"}, '"audience"')])
async def test_bad_menu_requests(client: TestClient, params: dict, words: str) -> None:
    response = await client.get("/api/menu", params=params)
    assert response.status == 422
    assert words in (await response.json())["error"]


async def test_clause_gives_the_original_text(client: TestClient, engine: Engine) -> None:
    response = await client.get("/api/clause/三(一)4")
    assert response.status == 200
    clause = engine.clause("三(一)4")
    assert await response.json() == {"id": clause.id, "heading": clause.heading, "heading_en": clause.heading_en,
                                     "section": clause.section, "text": clause.text,
                                     "responsible": list(clause.responsible)}


async def test_unknown_clause_is_404(client: TestClient) -> None:
    response = await client.get("/api/clause/九(九)99")
    assert response.status == 404
    assert "no clause" in (await response.json())["error"]


# ---- /healthz --------------------------------------------------------------------------------------------
async def test_healthz_reports_intents_database_and_telegram(client: TestClient, engine: Engine) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    data = await response.json()
    assert data["status"] == "ok"
    assert data["intents"] == {"loaded": len(engine.intents), "version": engine.version}
    assert data["database"]["writable"] is True
    assert data["telegram"] == "off"
    assert data["version"]


@pytest.mark.parametrize(("state", "shown"), [("polling", "polling"), (lambda: "webhook", "webhook"),
                                              ({"mode": "webhook", "ok": True}, {"mode": "webhook", "ok": True})])
async def test_healthz_shows_the_telegram_state_telegram_app_sets(settings: Settings, engine: Engine,
                                                                   state: object, shown: object) -> None:
    service = Service(settings, engine, Store(settings))
    app = web.create_app(service)
    app[web.TELEGRAM_STATE] = state
    async with TestClient(TestServer(app)) as c:
        assert (await (await c.get("/healthz")).json())["telegram"] == shown


async def test_healthz_is_503_when_the_database_is_not_writable(client: TestClient,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    service: Service = client.server.app[web.SERVICE]
    monkeypatch.setattr(service.store, "probe_writable", lambda: "attempt to write a readonly database")
    response = await client.get("/healthz")
    assert response.status == 503
    data = await response.json()
    assert data["status"] == "degraded" and data["database"]["writable"] is False


# ---- limits, errors, headers -----------------------------------------------------------------------------
async def test_per_session_rate_limit_answers_429(settings: Settings, engine: Engine) -> None:
    limited = dataclasses.replace(settings, rate_per_minute=3)
    async with serving(limited, engine) as c:
        busy = c.server.app[web.SERVICE].mint_session()
        for _ in range(3):
            response = await c.post("/api/chat", json={"text": "hello", "session": busy})
            assert response.status == 200 and (await response.json())["session"] == busy
        response = await c.post("/api/chat", json={"text": "hello", "session": busy, "lang": "en"})
        assert response.status == 429
        assert response.headers["Retry-After"] == "60"
        data = await response.json()
        assert "this session" in data["error"]
        assert data["message"] == engine.content.message("rate_limited", "en")
        assert (await c.post("/api/choice", json={"intent": "pathway.3plus2", "session": busy})).status == 429
        calm = c.server.app[web.SERVICE].mint_session()
        assert (await c.post("/api/chat", json={"text": "hello", "session": calm})).status == 200


async def test_per_address_rate_limit_answers_429(settings: Settings, engine: Engine) -> None:
    limited = dataclasses.replace(settings, address_rate_per_minute=4)
    async with serving(limited, engine) as c:
        for n in range(4):
            assert (await c.post("/api/chat", json={"text": "hello", "session": f"s{n}"})).status == 200
        response = await c.post("/api/chat", json={"text": "hello", "session": "fresh"})
        assert response.status == 429
        assert "your address" in (await response.json())["error"]


async def test_address_limit_zero_turns_it_off(settings: Settings, engine: Engine) -> None:
    async with serving(dataclasses.replace(settings, address_rate_per_minute=0), engine) as c:
        assert web.ADDRESS_LIMITER not in c.server.app


def test_address_limit_is_read_from_the_environment() -> None:
    assert Settings.from_env({}).address_rate_per_minute == 600
    assert Settings.from_env({"VOCBOT_ADDRESS_RATE_PER_MINUTE": "100000"}).address_rate_per_minute == 100000
    assert Settings.from_env({"VOCBOT_ADDRESS_RATE_PER_MINUTE": "0"}).address_rate_per_minute == 0


async def test_an_unexpected_error_is_a_json_500_without_the_traceback(client: TestClient,
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    service: Service = client.server.app[web.SERVICE]

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(service, "ask", broken)
    with caplog.at_level(logging.ERROR, logger="bot.channels.web.chat"):
        response = await client.post("/api/chat", json={"text": "hello"})
    assert response.status == 500
    body = await response.text()
    assert json.loads(body) == {"error": "Something went wrong on our side; please try again in a moment."}
    assert "secret" not in body and "Traceback" not in body
    [record] = [r for r in caplog.records if r.name == "bot.channels.web.chat"]
    assert record.exc_info and "secret internal detail" in str(record.exc_info[1])
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/"), ("GET", "/static/app.js"), ("GET", "/static/app.css"), ("GET", "/api/menu"),
    ("GET", "/healthz"), ("GET", "/nowhere"), ("GET", "/static/missing.js"), ("POST", "/api/chat"),
])
async def test_every_response_carries_the_security_headers(client: TestClient, method: str, path: str) -> None:
    response = await client.request(method, path)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    for name, value in SECURITY.items():
        assert response.headers[name] == value


async def test_the_page_and_its_assets_are_served(client: TestClient) -> None:
    page = await client.get("/")
    assert page.status == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    text = await page.text()
    assert '<script src="/static/app.js" defer></script>' in text
    for asset in ("/static/app.js", "/static/app.css", "/static/favicon.svg"):
        assert (await client.get(asset)).status == 200


class _PageAudit(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        self.problems += [f"{tag} has an inline handler {n}" for n in names if n.startswith("on")]
        self.problems += [f"{tag} has an inline style" for n in names if n == "style"]
        if tag == "script":
            self._in_script = True
            if not (names.get("src") or "").startswith("/static/"):
                self.problems.append("a script that is not from /static/")
        if tag == "style":
            self.problems.append("a <style> block")
        for name in ("src", "href"):
            value = names.get(name) or ""
            if value and not value.startswith(("/", "#")):
                self.problems.append(f"{tag} {name}={value} is not a local asset")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append("an inline script")


def test_the_page_has_no_inline_scripts_or_external_assets() -> None:
    audit = _PageAudit()
    audit.feed((web.STATIC_DIR / "index.html").read_text(encoding="utf-8"))
    assert audit.problems == []
    for asset in web.STATIC_DIR.iterdir():
        text = asset.read_text(encoding="utf-8")
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), asset.name
        assert "@import" not in text and "url(" not in text, asset.name


def test_the_script_never_parses_data_as_html() -> None:
    script = (web.STATIC_DIR / "app.js").read_text(encoding="utf-8")
    for risky in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert risky not in script
    assert script.isascii()


# ---- the service lifecycle and `vocbot serve` ------------------------------------------------------------
async def test_the_app_starts_and_drains_the_log_with_its_cleanup(settings: Settings, engine: Engine) -> None:
    service = Service(settings, engine, Store(settings))
    async with TestClient(TestServer(web.create_app(service))) as c:
        assert service.store._thread is not None

        async def ask(n: int) -> str:
            return (await (await c.post("/api/chat", json={"text": f"问题{n}"})).json())["enquiry_id"]

        ids = await asyncio.gather(*(ask(n) for n in range(20)))
    assert service.store._thread is None
    assert {r["id"] for r in rows(settings, "SELECT id FROM enquiries")} == set(ids)


def _vocbot() -> list[str]:
    script = Path(sys.executable).with_name("vocbot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_on_port_0_prints_the_url_and_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    env = {**os.environ, "VOCBOT_DB": str(tmp_path / "e.db"), "VOCBOT_HASH_KEY": "k", "PYTHONUNBUFFERED": "1"}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    proc = subprocess.Popen([*_vocbot(), "serve", "--port", "0"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"open (http://127\.0\.0\.1:(\d+)/) ", line)
        assert match, line
        assert int(match.group(2)) > 0
        url = match.group(1)
        request = urllib_post(url + "api/chat", {"text": COLLOQUIAL_3PLUS2})
        assert request["intent"] == "pathway.3plus2"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err
    assert rows(dataclasses.replace(Settings(), db_path=tmp_path / "e.db"),
                "SELECT intent FROM enquiries") == [{"intent": "pathway.3plus2"}]


@pytest.mark.slow
def test_serve_on_a_busy_port_says_so_in_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "VOCBOT_DB": str(tmp_path / "e.db"), "VOCBOT_HASH_KEY": "k"}
        result = subprocess.run([*_vocbot(), "serve", "--port", str(port)], env=env, capture_output=True,
                                text=True, timeout=30, check=False)
    assert result.returncode == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def urllib_post(url: str, body: dict) -> dict:
    """POST JSON with the standard library."""
    import urllib.request

    request = urllib.request.Request(url, data=json.dumps(body).encode(),  # noqa: S310 - a 127.0.0.1 test URL
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - a 127.0.0.1 test URL
        return json.loads(response.read())


# ---- issue 12 row 9: deeply nested JSON on every endpoint --------------------------------------------
@pytest.mark.parametrize("path", ["/api/chat", "/api/choice", "/api/feedback", "/api/handoff"])
@pytest.mark.parametrize("body", [b"[" * 20000 + b"]" * 20000, b'{"text": ' + b"[" * 33 + b"]" * 33 + b"}"])
async def test_deeply_nested_json_gets_400_with_one_sentence(client: TestClient, path: str, body: bytes) -> None:
    response = await client.post(path, data=body, headers={"Content-Type": "application/json"})
    assert response.status == 400
    data = await response.json()
    assert data == {"error": "The request body nests arrays or objects more than 32 levels deep."}


# ---- issue 12 row 7: sessions minted and signed by the server, capped questions, stored bytes --------------
async def test_rotating_the_session_field_does_not_escape_the_per_session_limit(settings: Settings,
                                                                               engine: Engine) -> None:
    """The review's case: a new made-up `session` on every request was a new budget each time."""
    limited = dataclasses.replace(settings, rate_per_minute=3)
    async with serving(limited, engine) as c:
        statuses = [(await c.post("/api/chat", json={"text": "hello", "session": f"rotated-{n}"})).status
                    for n in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        assert (await c.post("/api/chat", json={"text": "hello"})).status == 429     # none at all: same bucket


async def test_a_forged_session_is_replaced_by_a_minted_one(client: TestClient) -> None:
    service: Service = client.server.app[web.SERVICE]
    real = service.mint_session()
    token, _, _ = real.rpartition(".")
    for forged in (token + ".aaaaaaaaaaaaaaaa", "s-1", token):
        _, data = await post(client, "/api/chat", {"text": "hello", "session": forged})
        assert data["session"] != forged and service.session_valid(data["session"])


async def test_feedback_handoff_and_choices_belong_to_the_session_that_asked(client: TestClient,
                                                                            settings: Settings) -> None:
    _, asked = await post(client, "/api/chat", {"text": COLLOQUIAL_3PLUS2})
    other = client.server.app[web.SERVICE].mint_session()
    for path, body in [("/api/feedback", {"value": -1}), ("/api/handoff", {}),
                       ("/api/choice", {"intent": "pathway.3plus4"})]:
        key = "parent_id" if path == "/api/choice" else "enquiry_id"
        status, data = await post(client, path, {**body, key: asked["enquiry_id"], "session": other})
        assert (status, data["error"]) == (403, "This enquiry was asked in another session.")
    assert rows(settings, "SELECT COUNT(*) AS n FROM feedback") == [{"n": 0}]
    assert rows(settings, "SELECT COUNT(*) AS n FROM handoffs") == [{"n": 0}]


async def test_long_questions_are_stored_capped_with_their_full_length(client: TestClient, settings: Settings,
                                                                      engine: Engine) -> None:
    question = COLLOQUIAL_3PLUS2 + "啊" * 5000
    status, data = await post(client, "/api/chat", {"text": question})
    assert status == 200
    [row] = rows(settings, "SELECT text, text_length, truncated FROM enquiries WHERE id = ?", data["enquiry_id"])
    assert row == {"text": question[:2000], "text_length": len(question), "truncated": 1}
    assert data["decision"] == engine.ask(question[:2000]).decision           # the matcher saw the same cap
    short = (await post(client, "/api/chat", {"text": "3加2"}))[1]
    assert rows(settings, "SELECT text_length, truncated FROM enquiries WHERE id = ?", short["enquiry_id"]) == [
        {"text_length": 3, "truncated": 0}]


async def test_an_address_storing_over_its_byte_budget_gets_429(settings: Settings, engine: Engine) -> None:
    """The review filled 175 MB in 25 s with 63 KB questions; now 2,000 characters each, 2 MB a minute
    (a tenth of that here, to keep the test short)."""
    assert Settings.from_env({}).address_bytes_per_minute == 2_000_000
    generous = dataclasses.replace(settings, rate_per_minute=100_000, address_rate_per_minute=0,
                                   address_bytes_per_minute=200_000)
    async with serving(generous, engine) as c:
        body = json.dumps({"text": "问" * 20_000}, ensure_ascii=False).encode()    # 60 KB before the cap
        statuses = []
        for _ in range(400):
            response = await c.post("/api/chat", data=body, headers={"Content-Type": "application/json"})
            statuses.append(response.status)
            if response.status == 429:
                assert "Too much text from your address" in (await response.json())["error"]
                break
        # 2,000 characters of 3 bytes = 6,000 bytes stored each: the 34th would pass 200,000
        assert statuses.count(200) == 33 and statuses[-1] == 429
    size = sum(p.stat().st_size for p in settings.db_path.parent.glob("enquiries.db*"))
    assert size < 2_000_000
