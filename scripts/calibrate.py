"""Choose the decision thresholds of the intent model on labelled questions (the dev set), by measurement.

Usage: .venv/bin/python scripts/calibrate.py [LABELLED.jsonl ...] [--write] [--check OTHER.jsonl]
(e.g. --check tests/data/dev_personas.jsonl: questions written from the plan and personas alone, never trained on)

The model is fitted once from intents/ (its settings under `model:` in intents/matching.yaml); then a grid
search over the answer, margin, clarify and second-part thresholds runs Engine.ask on every question. The
objective counts a wrong confident answer (in scope or out of scope) as worse than a fallback, as the product
requires. --write stores the result under `decision:` in intents/matching.yaml (other keys kept); --check
reports the chosen thresholds on another labelled file without using it for the choice. Never pass the
held-out test set as data: it is for --check only.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import yaml
from ruamel.yaml.comments import CommentedMap

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.editing import dump, load  # noqa: E402
from bot.core.engine import Engine  # noqa: E402
from bot.core.evaluate import evaluate, read_labelled  # noqa: E402

WRONG_COST = 2.0        # an in-scope question answered with the wrong intent
OOS_COST = 3.0          # an out-of-scope question answered confidently with a policy intent
CLARIFY_VALUE = 0.35    # a clarify that offers the right intent helps, but less than an answer
BOTH_VALUE = 0.5        # a two-part question whose second ask is addressed too
GRID = {"temperature": (0.7, 1.0), "answer": (0.25, 0.3, 0.4, 0.5, 0.6), "margin": (0.0, 0.1, 0.2),
        "clarify": (0.1, 0.15), "part_answer": (0.45, 0.6), "part_support": (0.2, 0.3)}


def objective(summary: dict) -> float:
    """Right answers, minus the cost of wrong and out-of-scope ones, plus a little for a helpful clarify."""
    n, o = summary["in_scope"], summary["out_of_scope"]
    return (summary["top1"] * n - WRONG_COST * summary["wrong_confident"] * n
            - OOS_COST * summary["out_of_scope_policy_answered"] * o
            + CLARIFY_VALUE * summary["clarify_rate"] * n + BOTH_VALUE * summary["two_part_both"] * summary["two_part"])


def describe(summary: dict) -> str:
    """One line of figures."""
    return (f"two-part both {summary['two_part_both']:.3f}  "
            f"top-1 {summary['top1']:.3f}  top-3 {summary['top3']:.3f}  wrong {summary['wrong_confident']:.3f}  "
            f"clarify {summary['clarify_rate']:.3f}  "
            f"out-of-scope answered {summary['out_of_scope_policy_answered']:.3f}")


def main() -> None:
    """Run the search and print (or write) the best thresholds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="*", default=[str(ROOT / "tests" / "data" / "dev_questions.jsonl")])
    parser.add_argument("--write", action="store_true", help="store the result in intents/matching.yaml")
    parser.add_argument("--check", action="append", default=[], help="report on this file too (not fitted)")
    args = parser.parse_args()
    if any(Path(p).name == "test_questions.jsonl" for p in args.data):
        parser.error("the held-out test set may only be passed to --check")
    engine = Engine.load(ROOT / "intents", ROOT / "content")
    rows = [row for path in args.data for row in read_labelled(Path(path))]
    base = dict(engine.thresholds)
    best = None
    for values in itertools.product(*GRID.values()):
        chosen = dict(zip(GRID, values, strict=True))
        if chosen["clarify"] > chosen["answer"]:
            continue
        engine.thresholds = {**base, **chosen}
        summary = evaluate(engine, rows)
        key = (round(objective(summary), 3), summary["top1"])
        if best is None or key > best[0]:
            best = (key, chosen, summary)
    _, chosen, summary = best
    decision = {**base, **chosen}
    print(yaml.safe_dump({"decision": decision}, sort_keys=False))
    print("fitted on", ", ".join(args.data), "\n  ", describe(summary))
    engine.thresholds = decision
    for path in args.check:
        print("check on", path, "\n  ", describe(evaluate(engine, read_labelled(Path(path)))))
    if args.write:
        path = ROOT / "intents" / "matching.yaml"
        # Round trip: the file's comments and the other sections stay as staff wrote them.
        current = load(path.read_text(encoding="utf-8")) if path.exists() else None
        if current is None:
            current = load("# Matching settings: the model's fitting settings and the decision thresholds, "
                           "written by scripts/calibrate.py.\n{}\n")
        flow = CommentedMap(decision)
        flow.fa.set_flow_style()
        current["decision"] = flow
        path.write_text(dump(current), encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
