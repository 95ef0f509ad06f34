"""Shared fixtures: settings on a temporary database, the real shipped intents and content."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fake_bot_api import FakeBotAPI
from telegram_harness import running_bot

from bot.config import ROOT, Settings
from bot.engine import Engine
from bot.service import Service


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The engine on the shipped intents, loaded once per test session."""
    return Engine.load(ROOT / "intents", ROOT / "content")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a temporary database and a fixed pseudonym key; no Telegram."""
    return dataclasses.replace(Settings.from_env({}), db_path=tmp_path / "enquiries.db", hash_key="test-key",
                               port=0)


@pytest.fixture
async def service(settings: Settings, engine: Engine) -> AsyncIterator[Service]:
    """A started service (writer thread running) on the temporary database."""
    from bot.store import Store

    svc = Service(settings, engine, Store(settings))
    svc.start()
    yield svc
    svc.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    """The fake Bot API server on a random port of 127.0.0.1 (Telegram tests)."""
    async with FakeBotAPI() as server:
        yield server


@pytest.fixture
async def bot(service: Service, fake: FakeBotAPI) -> AsyncIterator[object]:
    """The running bot (polling) on the test module's `service`; every button press must be answered."""
    async with running_bot(service) as running:
        yield running
    assert fake.unanswered_queries() == [], "every button press and inline query must be answered"
