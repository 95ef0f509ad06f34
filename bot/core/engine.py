"""The engine: question in, reply out. Plain synchronous code, no I/O after load."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.content import Clause, Content, load_content
from bot.core.details import asked_kinds, leading_kinds
from bot.core.glossary import Glossary
from bot.core.intents import Intent, IntentSet, Limit, load_intents
from bot.core.matcher import Matcher, Scored
from bot.core.menu import Menu, load_menu
from bot.core.normalize import MAX_INPUT, Normalizer, detect_lang
from bot.core.routes import Routes, load_routes
from bot.core.schemas import check_thresholds
from bot.errors import DataError

MAX_QUESTION = 2000     # characters of a question matched and stored (the log keeps the full length and a flag)

DECISIONS = ("answer", "clarify", "fallback")
DEFAULT_THRESHOLDS = {"answer": 40.0, "margin": 6.0, "clarify": 36.0, "clarify_window": 12.0,
                      "min_chars": 2, "lead": 100.0}


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
    general: str | None = None   # the glossary's general explanation (not part of the plan), shown apart

    def as_json(self) -> dict[str, Any]:
        """The `vocbot ask --json` object."""
        return {"question": self.question, "decision": self.decision, "intent": self.intent,
                "score": round(self.score, 2),
                "candidates": [{"intent": c.intent, "score": round(c.score, 2)} for c in self.candidates],
                "answer": self.answer, "general": self.general}


class Engine:
    """Holds the loaded knowledge and answers questions; rebuilt whole on reload."""

    def __init__(self, intent_set: IntentSet, content: Content, menu: Menu, routes: Routes | None = None) -> None:
        self.intent_set = intent_set
        self.content = content
        self.menu = menu
        self.routes = routes or Routes.empty()
        self.intents: dict[str, Intent] = intent_set.intents
        self.normalizer = Normalizer(intent_set.synonyms)
        self.matcher = Matcher(intent_set, self.normalizer, intent_set.matching)
        self.thresholds = {**DEFAULT_THRESHOLDS, **(intent_set.matching.get("thresholds") or {})}
        self.glossary = Glossary(content.glossary, self.normalizer, content.glossary_questions)
        where = Path(intent_set.files[0]).parent if intent_set.files else Path("intents")
        check_thresholds(self.thresholds, str(where / "matching.yaml"))
        _check_references(self)

    @classmethod
    def load(cls, intents_dir: Path, content_dir: Path) -> Engine:
        """Load and validate all data; raise DataError naming the file on any problem."""
        content = load_content(content_dir)
        intent_set = load_intents(intents_dir)
        menu = load_menu(content_dir / "menu.yaml", intent_set.intents)
        routes = load_routes(content_dir / "routes.yaml", intent_set.intents, content, tuple(menu.audiences))
        return cls(intent_set, content, menu, routes)

    @property
    def version(self) -> str:
        """A short hash of the intent files that answer questions."""
        return self.intent_set.version

    def title(self, intent_id: str, lang: str) -> str:
        """The button title of an intent."""
        return self.intents[intent_id].title[lang]

    def ask(self, text: str, lang: str | None = None) -> Reply:
        """Match a question and decide: answer, clarify or fallback (on its first MAX_QUESTION characters)."""
        text = text[:MAX_QUESTION]              # the log stores no more than this, so the matcher sees no more
        started = time.perf_counter()
        lang = detect_lang(text, default=lang or "zh") if text.strip() else (lang or "zh")
        norm = self.normalizer(text)
        ranked = self.matcher.rank(norm) if len(norm.replace(" ", "")) >= 1 else []
        t = self.thresholds
        candidates = tuple(ranked[:3])
        best = ranked[0] if ranked else None
        second = ranked[1].score if len(ranked) > 1 else 0.0
        content_chars = len(norm.replace(" ", ""))
        exact = best is not None and self.matcher.exact(norm) == best.intent
        limit = self._limit(text, norm, best.intent if best else None) if not exact else None
        if limit is not None:
            reply = self._beyond_plan(text, norm, lang, limit, best, candidates)
        elif best is None or best.score < t["clarify"] or (content_chars < t["min_chars"] and not exact):
            reply = self._fallback(text, norm, lang, best.score if best else 0.0, candidates)
        elif exact or (best.score >= t["answer"] and best.score - second >= t["margin"]) \
                or best.score - second >= t["lead"]:   # clearly ahead of every other intent, if not high
            reply = self._answer(text, norm, lang, best.intent, best.score, candidates)
        else:
            close = [s for s in ranked[:4] if best.score - s.score <= t["clarify_window"]]
            if len(close) < 2:
                close = ranked[:2]
            reply = Reply(text, norm, lang, "clarify", best.intent, best.score, candidates,
                          self.content.message("clarify", lang),
                          choices=tuple(Choice(s.intent, self.title(s.intent, lang)) for s in close),
                          intents_version=self.version)
        return _timed(self._compose(reply, text, norm), started)

    def answer_intent(self, intent_id: str, lang: str, question: str = "") -> Reply:
        """The reply for an intent chosen directly (a button), without matching."""
        if intent_id not in self.intents:
            raise KeyError(intent_id)
        started = time.perf_counter()
        reply = self._answer(question or self.title(intent_id, lang), "", lang, intent_id, 100.0, ())
        return _timed(reply, started)

    def clause(self, clause_id: str) -> Clause | None:
        """A clause of the plan by id."""
        return self.content.clauses.get(clause_id)

    def citation(self, source: tuple[str, ...], lang: str) -> str:
        """The line that names the plan and the clauses an answer rests on."""
        return self.content.message("citation", lang, number=self.content.number, clauses="、".join(source)
                                    if lang == "zh" else ", ".join(source))

    def contacts_for(self, source: tuple[str, ...], lang: str) -> list[str]:
        """Filled-in contact lines of the departments responsible for these clauses."""
        lines, seen = [], set()
        for cid in source:
            clause = self.clause(cid)
            for name in clause.responsible if clause else ():
                dept = self.content.department(name)
                if dept is None or dept.id in seen or not dept.details():
                    continue
                seen.add(dept.id)
                details = "; ".join(v for _, v in dept.details())
                lines.append(f"{dept.name.get(lang) or dept.name.get('zh')}: {details}")
        return lines

    def _compose(self, reply: Reply, text: str, norm: str) -> Reply:
        """Lead with the sentences for the details asked that the plan does not give; add the general block."""
        raw = text[:MAX_INPUT].casefold()
        general = self.glossary.explain(norm, raw, reply.intent if reply.decision == "answer" else None, reply.lang)
        answer, extra = reply.answer, reply.extra
        if reply.decision == "answer" and reply.intent:
            intent = self.intents[reply.intent]
            kinds = leading_kinds(self.intent_set.details, asked_kinds(self.intent_set.details, norm, raw),
                                  intent.silent_on)
            if kinds:
                joiner = "" if reply.lang == "zh" else " "
                answer = joiner.join(intent.silent_on[k][reply.lang] for k in kinds) + "\n\n" + answer
                extra = {**extra, "silent": kinds}
        if answer is reply.answer and general is None:
            return reply
        return dataclasses.replace(reply, answer=answer, general=general, extra=extra)

    def _answer(self, text: str, norm: str, lang: str, intent_id: str, score: float,
                candidates: tuple[Scored, ...]) -> Reply:
        intent = self.intents[intent_id]
        body = intent.answer[lang]
        contacts = self.contacts_for(intent.source, lang)
        if contacts:
            body += "\n\n" + self.content.message("contacts_header", lang) + "\n" + "\n".join(contacts)
        if not intent.id.startswith(("smalltalk.", "support.")):
            body += "\n\n" + self.citation(intent.source, lang)
        related = tuple(Choice(r, self.title(r, lang)) for r in intent.related)
        return Reply(text, norm, lang, "answer", intent_id, score, candidates, body, related=related,
                     source=intent.source, intents_version=self.version)

    def _limit(self, text: str, norm: str, top_intent: str | None) -> Limit | None:
        raw = text[:MAX_INPUT].casefold()
        for limit in self.intent_set.limits:
            if top_intent not in limit.exempt and limit.matches(norm, raw):
                return limit
        return None

    def _beyond_plan(self, text: str, norm: str, lang: str, limit: Limit, best: Scored | None,
                     candidates: tuple[Scored, ...]) -> Reply:
        """Fallback that says plainly what the plan does not settle and who is responsible nearby."""
        body = limit.message[lang]
        related: tuple[Choice, ...] = ()
        if best is not None and best.score >= self.thresholds["clarify"]:
            intent = self.intents[best.intent]
            departments = self.departments_for(intent.source)
            if departments:
                body += "\n\n" + self.content.message("limit_hint", lang, topic=intent.title[lang],
                                                        departments=("、" if lang == "zh" else ", ").join(
                                                            self.department_name(d, lang) for d in departments))
            related = (Choice(intent.id, intent.title[lang]),)
        return Reply(text, norm, lang, "fallback", None, best.score if best else 0.0, candidates, body,
                     related=related, intents_version=self.version, extra={"limit": limit.id})

    def departments_for(self, source: tuple[str, ...]) -> list[str]:
        """The departments named in the 责任单位 lines of these clauses, in order, without repeats."""
        names: list[str] = []
        for cid in source:
            clause = self.clause(cid)
            for name in clause.responsible if clause else ():
                if name not in names:
                    names.append(name)
        return names or ["区教委"]

    def department_name(self, name: str, lang: str) -> str:
        """A department's name in the given language (the Chinese name when it is not in contacts)."""
        dept = self.content.department(name)
        if dept is None or lang == "zh":
            return name
        return f"{dept.name.get('en', name)} ({name})"

    def _fallback(self, text: str, norm: str, lang: str, score: float,
                  candidates: tuple[Scored, ...]) -> Reply:
        key = "fallback_empty" if not norm else "fallback"
        return Reply(text, norm, lang, "fallback", None, score, candidates, self.content.message(key, lang),
                     intents_version=self.version)


def _timed(reply: Reply, started: float) -> Reply:
    object.__setattr__(reply, "latency_ms", round((time.perf_counter() - started) * 1000, 3))
    return reply


def _check_references(engine: Engine) -> None:
    content = engine.content
    for intent in engine.intents.values():
        for cid in intent.source:
            if cid not in content.clauses:
                raise DataError(intent.file, f"names clause {cid!r}, which is not in content/plan.yaml.",
                                intent=intent.id, field="source")
        _check_silent_on(engine, intent)
    for term in content.glossary:
        unknown = [i for i in term.intents if i not in engine.intents]
        if unknown:
            raise DataError("content/glossary.yaml", f"names unknown intents {unknown}.", intent=term.term,
                            field="intents")


def _check_silent_on(engine: Engine, intent: Intent) -> None:
    """Each sentence cites one of the intent's clauses and names only departments those clauses name."""
    content = engine.content
    allowed = {name for cid in intent.source for name in content.clauses[cid].responsible}
    allowed |= {d.name.get("zh", "") for d in content.departments.values()
                if any(d.name.get("zh", "") in content.clauses[cid].text for cid in intent.source)}
    for kind, texts in intent.silent_on.items():
        for lang, text in texts.items():
            where = f"silent_on.{kind}.{lang}"
            if not set(content.cited(text)) & set(intent.source):
                raise DataError(intent.file, f"must cite one of the intent's clauses ({', '.join(intent.source)}).",
                                intent=intent.id, field=where)
            named = {d.name.get("zh", "") for d in content.departments.values() if d.name.get("zh", "") in text}
            stray = sorted(named - allowed)
            if stray:
                raise DataError(intent.file, f"names {', '.join(stray)}, not responsible for the intent's clauses.",
                                intent=intent.id, field=where)
