"""Scoring a normalised question against every intent: rapidfuzz over the examples plus IDF-weighted terms.

Signals, chosen by measurement (scripts/calibrate.py): rapidfuzz `ratio` of the question against every
example (characters) and of their pinyin, a per-intent TF-IDF cosine over words and character pairs (one
index per language, one over pinyin), and keyword hits. `token_set_ratio` over jieba words was measured
too: it cost 2.5 of 4 ms per question and its best weight was 0-0.1, so it is not used.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import rjieba
from rapidfuzz import fuzz, process

from bot.core.intents import IntentSet
from bot.core.normalize import Normalizer
from bot.core.pinyin import looks_like_pinyin, syllables

# Chosen by scripts/calibrate.py on tests/data/dev_questions.jsonl; intents/matching.yaml overrides them.
DEFAULTS = {"tfidf_weight": 0.5, "keyword_bonus": 15.0, "pinyin_factor": 0.7}


@dataclass(frozen=True)
class Scored:
    """An intent and its match score (0-100)."""

    intent: str
    score: float


def words(text: str, stopwords: frozenset[str]) -> list[str]:
    """Words of a normalised text (jieba segmentation for Chinese), stopwords removed."""
    out = []
    for chunk in text.split():
        for word in (chunk,) if chunk.isascii() else rjieba.cut(chunk):
            # Single Latin letters and digits carry no topic ("x" of an HTML tag is not 1+X).
            if word and word not in stopwords and not (word.isascii() and len(word) == 1):
                out.append(word)
    return out


def terms(text: str, stopwords: frozenset[str]) -> list[str]:
    """Terms for the IDF signal: words, Chinese character pairs, English words without a plural s."""
    out = []
    for word in words(text, stopwords):
        if word.isascii():
            out.append("w:" + (word[:-1] if len(word) > 3 and word.endswith("s") else word))
        else:
            out.append("w:" + word)
    for chunk in text.split():
        if not chunk.isascii():
            out.extend("b:" + chunk[i:i + 2] for i in range(len(chunk) - 1))
    return out


def pinyin_terms(text: str, stopwords: frozenset[str]) -> list[str]:
    """Terms for the pinyin index: syllables and syllable pairs of the words that are not stopwords."""
    sy = syllables(" ".join(words(text, stopwords)))
    return ["p:" + s for s in sy] + ["q:" + a + b for a, b in itertools.pairwise(sy)]


def pinyin_compact(text: str, stopwords: frozenset[str]) -> str:
    """The syllables of the words that are not stopwords, run together."""
    return "".join(syllables(" ".join(words(text, stopwords))))


class TermIndex:
    """Per-intent TF-IDF vectors over terms; a question scores by cosine similarity with each intent."""

    def __init__(self, documents: list[tuple[int, str]], n_intents: int, stopwords: frozenset[str],
                 term_fn: Callable[[str, frozenset[str]], list[str]] = terms) -> None:
        self.stopwords = stopwords
        self.term_fn = term_fn
        counts = [(owner, Counter(term_fn(text, stopwords))) for owner, text in documents]
        holders: dict[str, set[int]] = defaultdict(set)
        for owner, counter in counts:
            for term in counter:
                holders[term].add(owner)
        self.idf = {t: math.log((n_intents + 1) / (len(h) + 0.5)) for t, h in holders.items()}
        self.vocab = {t: i for i, t in enumerate(self.idf)}
        matrix = np.zeros((len(self.vocab), n_intents), dtype=np.float32)
        for owner, counter in counts:
            for term, c in counter.items():
                matrix[self.vocab[term], owner] += (1 + math.log(c)) * self.idf[term]
        norms = np.linalg.norm(matrix, axis=0)
        self.matrix = matrix / np.where(norms == 0, 1, norms)

    def scores(self, norm: str) -> np.ndarray:
        """Cosine similarity (0-1) of the question with each intent."""
        counter = Counter(t for t in self.term_fn(norm, self.stopwords) if t in self.vocab)
        if not counter:
            return np.zeros(self.matrix.shape[1], dtype=np.float32)
        rows = [self.vocab[t] for t in counter]
        weights = np.array([(1 + math.log(c)) * self.idf[t] for t, c in counter.items()], dtype=np.float32)
        return (weights @ self.matrix[rows]) / float(np.linalg.norm(weights))


class Matcher:
    """Index built once at load; `rank` scores one question against all intents with batched calls."""

    def __init__(self, intent_set: IntentSet, normalizer: Normalizer, settings: Mapping | None = None) -> None:
        settings = dict(settings or {})
        self.normalizer = normalizer
        self.stopwords = frozenset(normalizer.basic(str(w)) for w in settings.get("stopwords", []))
        self.settings = {k: float(settings.get(k, v)) for k, v in DEFAULTS.items()}
        self.intent_ids = list(intent_set.intents)
        texts: list[str] = []
        owners: list[int] = []
        documents: dict[str, list[tuple[int, str]]] = {"zh": [], "en": []}
        self._keywords: list[tuple[str, int]] = []
        for idx, intent in enumerate(intent_set.intents.values()):
            for lang in ("zh", "en"):
                for example in intent.all_examples(lang):
                    norm = normalizer(example)
                    if norm:
                        texts.append(norm)
                        owners.append(idx)
                        documents[lang].append((idx, norm))
            for kw in intent.keywords:
                norm = normalizer(kw)
                if norm:
                    self._keywords.append((norm, idx))
                    documents["en" if norm.isascii() else "zh"].append((idx, norm))
        order = np.argsort(np.asarray(owners), kind="stable")
        self._texts = [texts[i] for i in order]
        self._offsets = np.searchsorted(np.asarray(owners)[order], np.arange(len(self.intent_ids)))
        self._compact = [_compact(t) for t in self._texts]
        exact: dict[str, set[int]] = defaultdict(set)
        for text, owner in zip(texts, owners, strict=True):
            exact[text].add(owner)
        self._exact = {t: next(iter(ids)) for t, ids in exact.items() if len(ids) == 1}
        # One index per language, so an English question is weighed against English wording only.
        self.term_indexes = [TermIndex(docs, len(self.intent_ids), self.stopwords) for docs in documents.values()]
        self.pinyin_index = TermIndex(documents["zh"], len(self.intent_ids), self.stopwords, pinyin_terms)
        self._pinyin = [pinyin_compact(t, self.stopwords) if not t.isascii() else "" for t in self._texts]

    @property
    def size(self) -> int:
        """How many example questions are indexed."""
        return len(self._texts)

    def exact(self, norm: str) -> str | None:
        """The intent whose example is exactly this normalised question, if exactly one has it."""
        idx = self._exact.get(norm)
        return None if idx is None else self.intent_ids[idx]

    def fuzzy_scores(self, norm: str) -> np.ndarray:
        """rapidfuzz ratio of the question against every example, in characters (0-100)."""
        return process.cdist([_compact(norm)], self._compact, scorer=fuzz.ratio, dtype=np.float32,
                             workers=1)[0]

    def uses_pinyin(self, norm: str) -> bool:
        """Chinese characters, or Latin letters that read as pinyin."""
        return not norm.isascii() or looks_like_pinyin(norm)

    def pinyin_scores(self, norm: str) -> tuple[np.ndarray, np.ndarray]:
        """Per example, ratio of the pinyin strings (0-100); per intent, the pinyin TF-IDF cosine (0-1)."""
        if not self.uses_pinyin(norm):
            return np.zeros(len(self._texts), dtype=np.float32), np.zeros(len(self.intent_ids), dtype=np.float32)
        compact = pinyin_compact(norm, self.stopwords)
        per_example = process.cdist([compact], self._pinyin, scorer=fuzz.ratio, dtype=np.float32,
                                    workers=1)[0]
        return per_example, self.pinyin_index.scores(norm)

    def term_scores(self, norm: str) -> np.ndarray:
        """Per intent, the best TF-IDF cosine over the language indexes (0-1)."""
        return np.maximum.reduce([index.scores(norm) for index in self.term_indexes])

    def keyword_hits(self, norm: str) -> np.ndarray:
        """Per intent, 0-1 for the longest of its keywords found in the question."""
        hits = np.zeros(len(self.intent_ids), dtype=np.float32)
        compact = _compact(norm)
        padded = f" {norm} "
        for kw, idx in self._keywords:
            found = f" {kw} " in padded if kw.isascii() and kw.replace(" ", "").isalnum() else _compact(kw) in compact
            if found:
                hits[idx] = max(hits[idx], min(1.0, len(_compact(kw)) / 4))
        return hits

    def combine(self, ratio: np.ndarray, pinyin: np.ndarray, tfidf: np.ndarray, pinyin_tfidf: np.ndarray,
                keywords: np.ndarray, tfidf_weight: float, bonus: float, pinyin_factor: float) -> np.ndarray:
        """Per-intent score from the signals: the best example's fuzzy score, cosine and keyword bonus."""
        per_example = np.maximum(ratio, pinyin_factor * pinyin)
        fuzzy = np.maximum.reduceat(per_example, self._offsets, axis=-1)
        cosine = np.maximum(tfidf, pinyin_factor * pinyin_tfidf)
        return np.minimum((1 - tfidf_weight) * fuzzy + tfidf_weight * 100 * cosine + bonus * keywords, 100.0)

    def rank(self, norm: str) -> list[Scored]:
        """All intents scored for a normalised question, best first."""
        if not norm:
            return []
        exact = self._exact.get(norm)
        s = self.settings
        pinyin, pinyin_tfidf = self.pinyin_scores(norm)
        scores = self.combine(self.fuzzy_scores(norm), pinyin, self.term_scores(norm), pinyin_tfidf,
                              self.keyword_hits(norm), s["tfidf_weight"], s["keyword_bonus"], s["pinyin_factor"])
        if exact is not None:   # a question staff curated word for word belongs to its intent
            scores[exact] = 100.0
        order = np.argsort(-scores, kind="stable")
        return [Scored(self.intent_ids[i], round(float(scores[i]), 2)) for i in order]


def _compact(text: str) -> str:
    """Chinese text without spaces; English keeps its word spaces."""
    return text if text.isascii() else text.replace(" ", "")
