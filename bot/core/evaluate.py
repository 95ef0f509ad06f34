"""`vocbot eval`: accuracy of the engine on labelled questions."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bot.core.engine import Engine
from bot.core.normalize import detect_lang
from bot.errors import DataError

NON_POLICY = ("smalltalk.", "support.")
LENGTHS = (("<=15", 15), ("16-40", 40), (">40", 10**9))
BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0001)


def read_labelled(path: Path) -> list[dict[str, Any]]:
    """Read `{"q", "intent", "also"}` lines (optional "second", "near_miss"); raise DataError naming the bad line."""
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(str(path), f"cannot be read as UTF-8 text ({exc}).") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(str(path), f"is not valid JSON ({exc.msg}).", line=number) from None
        if not isinstance(row, dict) or not isinstance(row.get("q"), str):
            raise DataError(str(path), "needs a text field `q`.", line=number)
        intent = row.get("intent")
        if intent is not None and not isinstance(intent, str):
            raise DataError(str(path), "`intent` must be an id or null.", line=number)
        second = row.get("second")
        if second is not None and not isinstance(second, str):
            raise DataError(str(path), "`second` must be an intent id.", line=number)
        rows.append({"q": row["q"], "intent": intent, "also": list(row.get("also") or []), "second": second,
                     "near_miss": bool(row.get("near_miss"))})
    return rows


def evaluate(engine: Engine, rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Top-1, top-3, clarify rate, fallback precision/recall, confusions and per-intent accuracy."""
    in_scope = top1 = top3 = clarify = 0
    null_rows = null_fallback = null_answered = null_policy_answered = fallbacks = 0
    per_intent: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    confused: Counter[tuple[str, str]] = Counter()
    unknown_labels = set()
    wrong = two_part = both = near = near_policy = 0
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    bins = [[0, 0] for _ in BINS[:-1]]
    for row in rows:
        reply = engine.ask(row["q"])
        label = row["intent"]
        top_right = label is not None and (reply.intent or (reply.candidates[0].intent if reply.candidates
                                                             else None)) in {label, *row.get("also", [])}
        b = next(i for i in range(len(BINS) - 1) if reply.confidence < BINS[i + 1])
        bins[b][0] += 1
        bins[b][1] += top_right
        if reply.decision == "fallback":
            fallbacks += 1
        if label is None:
            near += row.get("near_miss", False)
            if reply.decision == "answer" and not str(reply.intent).startswith(NON_POLICY):
                near_policy += row.get("near_miss", False)
            null_rows += 1
            null_fallback += reply.decision == "fallback"
            if reply.decision == "answer":
                null_answered += 1
                null_policy_answered += not str(reply.intent).startswith(NON_POLICY)
            continue
        if label not in engine.intents:
            unknown_labels.add(label)
        good = {label, *row["also"]}
        in_scope += 1
        per_intent[label][1] += 1
        ok = reply.decision == "answer" and reply.intent in good
        length = next(name for name, most in LENGTHS if len(row["q"]) <= most)
        for key in (f"length {length}", f"lang {detect_lang(row['q'])}", f"lang {detect_lang(row['q'])} {length}"):
            groups[key][0] += ok
            groups[key][1] += 1
        if row.get("second"):
            two_part += 1
            addressed = {reply.intent, *reply.also_intents} if reply.decision == "answer" else set()
            both += bool(addressed & good) and (row["second"] in addressed)
        if ok:
            top1 += 1
            per_intent[label][0] += 1
        elif reply.decision == "answer":
            wrong += 1
            confused[(label, str(reply.intent))] += 1
        clarify += reply.decision == "clarify"
        offered = {c.intent for c in reply.candidates} | {c.intent for c in reply.choices}
        top3 += bool(good & offered)

    def ratio(a: int, b: int) -> float:
        return round(a / b, 4) if b else 0.0

    return {
        "questions": in_scope + null_rows, "in_scope": in_scope, "out_of_scope": null_rows,
        "top1": ratio(top1, in_scope), "top3": ratio(top3, in_scope), "clarify_rate": ratio(clarify, in_scope),
        "fallback_precision": ratio(null_fallback, fallbacks), "fallback_recall": ratio(null_fallback, null_rows),
        "out_of_scope_answered": ratio(null_answered, null_rows),
        "out_of_scope_policy_answered": ratio(null_policy_answered, null_rows),
        "confused": [{"expected": a, "answered": b, "count": n} for (a, b), n in confused.most_common(10)],
        "per_intent": {k: {"correct": v[0], "total": v[1], "accuracy": ratio(v[0], v[1])}
                       for k, v in sorted(per_intent.items())},
        "unknown_labels": sorted(unknown_labels),
        "wrong_confident": ratio(wrong, in_scope),
        "two_part": two_part, "two_part_both": ratio(both, two_part),
        "near_miss": near, "near_miss_policy_answered": ratio(near_policy, near),
        "groups": {k: {"correct": v[0], "total": v[1], "accuracy": ratio(v[0], v[1])}
                   for k, v in sorted(groups.items())},
        "reliability": [{"from": BINS[i], "to": min(BINS[i + 1], 1.0), "count": n, "accuracy": ratio(c, n)}
                        for i, (n, c) in enumerate(bins)],
    }


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as a person reads it."""
    lines = [
        f"questions: {summary['questions']} ({summary['in_scope']} in scope, {summary['out_of_scope']} out of scope)",
        f"top-1 accuracy:            {summary['top1']:.1%}",
        f"top-3 (offered choices):   {summary['top3']:.1%}",
        f"clarify rate:              {summary['clarify_rate']:.1%}",
        f"fallback precision:        {summary['fallback_precision']:.1%}",
        f"fallback recall:           {summary['fallback_recall']:.1%}",
        f"out of scope answered:     {summary['out_of_scope_answered']:.1%} "
        f"(with a policy intent: {summary['out_of_scope_policy_answered']:.1%})",
        f"wrong confident answers:   {summary['wrong_confident']:.1%} of in scope",
        f"two-part, both addressed:  {summary['two_part_both']:.1%} of {summary['two_part']}",
        f"near misses answered:      {summary['near_miss_policy_answered']:.1%} of {summary['near_miss']} "
        "(with a policy intent)",
        "answered right, by length and language:",
    ]
    lines += [f"  {k:<18} {v['accuracy']:6.1%}  {v['correct']:4d}/{v['total']:<4d}"
              for k, v in summary["groups"].items()]
    lines.append("reliability (confidence of the top intent -> share where it was right):")
    lines += [f"  {b['from']:.1f}-{b['to']:.1f}  {b['count']:5d}  {b['accuracy']:6.1%}"
              for b in summary["reliability"]]
    lines += [
        "worst confusions (expected -> answered):",
    ]
    lines += [f"  {c['count']:3d}  {c['expected']} -> {c['answered']}" for c in summary["confused"]] or ["  none"]
    lines.append("per-intent accuracy (worst first):")
    worst = sorted(summary["per_intent"].items(), key=lambda kv: (kv[1]["accuracy"], kv[0]))
    lines += [f"  {v['accuracy']:6.1%}  {v['correct']:3d}/{v['total']:<3d} {k}" for k, v in worst]
    if summary["unknown_labels"]:
        lines.append(f"labels that are not intents: {', '.join(summary['unknown_labels'])}")
    return "\n".join(lines)
