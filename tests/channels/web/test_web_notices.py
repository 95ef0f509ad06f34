"""The web chat's opt-in notices: /api/notify, /api/notify/stop and /api/notices."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from loop_data import INTENT, QUESTION, write_intent

from bot.channels.web import chat as web
from bot.config import Settings
from bot.core.engine import Engine
from bot.log.store import Store
from bot.service import Service


@pytest.fixture
async def client(settings: Settings, tmp_path: Path, trimmed_intents: Path,
                 variant_models: Path) -> AsyncIterator[TestClient]:
    shutil.copytree(trimmed_intents, tmp_path / "intents")
    (tmp_path / "intents" / "learned.yaml").unlink(missing_ok=True)
    configured = dataclasses.replace(settings, intents_dir=tmp_path / "intents", model_dir=variant_models)
    service = Service(configured, Engine.load(configured.intents_dir, configured.content_dir, configured.model_dir),
                      Store(configured))
    async with TestClient(TestServer(web.create_app(service))) as c:
        yield c


def service_of(client: TestClient) -> Service:
    return client.server.app[web.SERVICE]


async def asked(client: TestClient, session: str | None = None) -> tuple[str, str]:
    """Ask the unanswered question; the enquiry id and the session (minted by the server on the first ask)."""
    fields = {"text": QUESTION, **({"session": session} if session else {})}
    body = await (await client.post("/api/chat", json=fields)).json()
    assert body["decision"] == "fallback"
    return body["enquiry_id"], body["session"]


async def test_opt_in_then_the_notice_arrives_once_on_the_next_load(client: TestClient) -> None:
    enquiry_id, s1 = await asked(client)
    response = await client.post("/api/notify", json={"enquiry_id": enquiry_id, "session": s1, "lang": "en"})
    assert response.status == 200
    assert (await response.json())["message"] == service_of(client).engine.content.message("optin_recorded_web", "en")
    again = await (await client.post("/api/notify", json={"enquiry_id": enquiry_id, "session": s1})).json()
    assert again["added"] is False
    assert (await (await client.post("/api/notices", json={"session": s1})).json())["notices"] == []
    service = service_of(client)
    write_intent(service.settings.intents_dir, service.settings.content_dir, service.settings.model_dir)
    assert await service.reload_engine() is None
    [notice] = (await (await client.post("/api/notices", json={"session": s1})).json())["notices"]
    assert (notice["question"], notice["decision"], notice["intent"]) == (QUESTION, "answer", INTENT)
    assert QUESTION in notice["notice"] and "三(一)4" in notice["answer"]
    assert (await (await client.post("/api/notices", json={"session": s1})).json())["notices"] == []


@pytest.mark.parametrize("session", ["someone-else", ""])
async def test_only_the_session_that_asked_may_opt_in(client: TestClient, session: str) -> None:
    enquiry_id, s2 = await asked(client)
    body = {"enquiry_id": enquiry_id, **({"session": session} if session else {})}
    assert (await client.post("/api/notify", json=body)).status == 404
    assert (await client.post("/api/notify", json={"enquiry_id": "nope", "session": s2})).status == 404


async def test_the_stop_link_withdraws_every_pending_request(client: TestClient) -> None:
    s3 = None
    for _ in range(2):
        enquiry_id, s3 = await asked(client, s3)
        await client.post("/api/notify", json={"enquiry_id": enquiry_id, "session": s3})
    body = await (await client.post("/api/notify/stop", json={"session": s3, "lang": "zh"})).json()
    assert body["withdrawn"] == 2
    assert body["message"] == service_of(client).engine.content.message("optin_stopped", "zh", n=2)
    body = await (await client.post("/api/notify/stop", json={"session": s3})).json()
    assert body["withdrawn"] == 0
    service = service_of(client)
    write_intent(service.settings.intents_dir, service.settings.content_dir, service.settings.model_dir)
    assert await service.reload_engine() is None
    assert (await (await client.post("/api/notices", json={"session": s3})).json())["notices"] == []


@pytest.mark.parametrize("path", ["/api/notify", "/api/notify/stop", "/api/notices"])
@pytest.mark.parametrize("body", ["not json", "[]", '{"session": 5}', '{"session": "\\u0000"}'])
async def test_bad_bodies_get_one_sentence(client: TestClient, path: str, body: str) -> None:
    response = await client.post(path, data=body, headers={"Content-Type": "application/json"})
    assert 400 <= response.status < 500
    assert "Traceback" not in await response.text()
