"""Finding the term a question asks about, for the general-explanation block of a reply."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from bot.core.content import GlossaryTerm


def _squeeze(text: str) -> str:
    return re.sub(r"[\s\-_]+", "", text.casefold())


class Glossary:
    """The plan's terms indexed by every way a question may name them (normalised like the question)."""

    def __init__(self, terms: Sequence[GlossaryTerm], normalize: Callable[[str], str],
                 questions: Sequence[re.Pattern[str]]) -> None:
        self.terms = tuple(terms)
        self.questions = tuple(questions)
        names: dict[str, GlossaryTerm] = {}
        for term in self.terms:
            for name in term.names():
                for form in {_squeeze(name), _squeeze(normalize(name))}:
                    if len(form) >= 2:
                        names.setdefault(form, term)
        self._names = sorted(names.items(), key=lambda item: -len(item[0]))
        self._by_intent: dict[str, GlossaryTerm] = {}
        for term in self.terms:
            for iid in term.intents:
                self._by_intent.setdefault(iid, term)

    def asks_meaning(self, *texts: str) -> bool:
        """Whether the question asks what something means."""
        return any(p.search(t) for p in self.questions for t in texts if t)

    def named_in(self, *texts: str, prefer: str | None = None) -> GlossaryTerm | None:
        """The term a question names: the one linked to `prefer` (an intent) if named, else the longest name."""
        squeezed = [_squeeze(t) for t in texts if t]
        found = [term for form, term in self._names if any(form in s for s in squeezed)]
        if not found:
            return None
        linked = [t for t in found if prefer in t.intents]
        return linked[0] if linked else found[0]

    def for_intent(self, intent_id: str | None) -> GlossaryTerm | None:
        """The term an intent's topic is, if any."""
        return self._by_intent.get(intent_id or "")

    def explain(self, norm: str, raw: str, intent_id: str | None, lang: str) -> str | None:
        """The general explanation for a question that asks what a term means, or None."""
        if not self.asks_meaning(norm, raw):
            return None
        term = self.named_in(norm, raw, prefer=intent_id) or self.for_intent(intent_id)
        return render_general(term, lang) if term else None


    def entries(self, lang: str) -> list[dict[str, str]]:
        """Every term for a glossary view: its name, the general explanation and what the plan says."""
        return [{"term": t.term, "name": t.term if lang == "zh" else f"{t.en} ({t.term})",
                 "general": t.general[lang], "plan": t.plan[lang], "clause": t.clause} for t in self.terms]

    def find(self, text: str) -> GlossaryTerm | None:
        """The term a short text names (for `/glossary 3+2`)."""
        return self.named_in(text.casefold())


def render_general(term: GlossaryTerm, lang: str) -> str:
    """The general explanation of a term, led by the term's name."""
    if lang == "zh":
        return f"{term.term}：{term.general['zh']}"
    return f"{term.en} ({term.term}): {term.general['en']}"
