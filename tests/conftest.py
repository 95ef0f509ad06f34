"""Shared fixtures: settings on a temporary database, the real shipped intents and content."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import ROOT, Settings
from bot.core.engine import Engine
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
    from bot.log.store import Store

    svc = Service(settings, engine, Store(settings))
    svc.start()
    yield svc
    svc.close()
