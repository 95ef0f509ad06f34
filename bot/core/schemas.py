"""The shape of every YAML file the bot reads, written as data: key -> type and range.

Edit the tables at the bottom when a file gains or loses a key (issue 11's learned model will change
matching.yaml's); `validate` refuses unknown keys, wrong types, values out of range and NaN, and names the
file and the dotted field in one sentence.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from bot.errors import DataError


@dataclass(frozen=True)
class Num:
    """A finite number in [lo, hi] (either bound may be None); `whole` asks for an integer."""

    lo: float | None = None
    hi: float | None = None
    whole: bool = False

    def problem(self, value: Any) -> str | None:
        """Why the value does not fit, or None."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
        if not math.isfinite(value):
            return "must be a finite number (not NaN or infinity)"
        if self.whole and value != int(value):
            return "must be a whole number"
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            low = "" if self.lo is None else f"{self.lo:g}"
            high = "" if self.hi is None else f"{self.hi:g}"
            return (f"must be between {low} and {high}" if low and high
                    else f"must be at least {low}" if low else f"must be at most {high}") + f", not {value!r}"
        return None


@dataclass(frozen=True)
class Map:
    """A mapping with these keys only; `required` of them must be present."""

    fields: dict[str, Any]
    required: tuple[str, ...] = ()


@dataclass(frozen=True)
class Table:
    """A mapping with any keys (ids, words), every value of one shape."""

    value: Any


@dataclass(frozen=True)
class ListOf:
    """A list whose every item has one shape."""

    item: Any


TEXT = "text"             # a string
SCALAR = "scalar"         # a string, number or date (phone numbers and dates may be written unquoted)
ANY = "any"               # anything: checked by the loader itself
TEXTS = ListOf(TEXT)
BILINGUAL = Map({"zh": TEXT, "en": TEXT})


def validate(data: Any, schema: Any, path: str, field: str = "") -> None:
    """Raise DataError naming `path` and the dotted field at the first value that does not fit."""
    problem = _problem(data, schema, path, field)
    if problem is not None:
        where, sentence = problem
        raise DataError(path, sentence + ".", field=where or None)


def _problem(value: Any, schema: Any, path: str, field: str) -> tuple[str, str] | None:
    if schema == ANY:
        return None
    if schema == TEXT:
        return None if isinstance(value, str) else (field, "must be text")
    if schema == SCALAR:
        ok = isinstance(value, str | int | float | dt.date) and not isinstance(value, bool)
        return None if ok else (field, "must be text")
    if isinstance(schema, Num):
        sentence = schema.problem(value)
        return None if sentence is None else (field, sentence)
    if isinstance(schema, ListOf):
        if not isinstance(value, list):
            return field, "must be a list"
        for i, item in enumerate(value):
            found = _problem(item, schema.item, path, f"{field}[{i}]")
            if found:
                return found
        return None
    if not isinstance(value, dict):
        return field, "must be a mapping"
    if isinstance(schema, Table):
        for key, item in value.items():
            found = _problem(item, schema.value, path, _join(field, key))
            if found:
                return found
        return None
    for key in value:
        if key not in schema.fields:
            known = ", ".join(schema.fields)
            return _join(field, key), f"is not a known key (known here: {known}); check its spelling"
    for key in schema.required:
        if key not in value:
            return _join(field, key), "is missing"
    for key, item in value.items():
        found = _problem(item, schema.fields[key], path, _join(field, key))
        if found:
            return found
    return None


def _join(field: str, key: Any) -> str:
    return f"{field}.{key}" if field else str(key)


def check_thresholds(thresholds: dict[str, float], path: str) -> None:
    """The answer threshold may not sit below the clarify threshold (the engine would never clarify)."""
    if thresholds["answer"] < thresholds["clarify"]:
        raise DataError(path, f"decision.answer ({thresholds['answer']:g}) must be at or above "
                              f"decision.clarify ({thresholds['clarify']:g}).", field="decision.answer")


# ---- the files ------------------------------------------------------------------------------------------
# intents/matching.yaml: the intent model's fitting settings and the decision thresholds (probabilities 0-1),
# written by scripts/calibrate.py; the keys must match bot.core.training and bot.core.decide.
MATCHING = Map({
    "model": Map({
        "kind": TEXT,
        "alpha": Num(0, 1),
        "tol": Num(0, 1),
        "oos_weight": Num(0, 10),
        "contexts": Map({"zh": TEXTS, "en": TEXTS}),
    }),
    "fuzzy": Map({
        "max_chars": Num(0, 2000, whole=True),
        "candidates": Num(1, 100, whole=True),
        "per_intent": Num(1, 100_000, whole=True),
        "accept": Num(0, 101),   # a rapidfuzz ratio; 101 turns the re-ranker off
    }),
    "decision": Map({
        "temperature": Num(0.01, 100),
        "answer": Num(0, 1),
        "margin": Num(0, 1),
        "clarify": Num(0, 1),
        "window": Num(0, 1),
        "part_answer": Num(0, 1),
        "part_support": Num(0, 1),
        "part_ask": Num(0, 1),
        "part_story": Num(0, 1),
        "part_compare": Num(0, 1),
        "silent_answer": Num(0, 1),
        "part_chars": Num(0, 100, whole=True),
        "min_chars": Num(0, 100, whole=True),
    }),
})

# intents/synonyms.yaml: canonical word -> the everyday words that mean it.
SYNONYMS = Map({"synonyms": Table(ListOf(SCALAR))}, required=("synonyms",))

# intents/limits.yaml: what the plan does not settle.
LIMITS = Map({"rules": ListOf(Map({"id": TEXT, "kind": TEXT, "patterns": TEXTS, "except": TEXTS, "unless": TEXTS,
                                   "message": BILINGUAL}, required=("id", "message")))}, required=("rules",))

# intents/followups.yaml: short asks with no topic of their own, and what they mean.
FOLLOWUPS = Map({
    "filler": Map({"zh": TEXTS, "en": TEXTS}),
    "followups": ListOf(Map({"id": TEXT, "asks": TEXTS, "alone": TEXT,
                             "means": ListOf(Map({"after": TEXTS, "intent": TEXT}, required=("intent",)))},
                            required=("id", "asks"))),
}, required=("followups",))

# content/*.yaml, by file name.
CONTENT = {
    "plan.yaml": Map({
        "title": BILINGUAL, "number": TEXT, "date": SCALAR, "issuer": TEXT,
        "basis": ListOf(Map({"title": TEXT, "en": TEXT, "number": TEXT})),
        "clauses": ListOf(Map({"id": TEXT, "section": TEXT, "heading": TEXT, "heading_en": TEXT, "text": TEXT,
                               "responsible": TEXTS}, required=("id", "heading", "text"))),
    }, required=("clauses",)),
    "contacts.yaml": Map({"departments": ListOf(Map({
        "id": TEXT, "name": BILINGUAL, "office": SCALAR, "phone": SCALAR, "hours": SCALAR, "url": SCALAR,
        "clauses": TEXTS,
    }, required=("id",)))}),
    "glossary.yaml": Map({"questions": TEXTS, "terms": ListOf(Map({
        "term": TEXT, "en": TEXT, "aliases": ListOf(SCALAR), "intents": TEXTS, "clause": TEXT,
        "general": ANY, "plan": ANY,      # checked by bot.core.content, which names the term
    }, required=("term",)))}, required=("terms",)),
    "menu.yaml": Map({
        "audiences": Table(Map({"title": BILINGUAL, "topics": TEXTS}, required=("title",))),
        "topics": Table(Map({"title": BILINGUAL, "intents": TEXTS}, required=("title",))),
    }, required=("audiences", "topics")),
    "messages.yaml": Map({"messages": Table(Map({"zh": TEXT, "en": TEXT}))}, required=("messages",)),
}
