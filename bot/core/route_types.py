"""The route finder's data: flows, steps, options and rules as loaded, and the steps and results it answers with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Option:
    """One answer to a step."""

    id: str
    label: dict[str, str]
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    """A question with its options."""

    id: str
    question: dict[str, str]
    options: tuple[Option, ...]

    def option(self, option_id: str) -> Option | None:
        """The option with this id."""
        return next((o for o in self.options if o.id == option_id), None)


@dataclass(frozen=True)
class Rule:
    """One item of a result: applies when every step named in `when` was answered with one of its options."""

    id: str
    when: dict[str, frozenset[str]]
    intent: str
    why: dict[str, str]
    source: tuple[str, ...]
    ask: tuple[str, ...]
    not_in_plan: dict[str, str] | None = None

    def applies(self, answers: Mapping[str, str]) -> bool:
        """Whether the chosen options satisfy this rule."""
        return all(answers.get(step) in options for step, options in self.when.items())


@dataclass(frozen=True)
class Flow:
    """A guided conversation: steps asked in order, then the rules that apply."""

    id: str
    audience: str
    title: dict[str, str]
    result_title: dict[str, str]
    steps: tuple[Step, ...]
    rules: tuple[Rule, ...]
    situation: tuple[str, ...] = ()

    def step(self, step_id: str) -> Step | None:
        """The step with this id."""
        return next((s for s in self.steps if s.id == step_id), None)


@dataclass(frozen=True)
class RouteOption:
    """An option as shown: id and label in the asked language."""

    id: str
    label: str


@dataclass(frozen=True)
class RouteStep:
    """The next question of a flow."""

    flow: str
    id: str
    question: str
    options: tuple[RouteOption, ...]
    number: int
    total: int
    answers: dict[str, str] = field(default_factory=dict)
    done: bool = False

    def as_json(self) -> dict[str, Any]:
        """The `step` object of POST /api/route."""
        return {"id": self.id, "question": self.question, "number": self.number, "total": self.total,
                "options": [{"id": o.id, "label": o.label} for o in self.options]}


@dataclass(frozen=True)
class RouteItem:
    """One route or kind of support that applies, with the reason and the clauses it rests on."""

    intent: str
    title: str
    why: str
    source: tuple[str, ...]
    rule: str


@dataclass(frozen=True)
class RouteResult:
    """The personal summary at the end of a flow."""

    flow: str
    audience: str
    title: str
    lang: str
    items: tuple[RouteItem, ...]
    not_in_plan: tuple[str, ...]
    ask: tuple[str, ...]
    answers: dict[str, str] = field(default_factory=dict)
    profile: str = ""
    done: bool = True

    def as_json(self) -> dict[str, Any]:
        """The `result` object of POST /api/route."""
        return {"title": self.title,
                "items": [{"intent": i.intent, "title": i.title, "why": i.why, "source": list(i.source)}
                          for i in self.items],
                "not_in_plan": list(self.not_in_plan), "ask": list(self.ask)}


@dataclass(frozen=True)
class RouteOffer:
    """A typed question that names a situation: the flow and the answers it already gives."""

    flow: str
    answers: dict[str, str]

    def as_json(self) -> dict[str, Any]:
        """The `route` object added to /api/chat replies."""
        return {"flow": self.flow, "answers": dict(self.answers)}
