"""`vocbot intents check`: everything the loader validates, plus warnings staff should act on."""

from __future__ import annotations

import bisect
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

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
    # ratio = 2 * common / (len_a + len_b), so only texts of near lengths can reach the cutoff: comparing each
    # length with the longer texts it could match keeps the check fast as the examples grow (14k: 3.9 s -> 1.1 s).
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    lengths = [len(texts[i]) for i in order]
    stretch = (200 - cutoff) / cutoff
    found = []
    start = 0
    while start < len(order):
        end = bisect.bisect_right(lengths, lengths[start])
        reach = bisect.bisect_right(lengths, lengths[start] * stretch + 1e-9)
        group = [texts[i] for i in order[start:end]]
        partners = [texts[i] for i in order[start:reach]]
        matrix = process.cdist(group, partners, scorer=fuzz.ratio, score_cutoff=cutoff, dtype=np.uint8, workers=-1)
        for a, b in zip(*(m.tolist() for m in np.nonzero(matrix)), strict=True):
            i, j = sorted((order[start + a], order[start + b]))
            if (b >= end - start or a < b) and owners[i] != owners[j]:
                found.append((i, j, float(matrix[a, b])))
        start = end
    found.sort(key=lambda p: (-p[2], p[0], p[1]))
    return [(owners[i], texts[i], owners[j], texts[j], score) for i, j, score in found]


def _normalised_examples(engine: Engine) -> dict[str, str]:
    """Every curated example by its normalised form."""
    return {engine.normalizer(e): e for intent in engine.intents.values() for lang in ("zh", "en")
            for e in intent.all_examples(lang)}


def labelled_overlap(engine: Engine, data_dir: Path) -> list[tuple[str, str]]:
    """Training questions that also occur in a labelled set: (file, question).

    Neither out-of-scope questions nor curated examples may repeat a labelled question: the dev set measures
    tuning and the test set the result, and neither can measure questions the model was trained on."""
    corpus = {engine.normalizer(q): q for q in engine.intent_set.out_of_scope}
    examples = _normalised_examples(engine)
    found = []
    for path in sorted(data_dir.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                question = json.loads(line).get("q") if line.strip() else None
            except (json.JSONDecodeError, AttributeError):
                continue
            if not isinstance(question, str):
                continue
            norm = engine.normalizer(question)
            if norm in corpus:
                found.append((path.name, corpus[norm]))
            elif norm in examples:
                found.append((path.name, examples[norm]))
    return found


def check(engine: Engine, today: dt.date | None = None, data_dir: Path | None = None) -> CheckReport:
    """Review dates, ambiguity and, given the labelled sets' folder, out-of-scope questions copied from them."""
    today = today or dt.date.today()
    report = CheckReport(intents=len(engine.intents), examples=engine.example_count)
    for intent in engine.intents.values():
        if intent.review_by < today:
            report.warnings.append(f"{intent.file}: intent {intent.id}: review_by {intent.review_by} has passed; "
                                   "check the answer against the plan and move the date.")
        if intent.reviewed > today:
            report.warnings.append(f"{intent.file}: intent {intent.id}: reviewed {intent.reviewed} is in the future.")
    for name, question in labelled_overlap(engine, data_dir) if data_dir is not None else ():
        report.warnings.append(f"training question {question!r} is also in tests/data/{name}; a question that is "
                               "trained on cannot measure the model, remove it from intents/.")
    examples = _normalised_examples(engine)
    for question in engine.intent_set.out_of_scope:
        if engine.normalizer(question) in examples:
            report.warnings.append(f"out_of_scope.yaml: {question!r} is also a curated example; it cannot be both.")
    for a, ta, b, tb, score in ambiguous_pairs(engine):
        report.warnings.append(f"ambiguous examples ({score:.0f}): {a} {ta!r} ~ {b} {tb!r}")
    return report
