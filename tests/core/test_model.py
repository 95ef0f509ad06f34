"""The served model: numpy scoring that matches scikit-learn, and a cache file that round-trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.core.engine import Engine
from bot.core.model import OUT_OF_SCOPE, IntentModel


def test_probabilities_sum_to_one_and_cover_every_intent(engine: Engine) -> None:
    p = engine.model.probabilities(engine.normalizer("3加2是啥子意思"))
    assert p.shape == (len(engine.model.classes),) and abs(float(p.sum()) - 1) < 1e-9
    assert set(engine.intents) | {OUT_OF_SCOPE} == set(engine.model.classes)


def test_unknown_words_score_the_intercept(engine: Engine) -> None:
    assert np.allclose(engine.model.logits("qqqqqqqqzzzz"), engine.model.intercept)


def test_matches_scikit_learn_on_the_same_text(engine: Engine) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    from bot.core.features import tokens
    from bot.core.training import training_data

    texts = [t for t, _ in training_data(engine.intent_set, engine.normalizer)]
    vec = TfidfVectorizer(analyzer=tokens, sublinear_tf=True)
    vec.fit(texts)
    question = engine.normalizer("企业投资办职业教育可以抵免教育费附加吗")
    x = vec.transform([question]).toarray()[0]
    mine = np.zeros(len(engine.model.vocabulary))
    for token, col in vec.vocabulary_.items():
        mine[engine.model.vocabulary[token]] = x[col]
    expected = mine @ engine.model.coef.astype(np.float64) + engine.model.intercept
    assert np.allclose(engine.model.logits(question), expected, atol=1e-5)


def test_save_and_load_round_trip(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    engine.model.save(path)
    again = IntentModel.load(path)
    assert again.classes == engine.model.classes and again.key == engine.model.key
    q = engine.normalizer("学分银行怎么用")
    assert np.allclose(again.probabilities(q), engine.model.probabilities(q))
    assert not list(tmp_path.glob("*.tmp"))


def test_damaged_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    path.write_bytes(b"not a model")
    with pytest.raises((ValueError, OSError)):
        IntentModel.load(path)
