"""Fitting and the cache: deterministic, keyed by the intents and the code, never stale, failures explained."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.config import ROOT
from bot.core.engine import Engine
from bot.core.intents import load_intents
from bot.core.model import IntentModel
from bot.core.normalize import Normalizer
from bot.core.training import TrainingError, cache_key, fit, load_or_fit, model_path


@pytest.fixture
def small(trimmed_intents: Path, tmp_path: Path) -> Path:
    """A fresh copy of the trimmed intents for one test to change."""
    return Path(shutil.copytree(trimmed_intents, tmp_path / "intents"))


def test_fitting_is_deterministic(small: Path, tmp_path: Path) -> None:
    """The same files give the same model, in this process and in another one (another hash seed)."""
    iset = load_intents(small)
    first = fit(iset, Normalizer(iset.synonyms), key="k")
    cache = tmp_path / "models"
    code = ("import sys; from pathlib import Path; from bot.core.intents import load_intents; "
            "from bot.core.normalize import Normalizer; from bot.core.training import load_or_fit; "
            "s = load_intents(Path(sys.argv[1])); load_or_fit(s, Normalizer(s.synonyms), Path(sys.argv[2]))")
    subprocess.run([sys.executable, "-c", code, str(small), str(cache)], cwd=ROOT, check=True,
                   env={**os.environ, "PYTHONHASHSEED": "12345"}, timeout=120)
    other = IntentModel.load(model_path(cache, cache_key(iset)))
    assert other.classes == first.classes and other.vocabulary == first.vocabulary
    assert np.array_equal(other.coef, first.coef) and np.array_equal(other.intercept, first.intercept)


def test_cache_is_written_then_reused(small: Path, tmp_path: Path) -> None:
    iset = load_intents(small)
    norm = Normalizer(iset.synonyms)
    cache = tmp_path / "models"
    first = load_or_fit(iset, norm, cache)
    assert model_path(cache, cache_key(iset)).exists()
    second = load_or_fit(iset, norm, cache)
    assert second.key == first.key and np.array_equal(second.coef, first.coef)


def test_changed_yaml_is_never_served_by_a_stale_model(small: Path, tmp_path: Path) -> None:
    cache = tmp_path / "models"
    before = Engine.load(small, ROOT / "content", cache)
    path = small / "learned.yaml"
    path.write_text("examples:\n  cert.credit_bank:\n    zh: [学分存折咋个开户]\n", encoding="utf-8")
    after = Engine.load(small, ROOT / "content", cache)
    assert after.model.key != before.model.key
    assert after.ask("学分存折咋个开户").intent == "cert.credit_bank"
    assert len(list(cache.glob("intent-model-*.npz"))) == 2


def test_damaged_cache_is_refitted(small: Path, tmp_path: Path) -> None:
    iset = load_intents(small)
    cache = tmp_path / "models"
    cache.mkdir()
    model_path(cache, cache_key(iset)).write_bytes(b"garbage")
    model = load_or_fit(iset, Normalizer(iset.synonyms), cache)
    assert model.key == cache_key(iset)


def test_failed_training_says_why(small: Path) -> None:
    iset = load_intents(small)
    one = dataclasses.replace(iset, intents=dict(list(iset.intents.items())[:1]), out_of_scope=())
    with pytest.raises(TrainingError, match="at least two classes"):
        load_or_fit(one, Normalizer(), None)


def test_bad_setting_becomes_a_training_error(small: Path) -> None:
    iset = load_intents(small)
    broken = dataclasses.replace(iset, matching={**iset.matching, "model": {"alpha": -1}})
    with pytest.raises(TrainingError, match="fitting the intent model failed"):
        load_or_fit(broken, Normalizer(iset.synonyms), None)


def test_out_of_scope_corpus_is_large_and_not_from_the_labelled_sets(engine: Engine) -> None:
    import json

    corpus = {engine.normalizer(q) for q in engine.intent_set.out_of_scope}
    assert len(engine.intent_set.out_of_scope) >= 1500
    for path in (ROOT / "tests" / "data").glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                assert engine.normalizer(json.loads(line)["q"]) not in corpus, (path.name, line)


def test_pruning_keeps_the_most_recently_used_models(engine: Engine, tmp_path: Path) -> None:
    """A model loaded often (the shipped one) survives fits of edited intents, so it is not refitted."""
    import os

    from bot.core import training

    cache = tmp_path / "models"
    shipped = model_path(cache, engine.model.key)
    engine.model.save(shipped)
    for age, name in enumerate(("a", "b", "c")):
        other = model_path(cache, name)
        other.write_bytes(b"x")
        os.utime(other, (1_000 + age, 1_000 + age))
    os.utime(shipped, (500, 500))                       # fitted first ...
    assert load_or_fit(engine.intent_set, engine.normalizer, cache).key == engine.model.key   # ... used now
    newest = model_path(cache, "d")
    newest.write_bytes(b"x")
    training._prune(cache, keep=newest)
    assert sorted(p.name for p in cache.glob("*.npz")) == sorted([shipped.name, model_path(cache, "c").name,
                                                                  newest.name])


def test_the_exact_index_is_kept_with_the_model(engine: Engine, tmp_path: Path) -> None:
    """A warm start reads the normalised curated examples from the cache instead of normalising them again."""
    from bot.core.model import IntentModel
    from bot.core.training import exact_index

    assert engine.model.exact and engine._exact == exact_index(engine.intent_set, engine.normalizer)
    engine.model.save(tmp_path / "m.npz")
    assert IntentModel.load(tmp_path / "m.npz").exact == engine.model.exact


def test_a_model_fitted_on_other_examples_does_not_lend_its_exact_index(engine: Engine) -> None:
    learned = dataclasses.replace(engine.intents["pathway.3plus2"], learned={"zh": ("三加二到底要读几年哦",)})
    iset = dataclasses.replace(engine.intent_set, intents={**engine.intents, "pathway.3plus2": learned})
    other = Engine(iset, engine.content, engine.menu, model=engine.model)
    assert other.exact(other.normalizer("三加二到底要读几年哦")) == "pathway.3plus2"
    assert engine.exact(engine.normalizer("三加二到底要读几年哦")) is None
