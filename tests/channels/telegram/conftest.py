"""Telegram fixtures: the fake Bot API, a service configured for it with one admin, and the running bot."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fake_bot_api import FakeBotAPI
from telegram_harness import ADMIN, bot_settings, running_bot, running_service

from bot.config import Settings
from bot.core.engine import Engine
from bot.service import Service


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    """The fake Bot API server on a random port of 127.0.0.1."""
    async with FakeBotAPI() as server:
        yield server


@pytest.fixture
async def service(settings: Settings, engine: Engine, fake: FakeBotAPI) -> AsyncIterator[Service]:
    """A started service configured for Telegram with one admin and no staff chat."""
    async with running_service(bot_settings(settings, fake, admin_ids=frozenset({ADMIN})), engine) as svc:
        yield svc


@pytest.fixture
async def bot(service: Service, fake: FakeBotAPI) -> AsyncIterator[object]:
    """The running bot (polling) on the test module's `service`; every button press must be answered."""
    async with running_bot(service) as running:
        yield running
    assert fake.unanswered_queries() == [], "every button press and inline query must be answered"
