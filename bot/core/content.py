"""The plan's clauses, glossary, contacts and interface messages from `content/`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.schemas import CONTENT
from bot.core.yamlfile import read_yaml
from bot.errors import DataError

LANGS = ("zh", "en")


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
class Content:
    """Everything under `content/`."""

    title: dict[str, str]
    number: str
    date: str
    clauses: dict[str, Clause]
    departments: dict[str, Department]
    glossary: list[dict[str, str]]
    messages: dict[str, dict[str, str]] = field(default_factory=dict)

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
    glossary = _need(read_yaml(glossary_path, CONTENT[glossary_path.name]), "terms", glossary_path, list)

    messages_path = content_dir / "messages.yaml"
    messages = _need(read_yaml(messages_path, CONTENT[messages_path.name]), "messages", messages_path, dict)
    for key, texts in messages.items():
        for lang in LANGS:
            if not isinstance(texts, dict) or not isinstance(texts.get(lang), str):
                raise DataError(str(messages_path), f"needs a {lang} text.", intent=str(key), field=lang)

    return Content(title={k: str(v) for k, v in title.items()}, number=_need(plan, "number", plan_path),
                   date=_need(plan, "date", plan_path), clauses=clauses, departments=departments,
                   glossary=glossary, messages=messages)
