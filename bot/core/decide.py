"""From the model's probabilities to a decision: answer, clarify or fallback, and the second ask of a question.

The thresholds are chosen by scripts/calibrate.py on the dev set and stored in intents/matching.yaml
(`decision:`); a wrong confident answer costs more than a fallback.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from bot.core.followups import Followup, Followups
from bot.core.model import IntentModel, Scored
from bot.core.normalize import simplified

DEFAULTS = {"temperature": 1.0, "answer": 0.3, "margin": 0.0, "clarify": 0.12, "window": 0.2, "part_answer": 0.45,
            "part_support": 0.3, "part_ask": 0.3, "part_story": 0.7, "part_compare": 0.6, "silent_answer": 0.45,
            "part_chars": 4, "min_chars": 2}
NON_POLICY = ("smalltalk.", "support.")
# "想问培训补贴的事，该找哪个部门": whom to ask leads the reply when the topic named first is not itself asked.
LEADS_ALWAYS = ("policy.contact",)
# Where a question turns to a second ask: punctuation, spaces between Chinese phrases, and joining words.
_PARTS = re.compile(r"[，,。.？?！!；;：:\n]+|(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])"
                    r"|另外|还有|以及|而且|并且|同时|顺便问"
                    r"|(?i:\b(?:and also|also|and|plus|as well as|besides)\b)")
_PIECES = re.compile(f"({_PARTS.pattern})")   # the same, keeping what joined the pieces
# What makes a piece read as an ask rather than as the story around it: a question mark, a question word or a
# request to explain. Mid-piece "is a"/"are the" are left out: "Our group is a large manufacturer" tells.
_ASK = re.compile(r"[？?]|是.{1,20}还是|还是一样|还是不一样"
                  r"|吗|么|嘛|呢|不$|没$|啥|什么|咋|怎么|怎样|如何|哪|几|多少|好多|能不能|可不可以|是不是|有没有"
                  r"|要不要|会不会|请问|想问|问下|问一下|算不算|行不行|得不得|可以不|能否|是否|([\u4e00-\u9fff])[不没]\1"
                  r"|有没得|莫得|没得$|得不$|多久|多长|好久|几时"
                  r"|(?i:\b(?:whats|hows|wheres|whos)\b"
                  r"|^\s*(?:what|how|can|could|is|are|do|does|did|will|would|which|who|where|when|why|should|may"
                  r"|any|has|have)\b|\b(?:tell me|explain|wondering|want to know|like to know|please|what|how|which"
                  r"|whether|who|where|when|why)\b"
                  r"|\b(?:is|are|can|could|do|does|did|will|would|should|has|have)"
                  r" (?:that|this|it|there|they|he|she|i|we|you|my|our)\b)")
# A request to be told marks an ask, but it asks nothing by itself: "学校老师想问，…" introduces the next piece,
# and "想问培训补贴的事" names a topic without a question about it.
_PREFACE = re.compile(r"(?:想|要)?(?:问|请问|问下|问一下|咨询|了解|打听)(?:一下|下)?$")
_REQUEST = re.compile(r"想问|请问|问下|问一下|(?i:\b(?:please|tell me|explain|wondering|want to know|like to know)\b)")

# A comparison names two things in one piece ("3+2和五年一贯制有啥区别"): each side is judged alone too.
_COMPARE = re.compile(r"区别|不同|不一样|一样吗|一样不|哪个好|哪个更|哪种|比较|对比"
                      r"|(?i:\bvs\b|\bversus\b|\bdiffer|\bcompared?\b|\bbetter\b)")
_SIDES = re.compile(r"和|跟|与|同|还是|或者|或是|(?i:\b(?:or|and|vs|versus|compared (?:to|with)|from|than)\b)")


@dataclass(frozen=True)
class Judgement:
    """What the model makes of one text: ranked intents (out-of-scope class left out) and the decision."""

    decision: str
    ranked: tuple[Scored, ...]
    confidence: float
    out_of_scope: float

    @property
    def top(self) -> str | None:
        """The best in-scope intent."""
        return self.ranked[0].intent if self.ranked else None


def thresholds(settings: Mapping | None) -> dict[str, float]:
    """The decision thresholds, defaults overridden by matching.yaml's `decision` mapping."""
    return {k: float((settings or {}).get(k, v)) for k, v in DEFAULTS.items()}


def judge(model: IntentModel, norm: str, t: Mapping[str, float]) -> Judgement:
    """Rank the intents of a normalised text and decide with the thresholds."""
    probs = model.probabilities(norm, t.get("temperature", 1.0))
    oos = model.out_of_scope_index
    p_oos = float(probs[oos]) if oos is not None else 0.0
    probs = probs.copy()
    if oos is not None:
        probs[oos] = -1.0
    order = np.argsort(-probs, kind="stable")[:len(probs) - (oos is not None)]
    ranked = tuple(Scored(model.classes[i], round(float(probs[i]) * 100, 2)) for i in order)
    best = float(probs[order[0]])
    second = float(probs[order[1]]) if len(order) > 1 else 0.0
    chars = len(norm.replace(" ", ""))
    if chars < t["min_chars"] or p_oos >= best:
        decision = "fallback"
    elif best >= t["answer"] and best - second >= t["margin"]:
        decision = "answer"
    elif best >= t["clarify"]:
        decision = "clarify"
    else:
        decision = "fallback"
    return Judgement(decision, ranked, round(best, 4), round(p_oos, 4))


def clarify_choices(judgement: Judgement, t: Mapping[str, float], most: int = 4) -> list[str]:
    """The intents offered when unsure: those close to the best, at least two."""
    best = judgement.ranked[0].score
    close = [s.intent for s in judgement.ranked[:most] if best - s.score <= t["window"] * 100]
    return close if len(close) >= 2 else [s.intent for s in judgement.ranked[:2]]


def parts(text: str) -> list[str]:
    """The pieces of a question between punctuation and joining words (the whole text when there is one)."""
    pieces = [p.strip() for p in _PARTS.split(text) if p and p.strip()]
    return pieces or [text]


def pieces_read(text: str) -> list[tuple[str, bool]]:
    """The pieces of a question, each with whether it reads as an ask: by its words or a question mark after it."""
    split = _PIECES.split(text)
    out: list[tuple[str, bool]] = []
    for n in range(0, len(split), 2):
        piece = split[n].strip() if split[n] else ""
        if piece:
            after = split[n + 1] if n + 1 < len(split) else ""
            asked = _ASK.search(_PREFACE.sub("", simplified(piece)))
            out.append((piece, bool(asked or "?" in after or "？" in after)))
    return out


def is_question(piece: str) -> bool:
    """Whether a piece asks something by a question word or mark, not only by a request to be told."""
    return bool(_ASK.search(_REQUEST.sub(" ", simplified(piece))))


def asks(text: str) -> list[str]:
    """The asks of a question, each with the piece of story just before it ("想去读个中专 可以不"); the whole
    pieces when none reads as an ask. The rest of the story is not the ask."""
    read = pieces_read(text)
    found = [(f"{read[n - 1][0]} {piece}" if n and not read[n - 1][1] else piece)
             for n, (piece, ask) in enumerate(read) if ask]
    return found or [piece for piece, _ in read] or [text]


def compared(text: str) -> list[str]:
    """The sides of the comparisons a question makes ("3+2和五年一贯制有啥区别" -> "3+2", "五年一贯制有啥区别")."""
    return [side.strip() for piece in parts(text) if _COMPARE.search(piece)
            for side in _SIDES.split(piece) if side and side.strip()]


def topicless(followups: Followups, norm: str) -> Followup | None:
    """The kind of topicless ask a normalised text is nothing but ("要交钱不", "who do I ask"), if any."""
    return followups.topicless(norm, _ASK)


def followup_alone(followups: Followups, norm: str, j: Judgement, t: Mapping[str, float],
                   after: str | None = None) -> Judgement:
    """A question that is only a topicless ask ("怎么报名", "要钱不") asks it of the policy topic the user was
    just answered with (`after`): the intent followups.yaml names for it after that topic, else that topic again
    (its answer leads with what the plan does not say). With no such topic and an unsure model, it asks it of
    vocational education (the kind's `alone`). The rule vouches for the intent as the answer threshold would;
    the model's own probability is kept when higher."""
    kind = topicless(followups, norm)
    if kind is None:
        return j
    context = after if after is not None and not after.startswith(NON_POLICY) else None
    meant = (kind.after(context) or context) if context else (kind.alone if j.decision != "answer" else None)
    if meant is None:
        return j
    ranked = tuple(sorted(j.ranked, key=lambda s: s.intent != meant))   # stable: the rule's intent first
    return Judgement("answer", ranked, round(max(ranked[0].score / 100, t["answer"]), 4), j.out_of_scope)


def second_asks(model: IntentModel, text: str, main: str, normalize: Callable[[str], str],
                t: Mapping[str, float], near: tuple[str, ...] = (),
                followups: Followups | None = None) -> list[tuple[str, str]]:
    """Other intents a question also asks about in its own pieces: (intent, normalised piece).

    A piece counts when the model is confident of it alone (`part_answer`), or fairly sure (`part_support`) of
    an intent the whole question also ranks high (`near`), or, when the piece reads as an ask, `part_ask` sure.
    A piece of the story around the asks counts only when the model is `part_story` sure of it. Each side of a
    comparison counts when the model is `part_compare` sure of it. A topicless ask ("咋个报名") counts for the
    intent it means after `main` (intents/followups.yaml), and so does such an ask inside an ask about a topic
    ("…? Which department approves a company's claim for the credit?") unless the model reads that piece as
    off-topic ("我们老师该去哪里投诉" about a private school's wages)."""
    read = pieces_read(text)
    norms = [normalize(piece) for piece, _ in read] if len(read) > 1 else []   # each piece normalised once
    judged = functools.cache(lambda norm: judge(model, norm, t))               # and judged once
    found = _piece_asks(judged, read, norms, main, t, near) if norms else []
    if followups is not None and norms:
        for (_, ask), norm in zip(read, norms, strict=True):
            for intent in _followup_intents(judged, followups, norm, ask, main):
                if intent != main and intent not in (f for f, _ in found):
                    found.append((intent, norm))
    for side in compared(text):
        norm = normalize(side)
        if len(norm.replace(" ", "")) < t["min_chars"]:
            continue
        j = judged(norm)
        top = j.top
        if (top is not None and top != main and not top.startswith(NON_POLICY) and j.out_of_scope < j.confidence
                and j.confidence >= t["part_compare"] and top not in (f for f, _ in found)):
            found.append((top, norm))
    return found


def _followup_intents(judged: Callable[[str], Judgement], followups: Followups, norm: str, ask: bool,
                      main: str) -> list[str]:
    """What the kinds of ask in a piece mean after `main`: a topicless piece's kind, or the kinds named inside
    an ask the model reads as on-topic."""
    kind = topicless(followups, norm)
    if kind is not None:
        kinds = [kind]
    elif ask and (kinds := followups.named(norm)):
        j = judged(norm)
        kinds = kinds if j.out_of_scope < j.confidence else []
    else:
        return []
    return [intent for k in kinds if (intent := k.after(main)) is not None]


def _piece_asks(judged: Callable[[str], Judgement], read: list[tuple[str, bool]], norms: list[str], main: str,
                t: Mapping[str, float], near: tuple[str, ...]) -> list[tuple[str, str]]:
    """The pieces' other intents, asks before story and surer first: a reply addresses only the first few."""
    any_ask = any(ask for _, ask in read)
    found: list[tuple[str, str, bool, float]] = []
    for (_, ask), norm in zip(read, norms, strict=True):
        if len(norm.replace(" ", "")) < t["part_chars"]:
            continue
        j = judged(norm)
        top = j.top
        # A short piece alone can look off-topic (学校招老师有啥新办法); the whole question vouches for its intent.
        if (top is None or top == main or top.startswith(NON_POLICY)
                or (j.out_of_scope >= j.confidence and top not in near)):
            continue
        ask = ask or not any_ask
        sure = (j.confidence >= t["part_answer"] or (j.confidence >= t["part_support"] and top in near)
                or (ask and j.confidence >= t["part_ask"]))
        if sure and (ask or j.confidence >= t["part_story"]) and top not in (f[0] for f in found):
            found.append((top, norm, ask, j.confidence))
    found.sort(key=lambda f: (not f[2], -f[3]))
    return [(intent, norm) for intent, norm, _, _ in found]
