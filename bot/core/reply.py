"""The reply every channel renders: the decision, the intent, the text in the user's language, the buttons."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.core.model import Scored


@dataclass(frozen=True)
class Choice:
    """A button: an intent and its title in the reply's language."""

    intent: str
    title: str


@dataclass(frozen=True)
class Reply:
    """What every channel renders: the decision, the intent and the text in the user's language."""

    question: str
    normalized: str
    lang: str
    decision: str
    intent: str | None
    score: float
    candidates: tuple[Scored, ...]
    answer: str
    choices: tuple[Choice, ...] = ()
    related: tuple[Choice, ...] = ()
    source: tuple[str, ...] = ()
    intents_version: str = ""
    latency_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    confidence: float = 0.0
    also_intents: tuple[str, ...] = ()
    general: str | None = None   # the glossary's general explanation (not part of the plan), shown apart

    def as_json(self) -> dict[str, Any]:
        """The `vocbot ask --json` object."""
        return {"question": self.question, "decision": self.decision, "intent": self.intent,
                "score": round(self.score, 2),
                "candidates": [{"intent": c.intent, "score": round(c.score, 2)} for c in self.candidates],
                "answer": self.answer, "general": self.general, "confidence": round(self.confidence, 4),
                "also_intents": list(self.also_intents)}
