"""Short asks with no topic of their own ("要交钱不", "咋个报名", "who do I ask"), from `intents/followups.yaml`.

They ask about whatever the question around them is about, so the model, which judges each piece of a question
alone, reads them as off-topic. Here they are recognised by their words and mean an intent by context.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import rjieba

from bot.core.details import compile_patterns
from bot.core.schemas import FOLLOWUPS
from bot.core.yamlfile import read_yaml
from bot.errors import DataError

FOLLOWUPS_FILE = "followups.yaml"
_RUNS = re.compile(r"[a-z]+|[\u4e00-\u9fff]+")


@dataclass(frozen=True)
class Followup:
    """One kind of topicless ask: its words, what it means asked alone, and what it means after a topic."""

    id: str
    asks: tuple[re.Pattern[str], ...]
    alone: str | None = None
    means: tuple[tuple[tuple[str, ...], str], ...] = ()   # (prefixes of the intent it follows, its intent)

    def after(self, main: str) -> str | None:
        """The intent this ask means after a question about `main` (the first rule whose prefix fits)."""
        return next((intent for prefixes, intent in self.means
                     if not prefixes or any(main.startswith(p) for p in prefixes)), None)


@dataclass(frozen=True)
class Followups:
    """The kinds of topicless ask, and the words that name no topic (matched after normalisation)."""

    kinds: tuple[Followup, ...] = ()
    filler: frozenset[str] = field(default_factory=frozenset)

    def normalized(self, normalize: Callable[[str], str]) -> Followups:
        """The same vocabulary with the filler words normalised as questions are (simplified, synonyms)."""
        return Followups(self.kinds, frozenset(n for w in self.filler for n in normalize(w).split()))

    def named(self, norm: str) -> list[Followup]:
        """The kinds whose ask words a normalised text has, in the order listed."""
        return [kind for kind in self.kinds if any(p.search(norm) for p in kind.asks)]

    def topicless(self, norm: str, question_words: re.Pattern[str]) -> Followup | None:
        """The kind of a normalised text that is only a topicless ask: once its ask words, the
        `question_words` and the filler are taken out, no word of two or more letters is left. Of the kinds
        whose words it has, the first listed is its kind."""
        matched = self.named(norm)
        if not matched:
            return None
        rest = question_words.sub(" ", _without(tuple(p for kind in matched for p in kind.asks), norm))
        return None if any(self._topic_words(rest)) else matched[0]

    def _topic_words(self, text: str) -> Iterable[str]:
        for run in _RUNS.findall(text):
            words = [run] if run.isascii() else rjieba.cut(run)
            yield from (w for w in words if len(w) > 1 and w not in self.filler)


def _without(patterns: tuple[re.Pattern[str], ...], text: str) -> str:
    for pattern in patterns:
        text = pattern.sub(" ", text)
    return text


def load_followups(path: Path, intents: Iterable[str]) -> Followups:
    """Load and check the topicless asks; an absent file means none. Unknown intents name the kind and field."""
    if not path.exists():
        return Followups()
    data = read_yaml(path, FOLLOWUPS)
    known = set(intents)
    kinds: list[Followup] = []
    for raw in data.get("followups") or []:
        kid = raw["id"]
        if any(k.id == kid for k in kinds):
            raise DataError(str(path), "duplicate id.", intent=kid, field="id")
        alone = raw.get("alone")
        if alone is not None and alone not in known:
            raise DataError(str(path), f"names an unknown intent {alone!r}.", intent=kid, field="alone")
        means = []
        for n, rule in enumerate(raw.get("means") or [], 1):
            if rule["intent"] not in known:
                raise DataError(str(path), f"names an unknown intent {rule['intent']!r}.", intent=kid,
                                field=f"means #{n}.intent")
            means.append((tuple(rule.get("after") or ()), rule["intent"]))
        kinds.append(Followup(kid, compile_patterns(raw["asks"], str(path), kid, "asks"), alone, tuple(means)))
    filler = data.get("filler") or {}
    return Followups(tuple(kinds), frozenset(w.casefold() for lang in ("zh", "en") for w in filler.get(lang, ())))
