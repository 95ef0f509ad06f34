"""Publish without restart: the engine is rebuilt in a worker thread while the channels keep answering."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from loop_data import INTENT, QUESTION, write_intent

from bot.channels.web import chat as web
from bot.config import ROOT, Settings
from bot.core.engine import Engine
from bot.log.store import Store
from bot.service import Service

ANSWERED = "3加2是啥子意思"


@pytest.fixture
async def client(settings: Settings, tmp_path: Path, shipped_copy_models: Path) -> AsyncIterator[TestClient]:
    shutil.copytree(ROOT / "intents", tmp_path / "intents")
    (tmp_path / "intents" / "learned.yaml").unlink(missing_ok=True)
    configured = dataclasses.replace(settings, intents_dir=tmp_path / "intents", rate_per_minute=1000,
                                     model_dir=shipped_copy_models)
    service = Service(configured, Engine.load(configured.intents_dir, configured.content_dir, configured.model_dir),
                      Store(configured))
    async with TestClient(TestServer(web.create_app(service))) as c:
        yield c


async def test_the_channels_answer_throughout_a_slow_publish(client: TestClient,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    service: Service = client.server.app[web.SERVICE]
    building = threading.Event()
    real = service.build_engine

    def slow_build() -> Engine:
        building.set()
        time.sleep(1.5)                    # a retrain would take this long, or longer
        return real()

    monkeypatch.setattr(service, "build_engine", slow_build)
    write_intent(service.settings.intents_dir, service.settings.content_dir, service.settings.model_dir)
    old = service.engine
    publish = asyncio.create_task(service.reload_engine())
    await asyncio.to_thread(building.wait, 5)
    answered_during, slowest = 0, 0.0
    while not publish.done():
        started = time.monotonic()
        web_reply = await (await client.post("/api/chat", json={"text": ANSWERED, "session": "s"})).json()
        telegram = await service.ask(ANSWERED, channel="telegram", user_id=7)
        slowest = max(slowest, time.monotonic() - started)
        assert web_reply["decision"] == telegram.reply.decision == "answer"
        answered_during += 1
        await asyncio.sleep(0.05)
    assert await publish is None
    assert answered_during >= 5 and slowest < 1.0          # never waited for the build
    assert service.engine is not old
    reply = service.engine.ask(QUESTION)
    assert (reply.decision, reply.intent) == ("answer", INTENT)


async def test_a_failing_build_changes_nothing_and_says_why(client: TestClient) -> None:
    service: Service = client.server.app[web.SERVICE]
    old = service.engine
    (service.settings.intents_dir / "pathways.yaml").write_text("intents: [", encoding="utf-8")
    error = await service.reload_engine()
    assert error is not None and "pathways.yaml" in error and "not valid YAML" in error
    assert service.engine is old
    body = await (await client.post("/api/chat", json={"text": ANSWERED})).json()
    assert body["decision"] == "answer"


async def test_publishes_at_once_run_one_after_the_other(client: TestClient) -> None:
    service: Service = client.server.app[web.SERVICE]
    write_intent(service.settings.intents_dir, service.settings.content_dir, service.settings.model_dir)
    results = await asyncio.gather(*(service.reload_engine(notify=False) for _ in range(3)))
    assert results == [None, None, None] and INTENT in service.engine.intents
