"""The route finder: guided flows from `content/routes.yaml`, validated on every path, and the pure step function."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from bot.core.content import LANGS, Content, bilingual
from bot.core.intents import Intent
from bot.core.normalize import Normalizer
from bot.core.route_types import (
    Flow,
    Option,
    RouteItem,
    RouteOffer,
    RouteOption,
    RouteResult,
    RouteStep,
    Rule,
    Step,
)
from bot.core.yamlfile import read_yaml
from bot.errors import DataError, UnknownRoute

__all__ = ["Flow", "Option", "RouteItem", "RouteOffer", "RouteOption", "RouteResult", "RouteStep", "Routes",
           "Rule", "Step", "load_routes"]

ID_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
MAX_ENCODED = 56     # bytes of "flow:opt,opt" so Telegram callback data (r:...) stays under 64 bytes
_PLACEHOLDER = re.compile(r"{(\w+)}")


class Routes:
    """All flows, checked against the intents and the plan; answers steps without I/O."""

    def __init__(self, flows: Mapping[str, Flow], intents: Mapping[str, Intent], content: Content | None) -> None:
        self.flows = dict(flows)
        self.intents = intents
        self.content = content

    @classmethod
    def empty(cls) -> Routes:
        """No flows (a content folder without routes.yaml)."""
        return cls({}, {}, None)

    def flow(self, flow_id: object) -> Flow:
        """The flow with this id; UnknownRoute otherwise."""
        found = self.flows.get(flow_id) if isinstance(flow_id, str) else None
        if found is None:
            raise UnknownRoute("flow", str(flow_id))
        return found

    def checked(self, flow: Flow, answers: Mapping[str, object]) -> dict[str, str]:
        """The answers in step order; UnknownRoute for a step or option the flow does not have."""
        for step_id, option_id in answers.items():
            step = flow.step(str(step_id))
            if step is None:
                raise UnknownRoute("step", str(step_id), flow=flow.id)
            if not isinstance(option_id, str) or step.option(option_id) is None:
                raise UnknownRoute("option", str(option_id), flow=flow.id, step=step.id)
        return {s.id: str(answers[s.id]) for s in flow.steps if s.id in answers}

    def step(self, flow_id: str, answers: Mapping[str, object], lang: str) -> RouteStep | RouteResult:
        """The next unanswered step, or the result once every step is answered."""
        flow = self.flow(flow_id)
        chosen = self.checked(flow, answers)
        lang = lang if lang in LANGS else "zh"
        for number, step in enumerate(flow.steps, 1):
            if step.id not in chosen:
                return RouteStep(flow.id, step.id, step.question[lang],
                                 tuple(RouteOption(o.id, o.label[lang]) for o in step.options),
                                 number, len(flow.steps), chosen)
        return self.result(flow, chosen, lang)

    def back(self, flow_id: str, answers: Mapping[str, object]) -> dict[str, str]:
        """The answers without the last answered step (in step order)."""
        chosen = self.checked(self.flow(flow_id), answers)
        if chosen:
            chosen.pop(list(chosen)[-1])
        return chosen

    def result(self, flow: Flow, chosen: Mapping[str, str], lang: str) -> RouteResult:
        """The items of every rule that applies, with what the plan leaves open and whom to ask."""
        labels = {s.id: s.option(chosen[s.id]).label[lang] for s in flow.steps if s.id in chosen}  # type: ignore[union-attr]
        items, gaps, ask = [], [], []
        for rule in flow.rules:
            if not rule.applies(chosen):
                continue
            intent = self.intents[rule.intent]
            items.append(RouteItem(rule.intent, intent.title[lang], rule.why[lang], rule.source, rule.id))
            if rule.not_in_plan and rule.not_in_plan[lang] not in gaps:
                gaps.append(rule.not_in_plan[lang])
            ask += [d for d in rule.ask if d not in ask]
        title = _PLACEHOLDER.sub(lambda m: labels.get(m.group(1), ""), flow.result_title[lang])
        first = flow.steps[0].id if flow.steps else ""
        return RouteResult(flow.id, flow.audience, title, lang, tuple(items), tuple(gaps),
                           tuple(self.department(d, lang) for d in ask), dict(chosen), chosen.get(first, ""))

    def department(self, name: str, lang: str) -> str:
        """A department of the plan in the given language (its Chinese name kept beside the English one)."""
        dept = self.content.department(name) if self.content else None
        if lang == "zh" or dept is None or "en" not in dept.name:
            return name
        return f"{dept.name['en']} ({name})"

    def label(self, flow_id: str, answers: Mapping[str, str], lang: str) -> str:
        """"Flow → option → option" in words, for staff reports (ids where the flow or an option is gone)."""
        flow = self.flows.get(flow_id)
        if flow is None:
            return " → ".join([flow_id, *answers.values()])
        words = [flow.title[lang]]
        for option_id in answers.values():
            found = next((o for s in flow.steps for o in s.options if o.id == option_id), None)
            words.append(found.label[lang] if found else option_id)
        return " → ".join(words)

    def paths(self, flow_id: str) -> Iterator[dict[str, str]]:
        """Every complete combination of answers of a flow."""
        flow = self.flow(flow_id)
        for combo in itertools.product(*(s.options for s in flow.steps)):
            yield {s.id: o.id for s, o in zip(flow.steps, combo, strict=True)}

    def detect(self, text: str) -> RouteOffer | None:
        """The flow a typed question's situation belongs to, with the steps it answers; None if it names none.

        A flow with `situation` words is offered when one occurs; a flow without them when its first step is
        answered. A step is prefilled only when exactly one of its options has a keyword in the text.
        """
        hay = Normalizer.basic(text)
        compact = hay.replace(" ", "")
        ordered = sorted(self.flows.values(), key=lambda f: not f.situation)   # first-person words decide first
        for flow in ordered:
            answers = {}
            for step in flow.steps:
                hits = [o.id for o in step.options if any(_contains(hay, compact, k) for k in o.keywords)]
                if len(hits) == 1:
                    answers[step.id] = hits[0]
            named = any(_contains(hay, compact, k) for k in flow.situation) if flow.situation \
                else bool(flow.steps) and flow.steps[0].id in answers
            if named:
                return RouteOffer(flow.id, answers)
        return None

    def encode(self, flow_id: str, answers: Mapping[str, str]) -> str:
        """`flow:opt,opt` with one place per step (empty when unanswered), for compact button data."""
        flow = self.flow(flow_id)
        return flow.id + ":" + ",".join(answers.get(s.id, "") for s in flow.steps)

    def decode(self, data: str) -> tuple[str, dict[str, str]]:
        """The inverse of encode; UnknownRoute for anything this finder would not have sent."""
        flow_id, _, rest = data.partition(":")
        flow = self.flow(flow_id)
        values = rest.split(",") if rest else []
        if len(values) > len(flow.steps):
            raise UnknownRoute("step", rest, flow=flow.id)
        answers = {s.id: v for s, v in zip(flow.steps, values, strict=False) if v}
        return flow.id, self.checked(flow, answers)


def _contains(hay: str, compact: str, keyword: str) -> bool:
    if keyword.isascii():
        return re.search(rf"(?<![a-z0-9]){re.escape(keyword)}(?![a-z0-9])", hay) is not None
    return keyword in compact


# ---- loading and checking -------------------------------------------------------------------------------
def load_routes(path: Path, intents: Mapping[str, Intent], content: Content, audiences: tuple[str, ...] = ()
                ) -> Routes:
    """Load routes.yaml (no flows when the file is absent) and check every path; DataError naming the place."""
    if not path.exists():
        return Routes({}, intents, content)
    data = read_yaml(path)
    file = str(path)
    if not isinstance(data, dict) or not isinstance(data.get("flows"), list):
        raise DataError(file, "must be a mapping with a list under `flows`.", field="flows")
    flows: dict[str, Flow] = {}
    for i, raw in enumerate(data["flows"]):
        flow = _flow(raw, file, i, intents, content, audiences)
        if flow.id in flows:
            raise DataError(file, "duplicate flow id.", where=f"flow {flow.id}", field="id")
        flows[flow.id] = flow
    routes = Routes(flows, intents, content)
    for flow in flows.values():
        _check_paths(routes, flow, file)
    return routes


def _id(raw: Any, file: str, where: str) -> str:
    value = raw.get("id") if isinstance(raw, dict) else None
    if not isinstance(value, str) or not ID_RE.fullmatch(value):
        raise DataError(file, "must be lower-case letters, digits or _ (at most 40, starting with a letter).",
                        where=where, field="id")
    return value


def _words(raw: dict, key: str, file: str, where: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise DataError(file, "must be a list of texts.", where=where, field=key)
    return tuple(Normalizer.basic(str(v)) for v in value if Normalizer.basic(str(v)))


def _flow(raw: Any, file: str, index: int, intents: Mapping[str, Intent], content: Content,
          audiences: tuple[str, ...]) -> Flow:
    fid = _id(raw, file, f"flow #{index + 1}")
    where = f"flow {fid}"
    audience = raw.get("audience")
    if not isinstance(audience, str) or (audiences and audience not in (*audiences, "all")):
        raise DataError(file, f"must be one of {', '.join((*audiences, 'all'))}.", where=where, field="audience")
    steps: list[Step] = []
    for j, sraw in enumerate(raw.get("steps") or []):
        sid = _id(sraw, file, f"{where}, step #{j + 1}")
        swhere = f"{where}, step {sid}"
        if any(s.id == sid for s in steps):
            raise DataError(file, "duplicate step id.", where=swhere, field="id")
        options: list[Option] = []
        for k, oraw in enumerate(sraw.get("options") or []):
            oid = _id(oraw, file, f"{swhere}, option #{k + 1}")
            if any(o.id == oid for o in options):
                raise DataError(file, "duplicate option id.", where=f"{swhere}, option {oid}", field="id")
            owhere = f"{swhere}, option {oid}"
            label = bilingual(oraw, "label", file, where=owhere)
            options.append(Option(oid, label, _words(oraw, "keywords", file, owhere)))
        if len(options) < 2:
            raise DataError(file, "needs at least 2 options.", where=swhere, field="options")
        steps.append(Step(sid, bilingual(sraw, "question", file, where=swhere), tuple(options)))
    if not steps:
        raise DataError(file, "needs at least one step.", where=where, field="steps")
    result_title = bilingual(raw, "result_title", file, where=where)
    for lang, text in result_title.items():
        unknown = [p for p in _PLACEHOLDER.findall(text) if all(s.id != p for s in steps)]
        if unknown:
            raise DataError(file, f"names unknown steps {unknown}.", where=where, field=f"result_title.{lang}")
    flow = Flow(fid, audience, bilingual(raw, "title", file, where=where), result_title, tuple(steps), (),
                _words(raw, "situation", file, where))
    encoded = len(fid) + 1 + sum(max(len(o.id) for o in s.options) + 1 for s in steps)
    if encoded > MAX_ENCODED:
        raise DataError(file, f"ids are too long for button data ({encoded} > {MAX_ENCODED} bytes); "
                        "shorten the flow, step or option ids.", where=where, field="id")
    rules = [_rule(r, file, flow, k, intents, content) for k, r in enumerate(raw.get("rules") or [])]
    return Flow(**{**flow.__dict__, "rules": tuple(rules)})


def _rule(raw: Any, file: str, flow: Flow, index: int, intents: Mapping[str, Intent], content: Content) -> Rule:
    rid = _id(raw, file, f"flow {flow.id}, rule #{index + 1}")
    where = f"flow {flow.id}, rule {rid}"
    when_raw = raw.get("when") or {}
    if not isinstance(when_raw, dict):
        raise DataError(file, "must map step ids to lists of option ids.", where=where, field="when")
    when: dict[str, frozenset[str]] = {}
    for step_id, options in when_raw.items():
        step = flow.step(str(step_id))
        if step is None:
            raise DataError(file, f"names an unknown step {step_id!r}.", where=where, field="when")
        if not isinstance(options, list) or not options:
            raise DataError(file, "must be a non-empty list of option ids.", where=where, field=f"when.{step_id}")
        unknown = [o for o in options if step.option(str(o)) is None]
        if unknown:
            raise DataError(file, f"names unknown options {unknown}.", where=where, field=f"when.{step_id}")
        when[step.id] = frozenset(str(o) for o in options)
    intent = raw.get("intent")
    if intent not in intents:
        raise DataError(file, f"names an intent that does not exist ({intent!r}).", where=where, field="intent")
    source = raw.get("source")
    if not isinstance(source, list) or not source:
        raise DataError(file, "needs at least one clause id.", where=where, field="source")
    missing = [c for c in source if str(c) not in content.clauses]
    if missing:
        raise DataError(file, f"names clauses {missing}, which are not in content/plan.yaml.", where=where,
                        field="source")
    responsible = {d for c in source for d in content.clauses[str(c)].responsible}
    ask = raw.get("ask") or []
    if not isinstance(ask, list) or not ask:
        raise DataError(file, "needs at least one department.", where=where, field="ask")
    stray = [d for d in ask if d not in responsible]
    if stray:
        raise DataError(file, f"names {stray}, not in the 责任单位 of its clauses.", where=where, field="ask")
    gap = bilingual(raw, "not_in_plan", file, where=where) if raw.get("not_in_plan") is not None else None
    return Rule(rid, when, str(intent), bilingual(raw, "why", file, where=where), tuple(str(c) for c in source),
                tuple(str(d) for d in ask), gap)


def _check_paths(routes: Routes, flow: Flow, file: str) -> None:
    """Walk every path: each must end in a result with at least one item and no intent twice."""
    for answers in routes.paths(flow.id):
        path = " → ".join(f"{k}={v}" for k, v in answers.items())
        rules = [r for r in flow.rules if r.applies(answers)]
        if not rules:
            raise DataError(file, f"the path {path} reaches no rule (a dead end).", where=f"flow {flow.id}",
                            field="rules")
        seen: dict[str, str] = {}
        for rule in rules:
            if rule.intent in seen:
                raise DataError(file, f"on the path {path} intent {rule.intent} comes twice (also rule "
                                f"{seen[rule.intent]}).", where=f"flow {flow.id}, rule {rule.id}", field="intent")
            seen[rule.intent] = rule.id
