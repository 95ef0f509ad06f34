"""The plan's clauses, glossary, contacts and interface messages from `content/`."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.schemas import CONTENT
from bot.core.yamlfile import read_yaml
from bot.errors import DataError

LANGS = ("zh", "en")
DIGITS = re.compile(r"[0-9\uff10-\uff19]+")
QUOTE = re.compile(r"[“\"]([^”\"]+)[”\"]\s*[（(]([^（）()]*(?:\([^()]*\)[^（）()]*)*)[）)]")


@dataclass(frozen=True)
class Clause:
    """One clause of the plan, e.g. 三(三)10."""

    id: str
    heading: str
    heading_en: str
    section: str
    text: str
    responsible: tuple[str, ...]


@dataclass(frozen=True)
class Department:
    """A department named in the plan; contact fields are filled in by an operator."""

    id: str
    name: dict[str, str]
    office: str = ""
    phone: str = ""
    hours: str = ""
    url: str = ""

    def details(self) -> list[tuple[str, str]]:
        """The contact fields an operator filled in, as (field, value) pairs."""
        return [(k, v) for k, v in (("office", self.office), ("phone", self.phone), ("hours", self.hours),
                                    ("url", self.url)) if v]


@dataclass(frozen=True)
class GlossaryTerm:
    """A term of the plan: a general explanation (not the plan's) and what the plan says, with its clause."""

    term: str
    en: str
    aliases: tuple[str, ...]
    intents: tuple[str, ...]
    clause: str
    general: dict[str, str]
    plan: dict[str, str]

    def names(self) -> tuple[str, ...]:
        """The term, its English name and its aliases: every way a question may name it."""
        return (self.term, self.en, *self.aliases)


def clause_pattern(ids: list[str] | tuple[str, ...]) -> re.Pattern[str]:
    """Finds clause ids in a text; one-word ids such as 一 or 通知 only where cited, e.g. （一） or （通知）."""
    multi = sorted((c for c in ids if "(" in c), key=len, reverse=True)
    single = sorted((c for c in ids if "(" not in c), key=len, reverse=True)
    parts = [re.escape(c) for c in multi]
    if single:
        parts.append("(?<=[（(、,， ])(?:" + "|".join(re.escape(c) for c in single) + ")(?=[）)、,，])")
    return re.compile("|".join(parts) or "(?!)")


@dataclass(frozen=True)
class Content:
    """Everything under `content/`."""

    title: dict[str, str]
    number: str
    date: str
    clauses: dict[str, Clause]
    departments: dict[str, Department]
    glossary: list[GlossaryTerm]
    messages: dict[str, dict[str, str]] = field(default_factory=dict)
    glossary_questions: tuple[re.Pattern[str], ...] = ()

    def cited(self, text: str) -> list[str]:
        """The clause ids a text cites, in order, without repeats."""
        found = clause_pattern(tuple(self.clauses)).findall(text)
        return list(dict.fromkeys(found))

    def message(self, key: str, lang: str, **values: Any) -> str:
        """An interface message in the given language, formatted with values."""
        texts = self.messages.get(key) or {}
        text = texts.get(lang) or texts.get("zh") or key
        return text.format(**values) if values else text

    def department(self, name: str) -> Department | None:
        """Find a department by its Chinese name or id."""
        for dept in self.departments.values():
            if name in (dept.id, dept.name.get("zh")):
                return dept
        return None


def _need(mapping: Any, key: str, path: Path, kind: type = str, where: str | None = None) -> Any:
    if not isinstance(mapping, dict) or key not in mapping or mapping[key] in (None, ""):
        raise DataError(str(path), "is missing.", intent=where, field=key)
    value = mapping[key]
    if kind is str and not isinstance(value, str | int | float | dt.date):
        raise DataError(str(path), "must be text.", intent=where, field=key)
    if kind is not str and not isinstance(value, kind):
        raise DataError(str(path), f"must be a {kind.__name__}.", intent=where, field=key)
    return str(value) if kind is str else value


def load_content(content_dir: Path) -> Content:
    """Load plan.yaml, contacts.yaml, glossary.yaml and messages.yaml; raise DataError if invalid."""
    plan_path = content_dir / "plan.yaml"
    plan = read_yaml(plan_path, CONTENT[plan_path.name])
    if not isinstance(plan, dict):
        raise DataError(str(plan_path), "must be a mapping with title, number, date and clauses.")
    title = _need(plan, "title", plan_path, dict)
    clauses: dict[str, Clause] = {}
    for i, raw in enumerate(_need(plan, "clauses", plan_path, list)):
        cid = _need(raw, "id", plan_path, where=f"clause #{i + 1}")
        if cid in clauses:
            raise DataError(str(plan_path), "duplicate clause id.", intent=cid, field="id")
        resp = raw.get("responsible") or []
        if not isinstance(resp, list):
            raise DataError(str(plan_path), "must be a list.", intent=cid, field="responsible")
        clauses[cid] = Clause(cid, _need(raw, "heading", plan_path, where=cid), str(raw.get("heading_en") or ""),
                              str(raw.get("section") or ""), _need(raw, "text", plan_path, where=cid).strip(),
                              tuple(str(r) for r in resp))

    contacts_path = content_dir / "contacts.yaml"
    contacts = read_yaml(contacts_path, CONTENT[contacts_path.name])
    departments: dict[str, Department] = {}
    for i, raw in enumerate(_need(contacts, "departments", contacts_path, list)):
        did = _need(raw, "id", contacts_path, where=f"department #{i + 1}")
        name = _need(raw, "name", contacts_path, dict, where=did)
        departments[did] = Department(did, {k: str(v) for k, v in name.items()},
                                      *(str(raw.get(k) or "").strip() for k in ("office", "phone", "hours", "url")))

    glossary_path = content_dir / "glossary.yaml"
    glossary_data = read_yaml(glossary_path, CONTENT[glossary_path.name]) or {}
    glossary = [_glossary_term(raw, i, glossary_path, clauses)
                for i, raw in enumerate(_need(glossary_data, "terms", glossary_path, list))]
    questions = _patterns(glossary_data.get("questions") or [], glossary_path, "questions")

    messages_path = content_dir / "messages.yaml"
    messages = _need(read_yaml(messages_path, CONTENT[messages_path.name]), "messages", messages_path, dict)
    for key, texts in messages.items():
        for lang in LANGS:
            if not isinstance(texts, dict) or not isinstance(texts.get(lang), str):
                raise DataError(str(messages_path), f"needs a {lang} text.", intent=str(key), field=lang)

    return Content(title={k: str(v) for k, v in title.items()}, number=_need(plan, "number", plan_path),
                   date=_need(plan, "date", plan_path), clauses=clauses, departments=departments,
                   glossary=glossary, messages=messages, glossary_questions=questions)


def _patterns(values: Any, path: Path, field: str) -> tuple[re.Pattern[str], ...]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise DataError(str(path), "must be a list of regular expressions.", field=field)
    out = []
    for text in values:
        try:
            out.append(re.compile(text))
        except re.error as exc:
            raise DataError(str(path), f"has an invalid regular expression {text!r} ({exc}).", field=field) from None
    return tuple(out)


def bilingual(raw: Any, key: str, path: str, intent: str | None = None, where: str | None = None) -> dict[str, str]:
    """The zh and en texts under `key`, stripped; DataError names the file, the place and the field otherwise."""
    value = raw.get(key) if isinstance(raw, dict) else None
    if not isinstance(value, dict):
        raise DataError(path, "must have a zh and an en text.", intent=intent, where=where, field=key)
    out = {}
    for lang in LANGS:
        text = value.get(lang)
        if not isinstance(text, str) or not text.strip():
            raise DataError(path, f"is missing the {lang} text.", intent=intent, where=where, field=f"{key}.{lang}")
        out[lang] = text.strip()
    return out


def general_digit_problem(text: str, names: tuple[str, ...], clauses: dict[str, Clause]) -> str | None:
    """A digit in a general explanation that is neither part of the term nor a quotation of the plan with its clause."""
    for match in QUOTE.finditer(text):
        quoted, cited = match.group(1), match.group(2)
        if any(cid in cited and quoted in clause.text for cid, clause in clauses.items()):
            text = text.replace(match.group(0), " ")
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, " ")
    found = DIGITS.search(text)
    return found.group(0) if found else None


def _glossary_term(raw: Any, index: int, path: Path, clauses: dict[str, Clause]) -> GlossaryTerm:
    term = _need(raw, "term", path, where=f"term #{index + 1}")
    en = _need(raw, "en", path, where=term)
    lists = {}
    for key in ("aliases", "intents"):
        value = raw.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
            raise DataError(str(path), "must be a list of texts.", intent=term, field=key)
        lists[key] = tuple(str(v) for v in value)
    clause = _need(raw, "clause", path, where=term)
    if clause not in clauses:
        raise DataError(str(path), f"names clause {clause!r}, which is not in content/plan.yaml.", intent=term,
                        field="clause")
    general = bilingual(raw, "general", str(path), intent=term)
    plan = bilingual(raw, "plan", str(path), intent=term)
    names = (term, en, *lists["aliases"])
    cite = clause_pattern(tuple(clauses))
    for lang in LANGS:
        digit = general_digit_problem(general[lang], names, clauses)
        if digit:
            raise DataError(str(path), f"holds the number {digit!r}: a general explanation is definitional only; "
                            "numbers belong in the plan part, with their clause.", intent=term, field=f"general.{lang}")
        for word in ("北碚", "Beibei", "本区", "区教委"):
            if word in general[lang]:
                raise DataError(str(path), f"names {word!r}: a general explanation never states a Beibei-specific "
                                "fact.", intent=term, field=f"general.{lang}")
        cited = list(dict.fromkeys(cite.findall(plan[lang])))
        if not cited:
            raise DataError(str(path), "must cite the clause it rests on, e.g. （三(一)4）.", intent=term,
                            field=f"plan.{lang}")
        bare = cite.sub(" ", plan[lang])
        for number in DIGITS.findall(bare):
            if not any(number in clauses[c].text for c in cited):
                raise DataError(str(path), f"holds the number {number!r}, which none of its cited clauses "
                                f"({', '.join(cited)}) contains.", intent=term, field=f"plan.{lang}")
    return GlossaryTerm(term, en, lists["aliases"], lists["intents"], clause, general, plan)
