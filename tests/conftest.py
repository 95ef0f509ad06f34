"""Shared fixtures: settings on a temporary database, the real shipped intents and content."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from bot.config import ROOT, Settings
from bot.core.engine import MODEL_CACHE, Engine
from bot.core.training import model_path
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


@pytest.fixture(scope="session")
def variant_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model cache for the tests' own copies of the intents: their fits never push the shipped model out of
    db/models (which keeps the few most recently used), so no later test refits it."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def _shipped_copy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shipped-copy-models")


@pytest.fixture
def shipped_copy_models(_shipped_copy_cache: Path, engine: Engine) -> Path:
    """A model cache for the tests that change a full copy of the shipped intents, shared by them (the same
    edit fits once) and holding the shipped model (hard-linked), so loading the unchanged copy fits nothing."""
    shipped = model_path(MODEL_CACHE, engine.model.key)
    linked = _shipped_copy_cache / shipped.name
    if shipped.exists() and not linked.exists():    # put back when a fit of an edited copy pruned it
        try:
            os.link(shipped, linked)
        except OSError:
            shutil.copyfile(shipped, linked)
    return _shipped_copy_cache


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
