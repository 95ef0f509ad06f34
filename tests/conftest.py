"""Shared fixtures: settings on a temporary database, the real shipped intents and content."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from bot.config import ROOT, Settings
from bot.core.engine import Engine
from bot.service import Service


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The engine on the shipped intents, loaded once per test session."""
    return Engine.load(ROOT / "intents", ROOT / "content")


@pytest.fixture(scope="session")
def trimmed_intents(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped intents with a dozen examples per intent and language and a few off-topic questions per topic:
    a test that changes its copy of the intents (promote, edit) refits in a second, not the shipped model's seven."""
    folder = tmp_path_factory.mktemp("trimmed") / "intents"
    shutil.copytree(ROOT / "intents", folder)
    for path in folder.glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for intent in data.get("intents") or ():
            intent["examples"] = {lang: texts[:12] for lang, texts in intent.get("examples", {}).items()}
        for topic in data.get("out_of_scope") or ():
            for lang in ("zh", "en"):
                if lang in topic:
                    topic[lang] = topic[lang][:8]
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder


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
