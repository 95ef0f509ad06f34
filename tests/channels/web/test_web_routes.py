"""GET and POST /api/route: every path of every flow reaches a result through the API; bad requests name
what is wrong; results are logged with ids only."""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.channels.web import chat as web
from bot.config import Settings
from bot.core.engine import Engine
from bot.log.store import Store
from bot.service import Service

HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
async def client(settings: Settings, engine: Engine) -> AsyncIterator[TestClient]:
    """A client on the web app, logging to the settings' temporary database; the walker is not a person, so
    the per-session limit is lifted (sessions are minted by the server: a walker cannot pick fresh ones)."""
    settings = dataclasses.replace(settings, rate_per_minute=100_000, address_rate_per_minute=0)
    service = Service(settings, engine, Store(settings))
    c = TestClient(TestServer(web.create_app(service)))
    await c.start_server()
    yield c
    await c.close()


async def walk(client: TestClient, flow: str, lang: str) -> list[tuple[dict[str, str], dict]]:
    """Answer every option of every step through POST /api/route; the results with the answers that led there."""
    results, pending = [], [{}]
    while pending:
        answers = pending.pop()
        # One session per path: a person is limited to VOCBOT_RATE_PER_MINUTE requests, the walker is not a person.
        session = "walker-" + "-".join(answers.values())
        response = await client.post("/api/route", json={"flow": flow, "answers": answers, "lang": lang,
                                                          "session": session})
        assert response.status == 200, await response.text()
        body = await response.json()
        if body["done"]:
            assert set(body) >= {"done", "result"} and "step" not in body
            results.append((answers, body["result"]))
            continue
        step = body["step"]
        assert set(step) >= {"id", "question", "options"} and step["question"] and len(step["options"]) >= 2
        assert step["id"] not in answers
        for option in step["options"]:
            assert set(option) == {"id", "label"} and option["label"]
            pending.append({**answers, step["id"]: option["id"]})
    return results


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_every_path_of_every_flow_reaches_a_result(client: TestClient, engine: Engine, lang: str) -> None:
    listing = await (await client.get(f"/api/route?lang={lang}")).json()
    flows = [f["id"] for f in listing["flows"]]
    assert {"student", "enterprise"} <= set(flows)
    for flow in flows:
        results = await walk(client, flow, lang)
        assert len(results) == len(list(engine.routes.paths(flow)))
        for answers, result in results:
            assert set(result) == {"title", "items", "not_in_plan", "ask"}
            assert result["items"], answers
            assert result["ask"], answers
            for item in result["items"]:
                assert set(item) == {"intent", "title", "why", "source"}
                assert item["intent"] in engine.intents
                assert item["title"] == engine.intents[item["intent"]].title[lang]
                assert item["source"] and all(c in engine.content.clauses for c in item["source"])
                assert item["why"].strip()
                # English may keep a Chinese term in brackets beside its translation, as the answers do.
                outside_brackets = re.sub(r"\([^)]*\)", "", item["why"])
                assert bool(HAN.search(outside_brackets)) == (lang == "zh"), item["why"]
            assert all(s.strip() for s in result["not_in_plan"])


async def test_results_are_logged_with_ids_only(client: TestClient, settings: Settings) -> None:
    body = {"flow": "student", "answers": {"who": "veteran", "want": "study"}, "lang": "zh", "session": "s1"}
    step = await (await client.post("/api/route", json={**body, "answers": {}})).json()
    assert step["done"] is False and step["step"]["id"] == "who"
    result = await (await client.post("/api/route", json=body)).json()
    assert result["done"] is True
    await client.close()
    with sqlite3.connect(settings.db_path) as db:
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute("SELECT * FROM enquiries")]
    assert len(rows) == 1                              # steps are not logged, the result is
    row = rows[0]
    assert (row["channel"], row["decision"], row["via"], row["audience"]) == ("web", "route", "route", "student")
    logged = json.loads(row["text"])
    assert logged == {"flow": "student", "profile": "veteran", "answers": {"who": "veteran", "want": "study"},
                      "intents": [i["intent"] for i in result["result"]["items"]]}
    assert row["intent"] == logged["intents"][0] and row["user_key"] and row["user_key"] != "s1"


@pytest.mark.parametrize(("body", "field", "value"), [
    ({"flow": "pilot"}, "flow", "pilot"),
    ({"flow": "student", "answers": {"age": "adult"}}, "step", "age"),
    ({"flow": "student", "answers": {"who": "astronaut"}}, "option", "astronaut"),
    ({"flow": "enterprise", "answers": {"who": "veteran"}}, "step", "who"),
    ({"flow": "student", "answers": {"want": "<script>"}}, "option", "<script>"),
])
async def test_unknown_flow_step_or_option_is_a_400_naming_it(client: TestClient, body: dict, field: str,
                                                              value: str) -> None:
    response = await client.post("/api/route", json={**body, "lang": "en"})
    assert response.status == 400
    error = await response.json()
    assert error["field"] == field and error["value"] == value
    assert repr(value) in error["error"]


@pytest.mark.parametrize("body", [
    {}, {"flow": 3}, {"flow": "student", "answers": ["who"]}, {"flow": "student", "answers": {"who": 1}},
    {"flow": "student", "lang": "fr"},
])
async def test_malformed_requests_are_422(client: TestClient, body: dict) -> None:
    response = await client.post("/api/route", json=body)
    assert response.status == 422
    assert "error" in await response.json()


async def test_chat_offers_the_route_finder_prefilled(client: TestClient) -> None:
    reply = await (await client.post("/api/chat", json={"text": "我是退役军人想读书", "session": "s2"})).json()
    assert reply["decision"] in ("answer", "clarify", "fallback") and reply["answer"]
    assert reply["route"] == {"flow": "student", "answers": {"who": "veteran", "want": "study"}}
    reply = await (await client.post("/api/chat", json={"text": "我们厂想招学徒", "session": "s2"})).json()
    assert reply["route"] == {"flow": "enterprise", "answers": {"goal": "apprentice"}}
    reply = await (await client.post("/api/chat", json={"text": "3加2是啥子意思", "session": "s2"})).json()
    assert reply["route"] is None
