"""Choose scorer weights and decision thresholds on the labelled dev set, by measurement.

Usage: .venv/bin/python scripts/calibrate.py [tests/data/dev_questions.jsonl] [--write]

Scores every question once per scorer, then grid-searches the weights of the scorers and the
answer / margin / clarify thresholds. The objective counts a wrong confident answer (in scope, or
out of scope) as worse than a fallback, as the product requires. --write stores the best settings
in intents/matching.yaml (keeping its other keys).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.engine import Engine  # noqa: E402
from bot.evaluate import read_labelled  # noqa: E402

WRONG_COST = 2.0        # an in-scope question answered with the wrong intent
OOS_COST = 3.0          # an out-of-scope question answered confidently
CLARIFY_VALUE = 0.35    # a clarify that offers the right intent is worth something, not a full answer


def precompute(engine: Engine, rows: list[dict]) -> list[dict]:
    """Per question: each scorer's per-example scores, keyword bonuses and exact hits."""
    m = engine.matcher
    out = []
    for row in rows:
        norm = engine.normalizer(row["q"])
        item = {"row": row, "norm": norm, "exact": m._exact.get(norm), "scores": {}, "kw": None,
                "chars": len(norm.replace(" ", ""))}
        if norm and item["exact"] is None:
            item["scores"] = m.example_scores(norm)
            item["kw"] = m.keyword_hits(norm)
        out.append(item)
    return out


def rank_all(engine: Engine, items: list[dict], weights: dict[str, float], bonus: float) -> list[np.ndarray]:
    """Per question, per-intent scores for these weights."""
    m = engine.matcher
    result = []
    for item in items:
        if not item["scores"]:
            result.append(None)
            continue
        combined = sum(w * item["scores"][name] for name, w in weights.items())
        per_intent = np.maximum.reduceat(combined, m._offsets)
        if bonus:
            per_intent = per_intent + item["kw"] / m.keyword_bonus * bonus
        result.append(np.minimum(per_intent, 100.0))
    return result


def evaluate(engine: Engine, items: list[dict], ranked: list, t_answer: float, margin: float,
             t_clarify: float, window: float, min_chars: int) -> dict:
    """The decision rule of Engine.ask applied to precomputed scores."""
    ids = engine.matcher.intent_ids
    stats = {"correct": 0, "wrong": 0, "clarify_good": 0, "clarify_bad": 0, "oos_answered": 0, "oos": 0,
             "in_scope": 0, "top3": 0}
    for item, scores in zip(items, ranked, strict=True):
        row = item["row"]
        good = {row["intent"], *row["also"]} if row["intent"] else set()
        if row["intent"] is None:
            stats["oos"] += 1
        else:
            stats["in_scope"] += 1
        if item["exact"] is not None:
            decision, chosen, offered = "answer", ids[item["exact"]], {ids[item["exact"]]}
        elif scores is None:
            decision, chosen, offered = "fallback", None, set()
        else:
            order = np.argsort(-scores)[:4]
            best, second = scores[order[0]], scores[order[1]]
            offered = {ids[i] for i in order[:3]}
            if best < t_clarify or item["chars"] < min_chars:
                decision, chosen = "fallback", None
            elif best >= t_answer and best - second >= margin:
                decision, chosen = "answer", ids[order[0]]
            else:
                decision, chosen = "clarify", None
                offered = {ids[i] for i in order if best - scores[i] <= window} | {ids[order[1]]}
        if row["intent"] is None:
            stats["oos_answered"] += decision == "answer" and not str(chosen).startswith(("smalltalk", "support"))
            continue
        stats["top3"] += bool(good & offered)
        if decision == "answer":
            stats["correct" if chosen in good else "wrong"] += 1
        elif decision == "clarify":
            stats["clarify_good" if good & offered else "clarify_bad"] += 1
    n = max(stats["in_scope"], 1)
    stats["objective"] = (stats["correct"] + CLARIFY_VALUE * stats["clarify_good"] - WRONG_COST * stats["wrong"]
                          - OOS_COST * stats["oos_answered"])
    stats["top1"] = stats["correct"] / n
    stats["top3_rate"] = stats["top3"] / n
    stats["oos_rate"] = stats["oos_answered"] / max(stats["oos"], 1)
    return stats


def main() -> None:
    """Run the search and print (or write) the best settings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=str(ROOT / "tests" / "data" / "dev_questions.jsonl"))
    parser.add_argument("--write", action="store_true", help="store the result in intents/matching.yaml")
    args = parser.parse_args()
    engine = Engine.load(ROOT / "intents", ROOT / "content")
    rows = read_labelled(Path(args.data))
    items = precompute(engine, rows)
    best = None
    weight_grid = [w for w in itertools.product([0.0, 0.2, 0.35, 0.5, 0.65, 0.8], repeat=3)
                   if abs(sum(w) - 1.0) < 1e-6]
    for ws in weight_grid:
        weights = dict(zip(("token_set", "ratio", "char_set"), ws, strict=True))
        weights = {k: v for k, v in weights.items() if v}
        for bonus in (0.0, 8.0, 12.0, 16.0, 22.0):
            ranked = rank_all(engine, items, weights, bonus)
            for t_answer, margin, t_clarify in itertools.product(range(50, 86, 3), (0, 2, 4, 6, 8, 10),
                                                                 range(36, 66, 3)):
                if t_clarify > t_answer:
                    continue
                stats = evaluate(engine, items, ranked, t_answer, margin, t_clarify, 12.0, 2)
                key = (stats["objective"], stats["top1"])
                if best is None or key > best[0]:
                    best = (key, weights, bonus, t_answer, margin, t_clarify, stats)
    _, weights, bonus, t_answer, margin, t_clarify, stats = best
    settings = {"weights": weights, "keyword_bonus": bonus,
                "thresholds": {"answer": float(t_answer), "margin": float(margin), "clarify": float(t_clarify),
                               "clarify_window": 12.0, "min_chars": 2}}
    print(yaml.safe_dump(settings, allow_unicode=True, sort_keys=False))
    print(f"top-1 {stats['top1']:.3f}  top-3 {stats['top3_rate']:.3f}  wrong {stats['wrong']}  "
          f"clarify good/bad {stats['clarify_good']}/{stats['clarify_bad']}  "
          f"out-of-scope answered {stats['oos_rate']:.3f}")
    if args.write:
        path = ROOT / "intents" / "matching.yaml"
        current = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
        current.update(settings)
        header = "# Matching settings: written by scripts/calibrate.py; stopwords are edited by hand.\n"
        path.write_text(header + yaml.safe_dump(current, allow_unicode=True, sort_keys=False), encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
