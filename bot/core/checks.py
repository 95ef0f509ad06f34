"""`vocbot intents check`: everything the loader validates, plus warnings staff should act on."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import fuzz, process

from bot.core.engine import Engine

NEAR_DUPLICATE = 92.0


@dataclass
class CheckReport:
    """Warnings found in data that loaded without errors."""

    intents: int = 0
    examples: int = 0
    warnings: list[str] = field(default_factory=list)


def ambiguous_pairs(engine: Engine, cutoff: float = NEAR_DUPLICATE) -> list[tuple[str, str, str, str, float]]:
    """Example questions (normalised) that are identical or nearly so across two intents."""
    texts, owners = [], []
    for intent in engine.intents.values():
        for lang in ("zh", "en"):
            for example in intent.all_examples(lang):
                norm = engine.normalizer(example)
                if norm:
                    texts.append(norm)
                    owners.append(intent.id)
    if not texts:
        return []
    matrix = process.cdist(texts, texts, scorer=fuzz.ratio, score_cutoff=cutoff, dtype=np.uint8, workers=-1)
    pairs = []
    rows, cols = np.nonzero(matrix)
    for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
        if i < j and owners[i] != owners[j]:
            pairs.append((owners[i], texts[i], owners[j], texts[j], float(matrix[i, j])))
    return sorted(pairs, key=lambda p: -p[4])


def check(engine: Engine, today: dt.date | None = None) -> CheckReport:
    """Review dates and ambiguity of a loaded engine."""
    today = today or dt.date.today()
    report = CheckReport(intents=len(engine.intents), examples=engine.example_count)
    for intent in engine.intents.values():
        if intent.review_by < today:
            report.warnings.append(f"{intent.file}: intent {intent.id}: review_by {intent.review_by} has passed; "
                                   "check the answer against the plan and move the date.")
        if intent.reviewed > today:
            report.warnings.append(f"{intent.file}: intent {intent.id}: reviewed {intent.reviewed} is in the future.")
    for a, ta, b, tb, score in ambiguous_pairs(engine):
        report.warnings.append(f"ambiguous examples ({score:.0f}): {a} {ta!r} ~ {b} {tb!r}")
    return report
