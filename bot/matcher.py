"""Fuzzy matching of a normalised question against every intent's examples and keywords."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import rjieba
from rapidfuzz import fuzz, process

from bot.intents import IntentSet
from bot.normalize import Normalizer

# Scorer weights, chosen by benchmarks/calibrate.py; matching.yaml may override them.
DEFAULT_WEIGHTS = {"token_set": 0.45, "ratio": 0.2, "char_set": 0.35}
DEFAULT_KEYWORD_BONUS = 12.0


@dataclass(frozen=True)
class Scored:
    """An intent and its match score (0-100)."""

    intent: str
    score: float


def tokens(text: str, stopwords: frozenset[str]) -> str:
    """Words of a normalised text (jieba segmentation for Chinese), stopwords removed, space-joined."""
    words = []
    for chunk in text.split():
        for word in rjieba.cut(chunk):
            word = word.strip()
            if word and word not in stopwords:
                words.append(word)
    return " ".join(words)


def char_bag(text: str) -> str:
    """Chinese characters and English words as separate tokens, for an order-free overlap score."""
    out = []
    for chunk in text.split():
        if chunk.isascii():
            out.append(chunk)
        else:
            out.extend(chunk)
    return " ".join(out)


class Matcher:
    """Index built once at load; `rank` scores one question against all intents in a few batched calls."""

    def __init__(self, intent_set: IntentSet, normalizer: Normalizer, settings: Mapping | None = None) -> None:
        settings = dict(settings or {})
        self.normalizer = normalizer
        self.stopwords = frozenset(normalizer.basic(w) for w in settings.get("stopwords", []))
        self.weights = {k: float(v) for k, v in (settings.get("weights") or DEFAULT_WEIGHTS).items() if v}
        self.keyword_bonus = float(settings.get("keyword_bonus", DEFAULT_KEYWORD_BONUS))
        self.intent_ids = list(intent_set.intents)
        texts: list[str] = []
        owners: list[int] = []
        exact: dict[str, set[int]] = {}
        for idx, intent in enumerate(intent_set.intents.values()):
            for lang in ("zh", "en"):
                for example in intent.all_examples(lang):
                    norm = normalizer(example)
                    if norm:
                        texts.append(norm)
                        owners.append(idx)
                        exact.setdefault(norm, set()).add(idx)
        order = np.argsort(np.asarray(owners), kind="stable")
        self._texts = [texts[i] for i in order]
        owners_sorted = np.asarray(owners)[order]
        self._offsets = np.searchsorted(owners_sorted, np.arange(len(self.intent_ids)))
        self._features = {
            "token_set": [tokens(t, self.stopwords) for t in self._texts],
            "ratio": [t.replace(" ", "") if not t.isascii() else t for t in self._texts],
            "char_set": [char_bag(t) for t in self._texts],
        }
        self._exact = {t: next(iter(ids)) for t, ids in exact.items() if len(ids) == 1}
        self._keywords: list[tuple[str, int]] = []
        for idx, intent in enumerate(intent_set.intents.values()):
            for kw in intent.keywords:
                norm = normalizer(kw)
                if norm:
                    self._keywords.append((norm, idx))

    @property
    def size(self) -> int:
        """How many example questions are indexed."""
        return len(self._texts)

    def features(self, norm: str) -> dict[str, str]:
        """The representations of a normalised question that the scorers compare."""
        return {"token_set": tokens(norm, self.stopwords),
                "ratio": norm.replace(" ", "") if not norm.isascii() else norm,
                "char_set": char_bag(norm)}

    def example_scores(self, norm: str) -> dict[str, np.ndarray]:
        """Each scorer's score of the question against every example, one array per scorer."""
        query = self.features(norm)
        scorers = {"token_set": fuzz.token_set_ratio, "ratio": fuzz.ratio, "char_set": fuzz.token_set_ratio}
        out = {}
        for name in self.weights:
            out[name] = process.cdist([query[name]], self._features[name], scorer=scorers[name],
                                      dtype=np.float32, workers=1)[0]
        return out

    def keyword_hits(self, norm: str) -> np.ndarray:
        """Per intent, the bonus for the longest keyword found in the question."""
        hits = np.zeros(len(self.intent_ids), dtype=np.float32)
        compact = norm.replace(" ", "")
        for kw, idx in self._keywords:
            needle = kw if kw.isascii() else kw.replace(" ", "")
            hay = norm if kw.isascii() else compact
            if needle in hay:
                if kw.isascii() and not _word_in(needle, norm):
                    continue
                hits[idx] = max(hits[idx], min(1.0, len(needle) / 4))
        return hits * self.keyword_bonus

    def rank(self, norm: str) -> list[Scored]:
        """All intents scored for a normalised question, best first."""
        if not norm:
            return []
        if norm in self._exact:
            best = self._exact[norm]
            return [Scored(self.intent_ids[best], 100.0)]
        combined = np.zeros(len(self._texts), dtype=np.float32)
        for name, scores in self.example_scores(norm).items():
            combined += self.weights[name] * scores
        per_intent = np.maximum.reduceat(combined, self._offsets)
        per_intent = np.minimum(per_intent + self.keyword_hits(norm), 100.0)
        order = np.argsort(-per_intent, kind="stable")
        return [Scored(self.intent_ids[i], round(float(per_intent[i]), 2)) for i in order]


def _word_in(needle: str, text: str) -> bool:
    padded = f" {text} "
    return f" {needle} " in padded or (not needle.isalpha() and needle in text)


def top(scored: Iterable[Scored], n: int) -> list[Scored]:
    """The first n of a ranking."""
    return list(scored)[:n]
