"""Choose the matcher's signal weights and the decision thresholds on labelled questions, by measurement.

Usage: .venv/bin/python scripts/calibrate.py [LABELLED.jsonl ...] [--write] [--check OTHER.jsonl]

Every question is scored once per signal (rapidfuzz ratio against every example, in characters and in
pinyin, TF-IDF cosines per intent, keyword hits); then a grid search over the weights and the answer / margin /
clarify thresholds applies Engine.ask's decision rule to all questions at once with numpy. The objective
counts a wrong confident answer (in scope or out of scope) as worse than a fallback, as the product
requires. --write stores the result in intents/matching.yaml (other keys kept); --check reports the
chosen settings on another labelled file without using it for the choice.
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

from bot.core.engine import Engine  # noqa: E402
from bot.core.evaluate import read_labelled  # noqa: E402

WRONG_COST = 2.0        # an in-scope question answered with the wrong intent
OOS_COST = 3.0          # an out-of-scope question answered confidently with a policy intent
CLARIFY_VALUE = 0.35    # a clarify that offers the right intent helps, but less than an answer
OOS_CLARIFY_COST = 0.6  # an out-of-scope question offered choices instead of an honest fallback
WINDOW = 12.0
MIN_CHARS = 2


class Signals:
    """Precomputed per-question signals and labels of one labelled file."""

    def __init__(self, engine: Engine, rows: list[dict]) -> None:
        m = engine.matcher
        self.engine = engine
        ids = m.intent_ids
        n, k = len(rows), len(ids)
        self.exact = np.full(n, -1)
        self.chars = np.zeros(n)
        self.good = np.zeros((n, k), dtype=bool)
        self.oos = np.array([r["intent"] is None for r in rows])
        self.non_policy = np.array([i.startswith(("smalltalk.", "support.")) for i in ids])
        self.ratio, self.pinyin = [], []
        self.pinyin_tfidf = np.zeros((n, k), dtype=np.float32)
        self.tfidf = np.zeros((n, k), dtype=np.float32)
        self.keywords = np.zeros((n, k), dtype=np.float32)
        limits = engine.intent_set.limits
        self.limit_match = np.zeros((len(limits), n), dtype=bool)
        self.limit_exempt = np.array([[iid in lim.exempt for iid in ids] for lim in limits], dtype=bool)
        for i, row in enumerate(rows):
            for label in [row["intent"], *row["also"]]:
                if label in m.intent_ids:
                    self.good[i, ids.index(label)] = True
            norm = engine.normalizer(row["q"])
            for r, lim in enumerate(limits):
                self.limit_match[r, i] = lim.matches(norm, row["q"][:4000].casefold())
            self.chars[i] = len(norm.replace(" ", ""))
            exact = m.exact(norm)
            if exact is not None:
                self.exact[i] = ids.index(exact)
            self.ratio.append(m.fuzzy_scores(norm) if norm else np.zeros(m.size))
            py, py_tfidf = m.pinyin_scores(norm) if norm else (np.zeros(m.size), np.zeros(k))
            self.pinyin.append(py)
            self.pinyin_tfidf[i] = py_tfidf
            if norm:
                self.tfidf[i] = m.term_scores(norm)
                self.keywords[i] = m.keyword_hits(norm)
        self.ratio, self.pinyin = np.stack(self.ratio), np.stack(self.pinyin)

    def scores(self, tfidf_weight: float, bonus: float, pinyin_factor: float) -> np.ndarray:
        """Per-question, per-intent scores for these weights (the matcher's own combine, on all rows)."""
        return self.engine.matcher.combine(self.ratio, self.pinyin, self.tfidf, self.pinyin_tfidf, self.keywords,
                                           tfidf_weight, bonus, pinyin_factor)

    def outcome(self, scores: np.ndarray, t_answer: float, margin: float, t_clarify: float,
                lead: float = 100.0) -> dict:
        """Engine.ask's decision rule on every question at once."""
        order = np.argsort(-scores, axis=1)[:, :4]
        rows = np.arange(len(scores))
        best, second = scores[rows, order[:, 0]], scores[rows, order[:, 1]]
        top = np.where(self.exact >= 0, self.exact, order[:, 0])
        exact = self.exact >= 0
        limited = ~exact & (self.limit_match & ~self.limit_exempt[:, top]).any(axis=0)
        fallback = limited | (~exact & ((best < t_clarify) | (self.chars < MIN_CHARS)))
        answer = exact | (~fallback & (((best >= t_answer) & (best - second >= margin)) | (best - second >= lead)))
        clarify = ~answer & ~fallback
        in_window = (best[:, None] - np.take_along_axis(scores, order, axis=1)) <= WINDOW
        in_window[:, :2] = True
        offered = np.take_along_axis(self.good, order, axis=1)
        right_top = self.good[rows, top]
        ins = ~self.oos
        stats = {
            "in_scope": int(ins.sum()), "oos": int(self.oos.sum()),
            "correct": int((answer & right_top & ins).sum()), "wrong": int((answer & ~right_top & ins).sum()),
            "clarify_good": int((clarify & ins & (offered & in_window).any(axis=1)).sum()),
            "clarify_bad": int((clarify & ins & ~(offered & in_window).any(axis=1)).sum()),
            "top3": int((ins & offered[:, :3].any(axis=1)).sum()),
            "oos_answered": int((answer & self.oos & ~self.non_policy[top]).sum()),
            "oos_fallback": int((fallback & self.oos).sum()),
            "oos_clarify": int((clarify & self.oos).sum()),
        }
        stats["objective"] = (stats["correct"] + CLARIFY_VALUE * stats["clarify_good"]
                              - WRONG_COST * stats["wrong"] - OOS_COST * stats["oos_answered"]
                              - OOS_CLARIFY_COST * stats["oos_clarify"])
        return stats


def describe(stats: dict) -> str:
    """One line of figures."""
    n, o = max(stats["in_scope"], 1), max(stats["oos"], 1)
    return (f"top-1 {stats['correct'] / n:.3f}  top-3 {stats['top3'] / n:.3f}  wrong {stats['wrong']}  "
            f"clarify good/bad {stats['clarify_good']}/{stats['clarify_bad']}  "
            f"out-of-scope answered {stats['oos_answered'] / o:.3f}  fallback on out-of-scope "
            f"{stats['oos_fallback'] / o:.3f}  clarify on out-of-scope {stats['oos_clarify'] / o:.3f}")


def main() -> None:
    """Run the search and print (or write) the best settings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="*", default=[str(ROOT / "tests" / "data" / "dev_questions.jsonl")])
    parser.add_argument("--write", action="store_true", help="store the result in intents/matching.yaml")
    parser.add_argument("--check", action="append", default=[], help="report on this file too (not fitted)")
    args = parser.parse_args()
    engine = Engine.load(ROOT / "intents", ROOT / "content")
    rows = [row for path in args.data for row in read_labelled(Path(path))]
    signals = Signals(engine, rows)
    best = None
    for weights in itertools.product((0.35, 0.4, 0.45, 0.5, 0.55, 0.6), (5.0, 10.0, 15.0, 20.0), (0.6, 0.7, 0.85)):
        scores = signals.scores(*weights)
        for t_answer, margin, t_clarify, lead in itertools.product(range(30, 64, 2), range(2, 12, 2), range(24, 50, 2),
                                                                   (8, 10, 12, 15, 20, 100)):
            if t_clarify > t_answer or lead <= margin:
                continue
            stats = signals.outcome(scores, t_answer, margin, t_clarify, lead)
            key = (stats["objective"], stats["correct"])
            if best is None or key > best[0]:
                best = (key, weights, (t_answer, margin, t_clarify, lead), stats)
    _, weights, (t_answer, margin, t_clarify, lead), stats = best
    tfidf_weight, bonus, pinyin_factor = weights
    settings = {"tfidf_weight": tfidf_weight, "keyword_bonus": bonus,
                "pinyin_factor": pinyin_factor,
                "thresholds": {"answer": float(t_answer), "margin": float(margin), "clarify": float(t_clarify),
                               "clarify_window": WINDOW, "min_chars": MIN_CHARS, "lead": float(lead)}}
    print(yaml.safe_dump(settings, allow_unicode=True, sort_keys=False))
    print("fitted on", ", ".join(args.data), "\n  ", describe(stats))
    for path in args.check:
        other = Signals(engine, read_labelled(Path(path)))
        print("check on", path, "\n  ",
              describe(other.outcome(other.scores(*weights), t_answer, margin, t_clarify, lead)))
    if args.write:
        path = ROOT / "intents" / "matching.yaml"
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        current = yaml.safe_load(text) or {}
        current.update(settings)
        header = "# Matching settings: weights and thresholds written by scripts/calibrate.py; stopwords by hand.\n"
        path.write_text(header + yaml.safe_dump(current, allow_unicode=True, sort_keys=False, width=110,
                                                 default_flow_style=None),
                        encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
