"""The fitted intent model, scored with numpy alone: TF-IDF weights and a linear classifier's coefficients.

scikit-learn fits it (bot/core/training.py); serving needs only the arrays, so start-up stays fast and the
cost of one question does not grow with the number of examples.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.core.features import GROUPS, tokens

OUT_OF_SCOPE = "__out_of_scope__"   # the class learned from intents/out_of_scope.yaml
RECENT = 4096


@dataclass(frozen=True)
class Scored:
    """An intent and its match score (0-100: the model's probability in percent)."""

    intent: str
    score: float


@dataclass(frozen=True)
class IntentModel:
    """Vocabulary, IDF and per-class weights; `probabilities` is the whole of serving."""

    classes: tuple[str, ...]
    vocabulary: dict[str, int]
    idf: np.ndarray          # (n_features,)
    coef: np.ndarray         # (n_features, n_classes), float32, so one question gathers a few rows
    intercept: np.ndarray    # (n_classes,)
    key: str = ""
    groups: tuple[str, ...] = GROUPS
    # Normalised curated example -> its intent (examples two intents share are left out): kept with the model,
    # since the same key covers it, so a start-up need not normalise every example again.
    exact: dict[str, str] = field(default_factory=dict)
    # The logits of recent texts: a long question's pieces are judged more than once, and people repeat questions.
    _recent: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False, compare=False)

    def logits(self, norm: str) -> np.ndarray:
        """Per-class linear scores of a normalised text (remembered for the last RECENT texts)."""
        found = self._recent.get(norm)
        if found is None:
            if len(self._recent) >= RECENT:
                self._recent.clear()
            found = self._recent[norm] = self._logits(norm)
            found.setflags(write=False)
        return found

    def _logits(self, norm: str) -> np.ndarray:
        counts = Counter(t for t in tokens(norm, self.groups) if t in self.vocabulary)
        if not counts:
            return self.intercept.astype(np.float64)
        rows = np.fromiter((self.vocabulary[t] for t in counts), dtype=np.int64, count=len(counts))
        tf = np.fromiter((1.0 + math.log(c) for c in counts.values()), dtype=np.float64, count=len(counts))
        weights = tf * self.idf[rows]
        weights /= np.linalg.norm(weights)
        return weights @ self.coef[rows].astype(np.float64) + self.intercept

    def probabilities(self, norm: str, temperature: float = 1.0) -> np.ndarray:
        """Per-class probabilities (softmax of the logits divided by a calibrated temperature)."""
        z = self.logits(norm) / temperature
        z = np.exp(z - z.max())
        return z / z.sum()

    @property
    def out_of_scope_index(self) -> int | None:
        """Where the out-of-scope class sits in `classes` (None for a model fitted without one)."""
        return self.classes.index(OUT_OF_SCOPE) if OUT_OF_SCOPE in self.classes else None

    def save(self, path: Path) -> None:
        """Write the model atomically (a temporary file renamed over the target)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = json.dumps({"classes": list(self.classes), "key": self.key, "groups": list(self.groups),
                           "vocabulary": sorted(self.vocabulary, key=self.vocabulary.__getitem__),
                           "exact": sorted(self.exact.items())}, ensure_ascii=False)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, idf=self.idf, coef=self.coef, intercept=self.intercept,
                         meta=np.frombuffer(meta.encode("utf-8"), dtype=np.uint8))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> IntentModel:
        """Read a saved model; raises OSError or ValueError when the file is missing or damaged."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(data["meta"].tobytes().decode("utf-8"))
            idf, coef, intercept = data["idf"], data["coef"], data["intercept"]
        vocabulary = {t: i for i, t in enumerate(meta["vocabulary"])}
        if coef.shape != (len(vocabulary), len(meta["classes"])) or idf.shape != (len(vocabulary),):
            raise ValueError(f"{path}: arrays do not match the vocabulary")
        return cls(tuple(meta["classes"]), vocabulary, idf, coef, intercept, meta["key"], tuple(meta["groups"]),
                   dict(meta.get("exact", ())))
