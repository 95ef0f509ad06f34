"""The engine: question in, reply out. Plain synchronous code, no I/O after load."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

from bot.config import ROOT
from bot.core.content import Clause, Content, load_content
from bot.core.decide import (
    LEADS_ALWAYS,
    Judgement,
    asks,
    clarify_choices,
    followup_alone,
    is_question,
    judge,
    parts,
    pieces_read,
    second_asks,
    thresholds,
)
from bot.core.details import asked_kinds, leading_kinds
from bot.core.fuzzy import NearMatch
from bot.core.glossary import Glossary
from bot.core.intents import Intent, IntentSet, Limit, load_intents
from bot.core.menu import Menu, load_menu
from bot.core.model import IntentModel, Scored
from bot.core.normalize import MAX_INPUT, Normalizer, detect_lang
from bot.core.references import check_references
from bot.core.reply import Choice, Reply
from bot.core.routes import Routes, load_routes
from bot.core.schemas import check_thresholds
from bot.core.training import cache_key, exact_index, load_or_fit
from bot.errors import DataError

MAX_QUESTION = 2000     # characters of a question matched and stored (the log keeps the full length and a flag)

DECISIONS = ("answer", "clarify", "fallback")
MODEL_CACHE = ROOT / "db" / "models"
MAX_ALSO = 2
LONG = 40   # characters: past this a question is judged by its pieces too, not only as a whole
_FIRST_SENTENCE = re.compile(r"^.+?(?:。|[.!?](?=\s)|$)", re.S)


class Engine:
    """Holds the loaded knowledge and answers questions; rebuilt whole on reload."""

    def __init__(self, intent_set: IntentSet, content: Content, menu: Menu, model: IntentModel | None = None,
                 cache_dir: Path | None = MODEL_CACHE, routes: Routes | None = None) -> None:
        self.intent_set = intent_set
        self.content = content
        self.menu = menu
        self.routes = routes or Routes.empty()
        self.intents: dict[str, Intent] = intent_set.intents
        self.normalizer = Normalizer(intent_set.synonyms)
        self.glossary = Glossary(content.glossary, self.normalizer, content.glossary_questions)
        self.followups = intent_set.followups.normalized(self.normalizer)
        check_references(content, self.intents)
        self.model = model if model is not None else load_or_fit(intent_set, self.normalizer, cache_dir)
        missing = set(self.intents) - set(self.model.classes)
        if missing:
            raise DataError("intent model", f"does not know the intents {sorted(missing)}; retrain it.")
        self.thresholds = thresholds(intent_set.matching.get("decision"))
        where = Path(intent_set.files[0]).parent if intent_set.files else Path("intents")
        check_thresholds(self.thresholds, str(where / "matching.yaml"))
        judge(self.model, self.normalizer("职业教育 vocational"), self.thresholds)   # loads jieba's dictionary now
        fitted_here = self.model.exact and self.model.key == cache_key(intent_set)
        self._exact = self.model.exact if fitted_here else exact_index(intent_set, self.normalizer)
        by_intent: dict[str, list[str]] = {}
        for text, intent_id in self._exact.items():
            by_intent.setdefault(intent_id, []).append(text)
        self.near = NearMatch(by_intent, intent_set.matching.get("fuzzy"))
        self.example_count = sum(len(i.all_examples("zh")) + len(i.all_examples("en")) for i in self.intents.values())

    @classmethod
    def load(cls, intents_dir: Path, content_dir: Path, cache_dir: Path | None = MODEL_CACHE) -> Engine:
        """Load and validate all data, and the model (cached or fitted); raise DataError naming the file."""
        content = load_content(content_dir)
        intent_set = load_intents(intents_dir)
        menu = load_menu(content_dir / "menu.yaml", intent_set.intents)
        routes = load_routes(content_dir / "routes.yaml", intent_set.intents, content, tuple(menu.audiences))
        return cls(intent_set, content, menu, cache_dir=cache_dir, routes=routes)

    def exact(self, norm: str) -> str | None:
        """The intent whose curated example is exactly this normalised question, if exactly one has it."""
        return self._exact.get(norm)

    @property
    def version(self) -> str:
        """A short hash of the intent files that answer questions."""
        return self.intent_set.version

    def title(self, intent_id: str, lang: str) -> str:
        """The button title of an intent."""
        return self.intents[intent_id].title[lang]

    def ask(self, text: str, lang: str | None = None, after: str | None = None) -> Reply:
        """Judge a question (its first MAX_QUESTION characters) with the model and decide: answer, clarify or
        fallback; note a second ask; lead with the details asked that the plan does not give. `after` is the
        intent this user was just answered with: a topicless follow-up ("要交钱不") asks about it."""
        text = text[:MAX_QUESTION]              # the log stores no more than this, so the model sees no more
        started = time.perf_counter()
        lang = detect_lang(text, default=lang or "zh") if text.strip() else (lang or "zh")
        norm = self.normalizer(text)
        if not norm.replace(" ", ""):
            return _timed(self._fallback(text, norm, lang, 0.0, ()), started)
        t = self.thresholds
        j = judge(self.model, norm, t)
        exact = self.exact(norm)
        if exact is not None:   # a question staff curated word for word belongs to its intent
            j = Judgement("answer", j.ranked, 1.0, j.out_of_scope)
        else:
            if j.decision != "answer":   # never over a confident model: 3+2 and 3+4 differ by one character
                j = self._near(norm, j)
            if j.decision != "answer" or len(text) > LONG:
                j = self._informative_part(text, j)
            if j.decision == "clarify":
                j = self._silent_detail(text, norm, j)
            j = followup_alone(self.followups, norm, j, self.thresholds, after if after in self.intents else None)
        candidates = tuple(j.ranked[:3])
        main = exact or j.top
        limit = self._limit(text, norm, main) if exact is None else None
        if limit is not None:
            rescued = self._rescue(text, limit)
            if rescued is None:
                reply = self._beyond_plan(text, norm, lang, limit, j.ranked[0] if j.ranked else None, candidates)
                return _timed(self._compose(reply, text, norm, j.confidence), started)
            main, j = rescued
        if j.decision == "answer" and main is not None:
            reply = self._answer(text, norm, lang, main, j.confidence * 100, candidates)
            near = tuple(c.intent for c in j.ranked[:4])
            reply = self._with_second(reply, text, main, lang, limit, near)
            lead = self._first_asked(text, main, reply.also_intents)
            if lead != main:   # the intent answered heads the candidates, as it does for any answer
                candidates = tuple(sorted(j.ranked, key=lambda s: s.intent != lead)[:3])
                reply = self._answer(text, norm, lang, lead, j.confidence * 100, candidates)
                reply = self._with_second(reply, text, lead, lang, limit, (main, *near))
        elif j.decision == "clarify":
            choices = clarify_choices(j, t)
            reply = Reply(text, norm, lang, "clarify", main, j.confidence * 100, candidates,
                          self.content.message("clarify", lang),
                          choices=tuple(Choice(c, self.title(c, lang)) for c in choices),
                          intents_version=self.version)
        else:
            reply = self._fallback(text, norm, lang, j.confidence * 100, candidates)
        return _timed(self._compose(reply, text, norm, j.confidence), started)

    def _compose(self, reply: Reply, text: str, norm: str, confidence: float) -> Reply:
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
        return dataclasses.replace(reply, answer=answer, general=general, extra=extra, confidence=confidence)

    def _near(self, norm: str, j: Judgement) -> Judgement:
        """A short question the model is unsure of that nearly repeats a curated example of a top candidate is
        answered with it."""
        hit = self.near.find(norm, [s.intent for s in j.ranked])
        if hit is None:
            return j
        intent, ratio = hit
        ranked = tuple(sorted(j.ranked, key=lambda s: s.intent != intent))   # stable: the hit first
        return Judgement("answer", ranked, round(max(ranked[0].score / 100, ratio / 100), 4), j.out_of_scope)

    def _silent_detail(self, text: str, norm: str, j: Judgement) -> Judgement:
        """A question after a detail its fairly sure (`silent_answer`) best candidate is silent on ("五年一贯制一年
        学费多少钱") is answered with that silence first, rather than asked which topic it meant."""
        top = j.top
        if top is None or j.out_of_scope >= j.confidence or j.confidence < self.thresholds["silent_answer"]:
            return j
        asked = asked_kinds(self.intent_set.details, norm, text[:MAX_INPUT].casefold())
        if not leading_kinds(self.intent_set.details, asked, self.intents[top].silent_on):
            return j
        return Judgement("answer", j.ranked, j.confidence, j.out_of_scope)

    def _informative_part(self, text: str, whole: Judgement) -> Judgement:
        """A long question is judged by its most confident ask, so the story around the ask does not dilute it
        (nor does a confident sentence of the story, "我是社区居民", replace it)."""
        if len(parts(text)) < 2:
            return whole
        best = whole
        # An answered whole is replaced only by a piece the model is surer of.
        bar = whole.confidence if whole.decision == "answer" else self.thresholds["part_answer"]
        for _, j in self._judged_asks(text):
            if j.decision == "answer" and j.confidence >= bar and (best is whole or j.confidence > best.confidence):
                best = j
        return best

    def _first_asked(self, text: str, main: str, also: tuple[str, ...]) -> str:
        """Of the intents a two-part question asks about, the one asked first leads the reply, when each of the
        two has an ask of its own and the model is `part_answer` sure of the first alone. A story with no piece
        that reads as an ask keeps the intent of the whole ("我在职校读的汽修专业…可以免考一部分"), and whom to ask
        keeps the lead over a topic only named ("想问培训补贴的事，该找哪个部门")."""
        if not also or not any(ask for _, ask in pieces_read(text)):
            return main
        asked = [(piece, j) for piece, j in self._judged_asks(text)
                 if j.confidence >= self.thresholds["part_support"] and (j.top == main or j.top in also)]
        if not asked or main not in (j.top for _, j in asked):
            return main
        piece, first = asked[0]
        if first.confidence < self.thresholds["part_answer"] or (main in LEADS_ALWAYS and not is_question(piece)):
            return main
        return first.top or main

    def _judged_asks(self, text: str) -> list[tuple[str, Judgement]]:
        """Each ask of a question (`decide.asks`) long enough to judge, in order, with the model's judgement."""
        found = []
        for piece in asks(text):
            norm = self.normalizer(piece)
            if len(norm.replace(" ", "")) >= self.thresholds["part_chars"]:
                found.append((piece, judge(self.model, norm, self.thresholds)))
        return found

    def _rescue(self, text: str, limit: Limit) -> tuple[str, Judgement] | None:
        """The most confident piece of a two-part question that the plan does answer, when another piece hit a
        limit."""
        best: tuple[str, Judgement] | None = None
        for piece in parts(text):
            norm = self.normalizer(piece)
            if not norm or limit.matches(norm, piece.casefold()):
                continue
            j = judge(self.model, norm, self.thresholds)
            if (j.decision == "answer" and j.top is not None and j.confidence >= self.thresholds["part_answer"]
                    and self._limit(piece, norm, j.top) is None
                    and (best is None or j.confidence > best[1].confidence)):
                best = (j.top, j)
        return best

    def _with_second(self, reply: Reply, text: str, main: str, lang: str, limit: Limit | None,
                     near: tuple[str, ...] = ()) -> Reply:
        """Address the second ask of a two-part question: its short answer, or the plan's silence on it."""
        blocks: list[str] = []
        also: list[str] = []
        if limit is None:
            for piece in parts(text):
                norm = self.normalizer(piece)
                found = self._limit(piece, norm, main) if len(parts(text)) > 1 and norm else None
                if found is not None:
                    limit = found
                    break
        if limit is not None:
            blocks.append(self._silence(limit, main, lang))
        for intent_id, _ in second_asks(self.model, text, main, self.normalizer, self.thresholds, near,
                                        self.followups):
            if len(also) >= MAX_ALSO:
                break
            also.append(intent_id)
            blocks.append(self._short_answer(intent_id, lang))
        if not blocks:
            return reply
        return dataclasses.replace(reply, answer=reply.answer + "\n\n" + "\n\n".join(blocks),
                                   also_intents=tuple(also))

    def _short_answer(self, intent_id: str, lang: str) -> str:
        """The first sentence of an intent's curated answer, with its clauses, as a second answer."""
        intent = self.intents[intent_id]
        match = _FIRST_SENTENCE.match(intent.answer[lang])
        first = (match.group(0) if match else intent.answer[lang]).strip()
        clauses = ("、" if lang == "zh" else ", ").join(intent.source)
        return self.content.message("also_answer", lang, topic=intent.title[lang], answer=first, clauses=clauses)

    def _silence(self, limit: Limit, main: str, lang: str) -> str:
        """The plan's silence on a second ask, naming the departments responsible nearby."""
        departments = ("、" if lang == "zh" else ", ").join(
            self.department_name(d, lang) for d in self.departments_for(self.intents[main].source))
        hint = self.content.message("also_silent_hint", lang, departments=departments)
        return self.content.message("also_silent", lang, message=limit.message[lang], hint=hint)

    def answer_intent(self, intent_id: str, lang: str, question: str = "") -> Reply:
        """The reply for an intent chosen directly (a button), without matching."""
        if intent_id not in self.intents:
            raise KeyError(intent_id)
        started = time.perf_counter()
        reply = self._answer(question or self.title(intent_id, lang), "", lang, intent_id, 100.0, ())
        return _timed(dataclasses.replace(reply, confidence=1.0), started)

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
        if best is not None and best.score >= self.thresholds["clarify"] * 100:
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
