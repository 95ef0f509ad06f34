"""Fitting the intent model with scikit-learn, and the cache under db/ that spares a refit at start-up.

scikit-learn is imported only inside `fit`, so a server with a warm cache never loads it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from bot.core.features import GROUPS, tokens
from bot.core.intents import IntentSet
from bot.core.model import OUT_OF_SCOPE, IntentModel
from bot.core.normalize import Normalizer, detect_lang
from bot.errors import VocbotError

log = logging.getLogger(__name__)

SEED = 20201204
# Chosen by measurement on the dev set (benchmarks/README.md, "Intent model"); intents/matching.yaml may override.
DEFAULTS = {"kind": "sgd", "C": 20.0, "alpha": 1e-5, "tol": 1e-4, "max_iter": 300, "oos_weight": 1.0}
# The one-vs-rest binary fits run on two threads; each class's seed is drawn up front, so the result is the same.
JOBS = 2
_CODE = ("features.py", "model.py", "training.py", "normalize.py", "pinyin.py")
KEEP_CACHED = 3
# Normalised texts and their tokens from earlier fits in this process: a retrain after one promoted question
# re-reads thousands of unchanged examples, and this is most of a fit's Python time.
_MEMO_LIMIT = 200_000
_norms: dict[tuple[int, str], str] = {}
_tokens: dict[tuple[str, tuple[str, ...]], list[str]] = {}


class TrainingError(VocbotError):
    """The intent model could not be fitted; the message says why."""


def code_version() -> str:
    """A hash of the modules that turn text into features and features into a model."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in _CODE:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:12]


def cache_key(intent_set: IntentSet, groups: tuple[str, ...] = GROUPS) -> str:
    """What a cached model must match: everything it learns from (the examples, keywords and out-of-scope
    questions with their classes, the synonyms, the model settings), the code and the feature groups.

    Answers, limits and decision thresholds are not in it: changing them needs no refit."""
    digest = hashlib.sha256()
    for text, label in _examples(intent_set):
        digest.update(f"{label}\t{text}\n".encode())
    settings = sorted((intent_set.matching.get("model") or {}).items())
    synonyms = sorted(intent_set.synonyms.items())
    digest.update(f"{synonyms}|{code_version()}|{','.join(groups)}|{settings}".encode())
    return digest.hexdigest()[:16]


def _examples(intent_set: IntentSet) -> Iterator[tuple[str, str]]:
    for intent in intent_set.intents.values():
        for lang in ("zh", "en"):
            for example in intent.all_examples(lang):
                yield example, intent.id
        for keyword in intent.keywords:
            yield keyword, intent.id
    for question in intent_set.out_of_scope:
        yield question, OUT_OF_SCOPE


def training_data(intent_set: IntentSet, normalizer: Normalizer) -> Iterator[tuple[str, str]]:
    """(normalised text, class) pairs: every example and keyword, and the out-of-scope questions.

    With `model.contexts` in matching.yaml, every question is also taught once inside a neutral narrative
    ("我家孩子今年初三，…"), the same for every class, so the words people wrap around an ask carry no class.
    """
    contexts = (intent_set.matching.get("model") or {}).get("contexts") or {}
    for text, label in _examples(intent_set):
        norm = _normalized(normalizer, text)
        if not norm:
            continue
        yield norm, label
        options = contexts.get(detect_lang(text))
        if options and len(norm) >= 4:
            context = options[zlib.crc32(text.encode("utf-8")) % len(options)]
            yield _normalized(normalizer, context.replace("{q}", text)), label


def _normalized(normalizer: Normalizer, text: str) -> str:
    key = (normalizer.signature, text)
    norm = _norms.get(key)
    if norm is None:
        if len(_norms) >= _MEMO_LIMIT:
            _norms.clear()
        norm = _norms[key] = normalizer(text)
    return norm


def _tokenized(text: str, groups: tuple[str, ...]) -> list[str]:
    key = (text, groups)
    found = _tokens.get(key)
    if found is None:
        if len(_tokens) >= _MEMO_LIMIT:
            _tokens.clear()
        found = _tokens[key] = tokens(text, groups)
    return found


def fit(intent_set: IntentSet, normalizer: Normalizer, groups: tuple[str, ...] = GROUPS,
        key: str = "") -> IntentModel:
    """Fit TF-IDF and a logistic regression on the intents; deterministic for the same files."""
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression, SGDClassifier
    except ImportError as exc:   # pragma: no cover - scikit-learn is a declared dependency
        raise TrainingError(f"scikit-learn is needed to train the intent model ({exc}).") from None
    pairs = list(training_data(intent_set, normalizer))
    labels = sorted({label for _, label in pairs})
    if len(labels) < 2:
        raise TrainingError("training needs at least two classes: intents, or an intent and the out-of-scope "
                            "questions (intents/out_of_scope.yaml).")
    settings = {**DEFAULTS, **(intent_set.matching.get("model") or {})}
    vectorizer = TfidfVectorizer(analyzer=lambda text: _tokenized(text, groups), sublinear_tf=True, dtype=np.float64)
    x = vectorizer.fit_transform([text for text, _ in pairs])
    y = np.array([labels.index(label) for _, label in pairs])
    if settings["kind"] == "lr":
        classifier = LogisticRegression(C=float(settings["C"]), max_iter=int(settings["max_iter"]),
                                        random_state=SEED)
    else:   # one-vs-rest logistic loss by SGD: as accurate here and 10x faster to fit (benchmarks/README.md)
        classifier = SGDClassifier(loss="log_loss", alpha=float(settings["alpha"]), max_iter=int(settings["max_iter"]),
                                   tol=float(settings["tol"]), n_jobs=JOBS, random_state=SEED)
    # The out-of-scope questions outnumber any one intent's examples; their weight is chosen on the dev set.
    oos = labels.index(OUT_OF_SCOPE) if OUT_OF_SCOPE in labels else -1
    weights = np.where(y == oos, float(settings["oos_weight"]), 1.0)
    classifier.fit(x, y, sample_weight=weights)
    vocabulary = {str(t): int(i) for t, i in vectorizer.vocabulary_.items()}
    coef = np.ascontiguousarray(classifier.coef_.T, dtype=np.float32)
    return IntentModel(tuple(labels[c] for c in classifier.classes_), vocabulary,
                       vectorizer.idf_.astype(np.float64), coef, classifier.intercept_.astype(np.float64),
                       key=key, groups=groups, exact=exact_index(intent_set, normalizer))


def exact_index(intent_set: IntentSet, normalizer: Normalizer) -> dict[str, str]:
    """Normalised curated example -> its intent, for examples that belong to exactly one intent."""
    owners: dict[str, set[str]] = {}
    for intent in intent_set.intents.values():
        for lang in ("zh", "en"):
            for example in intent.all_examples(lang):
                owners.setdefault(_normalized(normalizer, example), set()).add(intent.id)
    return {text: next(iter(ids)) for text, ids in owners.items() if text and len(ids) == 1}


def model_path(cache_dir: Path, key: str) -> Path:
    """The cache file of a model key."""
    return cache_dir / f"intent-model-{key}.npz"


def load_or_fit(intent_set: IntentSet, normalizer: Normalizer, cache_dir: Path | None) -> IntentModel:
    """The cached model for these files and this code, or a freshly fitted one (then cached)."""
    key = cache_key(intent_set)
    if cache_dir is not None:
        path = model_path(cache_dir, key)
        if path.exists():
            try:
                model = IntentModel.load(path)
                if model.key == key:
                    _touch(path)
                    return model
            except (OSError, ValueError, KeyError) as exc:
                log.warning("cached intent model %s is unreadable, refitting: %s", path, exc)
    started = time.perf_counter()
    try:
        model = fit(intent_set, normalizer, key=key)
    except TrainingError:
        raise
    except Exception as exc:   # any failure inside scikit-learn becomes one clear sentence
        log.exception("fitting the intent model failed")
        raise TrainingError(f"fitting the intent model failed: {type(exc).__name__}: {exc}") from None
    log.info("fitted the intent model (%d classes, %d features) in %.1f s", len(model.classes),
             len(model.vocabulary), time.perf_counter() - started)
    if cache_dir is not None:
        try:
            model.save(model_path(cache_dir, key))
            _prune(cache_dir, keep=model_path(cache_dir, key))
        except OSError as exc:
            log.warning("could not cache the intent model in %s: %s", cache_dir, exc)
    return model


def _touch(path: Path) -> None:
    """Mark a cached model as just used: pruning keeps the most recently used, not the newest fitted."""
    with contextlib.suppress(OSError):
        os.utime(path)


def _prune(cache_dir: Path, keep: Path) -> None:
    old = sorted((p for p in cache_dir.glob("intent-model-*.npz") if p != keep), key=lambda p: p.stat().st_mtime)
    for path in old[:-(KEEP_CACHED - 1) or None]:
        path.unlink(missing_ok=True)
