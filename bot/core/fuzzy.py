"""rapidfuzz where it wins: a short question that nearly repeats a curated example (a typo, an extra particle).

The model ranks; this re-ranks its first few candidates by the closest curated example of each. Only short
questions are compared, and each intent keeps at most `per_intent` examples here, so the cost of a question does
not grow with the number of examples. Settings live under `fuzzy:` in intents/matching.yaml.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from rapidfuzz import fuzz, process

DEFAULTS = {"max_chars": 30, "candidates": 3, "per_intent": 400, "accept": 88.0}


class NearMatch:
    """Curated examples by intent, compared with rapidfuzz's `ratio` against a short question."""

    def __init__(self, examples: Mapping[str, Iterable[str]], settings: Mapping | None = None) -> None:
        s = {**DEFAULTS, **(settings or {})}
        self.max_chars = int(s["max_chars"])
        self.candidates = int(s["candidates"])
        self.accept = float(s["accept"])
        longest = 2 * self.max_chars   # an example over twice the question's length cannot reach `accept`
        self._by_intent = {
            intent: tuple(sorted({e for e in texts if e and len(e) <= longest}, key=lambda e: (len(e), e))
                          [:int(s["per_intent"])])
            for intent, texts in examples.items()}

    def find(self, norm: str, ranked: Sequence[str]) -> tuple[str, float] | None:
        """The candidate intent with a curated example at least `accept` similar to the question, if any."""
        if not norm or len(norm) > self.max_chars or self.accept > 100:
            return None
        best: tuple[str, float] | None = None
        for intent in ranked[:self.candidates]:
            hit = process.extractOne(norm, self._by_intent.get(intent, ()), scorer=fuzz.ratio,
                                     score_cutoff=self.accept)
            if hit is not None and (best is None or hit[1] > best[1]):
                best = (intent, float(hit[1]))
        return best
