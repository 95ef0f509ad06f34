"""Curated intents from `intents/*.yaml`: loading, validation and the learned examples."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.content import LANGS, bilingual
from bot.core.details import DETAILS_FILE, DetailKind, compile_patterns, load_details
from bot.core.followups import FOLLOWUPS_FILE, Followups, load_followups
from bot.core.schemas import LIMITS, MATCHING, SYNONYMS
from bot.core.yamlfile import read_yaml
from bot.errors import DataError

AUDIENCES = ("student", "enterprise", "teacher", "all")
MIN_EXAMPLES = {"zh": 12, "en": 4}
OUT_OF_SCOPE_FILE = "out_of_scope.yaml"
SPECIAL_FILES = {"synonyms.yaml", "learned.yaml", "matching.yaml", "limits.yaml", DETAILS_FILE, OUT_OF_SCOPE_FILE,
                 FOLLOWUPS_FILE}
LEARNED_FILE = "learned.yaml"
SILENT_KINDS = ("fees", "amounts", "dates", "schools", "majors", "firms", "contacts", "eligibility", "procedure")


@dataclass(frozen=True)
class Intent:
    """One curated question topic with its bilingual, cited answer."""

    id: str
    audience: str
    title: dict[str, str]
    examples: dict[str, tuple[str, ...]]
    answer: dict[str, str]
    source: tuple[str, ...]
    related: tuple[str, ...]
    reviewed: dt.date
    review_by: dt.date
    keywords: tuple[str, ...] = ()
    learned: dict[str, tuple[str, ...]] = field(default_factory=dict)
    file: str = ""
    silent_on: dict[str, dict[str, str]] = field(default_factory=dict)

    def all_examples(self, lang: str) -> tuple[str, ...]:
        """Curated plus learned examples in one language."""
        return self.examples.get(lang, ()) + self.learned.get(lang, ())


@dataclass(frozen=True)
class Limit:
    """A kind of question the plan does not settle (dates, score lines, ...), recognised by patterns."""

    id: str
    patterns: tuple[re.Pattern[str], ...]
    exempt: frozenset[str]
    message: dict[str, str]
    kind: str = ""
    # Context that shows the question is not about this detail after all ("在广东打工多年，现在回北碚了").
    unless: tuple[re.Pattern[str], ...] = ()

    def matches(self, *texts: str) -> bool:
        """Whether any pattern occurs in any of the texts, and no `unless` pattern does."""
        return (any(p.search(t) for p in self.patterns for t in texts)
                and not any(u.search(t) for u in self.unless for t in texts))


@dataclass(frozen=True)
class IntentSet:
    """All intents, the synonyms, the matching settings and a version hash of the files."""

    intents: dict[str, Intent]
    synonyms: dict[str, tuple[str, ...]]
    matching: dict[str, Any]
    version: str
    files: tuple[str, ...]
    limits: tuple[Limit, ...] = ()
    details: dict[str, DetailKind] = field(default_factory=dict)
    out_of_scope: tuple[str, ...] = ()
    followups: Followups = field(default_factory=Followups)


def _date(value: Any, path: str, iid: str, name: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise DataError(path, "must be a date like 2026-11-29.", intent=iid, field=name) from None


def _str_list(raw: dict, key: str, path: str, iid: str, required: bool = True) -> tuple[str, ...]:
    value = raw.get(key)
    if value is None and not required:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
        raise DataError(path, "must be a list of texts.", intent=iid, field=key)
    return tuple(str(v).strip() for v in value if str(v).strip())


def _silent_on(raw: dict, path: str, iid: str) -> dict[str, dict[str, str]]:
    """`silent_on: {kind: {zh, en}}`: one sentence per language saying what the plan does not give and whom to ask."""
    value = raw.get("silent_on")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DataError(path, "must map detail kinds to a zh and an en sentence.", intent=iid, field="silent_on")
    out = {}
    for kind, texts in value.items():
        where = f"silent_on.{kind}"
        if not isinstance(texts, dict):
            raise DataError(path, "must have a zh and an en sentence.", intent=iid, field=where)
        out[str(kind)] = bilingual({where: texts}, where, path, intent=iid)
        zh, en = out[str(kind)]["zh"], out[str(kind)]["en"]
        if "\n" in zh or not zh.endswith("。") or zh.count("。") != 1:
            raise DataError(path, "must be one sentence ending in 。.", intent=iid, field=f"{where}.zh")
        if "\n" in en or not en.endswith("."):
            raise DataError(path, "must be one sentence ending in a full stop.", intent=iid, field=f"{where}.en")
    return out


def parse_intent(raw: Any, path: str, index: int) -> Intent:
    """Validate one intent mapping; raise DataError naming file, intent and field."""
    if not isinstance(raw, dict):
        raise DataError(path, "each entry of `intents` must be a mapping.", intent=f"#{index + 1}")
    iid = raw.get("id")
    if not isinstance(iid, str) or not iid.strip():
        raise DataError(path, "is missing.", intent=f"#{index + 1}", field="id")
    audience = raw.get("audience")
    if audience not in AUDIENCES:
        raise DataError(path, f"must be one of {', '.join(AUDIENCES)}.", intent=iid, field="audience")
    examples_raw = raw.get("examples")
    if not isinstance(examples_raw, dict):
        raise DataError(path, "must have zh and en lists.", intent=iid, field="examples")
    examples = {}
    for lang in LANGS:
        items = _str_list(examples_raw, lang, path, iid) if lang in examples_raw else ()
        if len(items) < MIN_EXAMPLES[lang]:
            raise DataError(path, f"needs at least {MIN_EXAMPLES[lang]} questions, has {len(items)}.",
                            intent=iid, field=f"examples.{lang}")
        examples[lang] = items
    source = _str_list(raw, "source", path, iid)
    if not source:
        raise DataError(path, "needs at least one clause id.", intent=iid, field="source")
    related = _str_list(raw, "related", path, iid)
    if not 2 <= len(related) <= 4:
        raise DataError(path, f"needs 2-4 intent ids, has {len(related)}.", intent=iid, field="related")
    reviewed = _date(raw.get("reviewed"), path, iid, "reviewed")
    review_by = _date(raw.get("review_by"), path, iid, "review_by")
    return Intent(id=iid, audience=audience, title=bilingual(raw, "title", path, intent=iid), examples=examples,
                  answer=bilingual(raw, "answer", path, intent=iid), source=source, related=related,
                  reviewed=reviewed, review_by=review_by,
                  keywords=_str_list(raw, "keywords", path, iid, required=False), file=path,
                  silent_on=_silent_on(raw, path, iid))


def _load_synonyms(path: Path) -> dict[str, tuple[str, ...]]:
    if not path.exists():
        return {}
    data = read_yaml(path, SYNONYMS)
    table = data.get("synonyms") if isinstance(data, dict) else None
    if not isinstance(table, dict):
        raise DataError(str(path), "must be a mapping `synonyms: {canonical: [variants]}`.", field="synonyms")
    out = {}
    for canon, variants in table.items():
        if not isinstance(variants, list):
            raise DataError(str(path), "must be a list of variants.", field=f"synonyms.{canon}")
        out[str(canon)] = tuple(str(v) for v in variants if str(v).strip())
    return out


def _load_learned(path: Path, intents: dict[str, Intent]) -> dict[str, dict[str, tuple[str, ...]]]:
    if not path.exists():
        return {}
    data = read_yaml(path) or {}
    table = data.get("examples") if isinstance(data, dict) else None
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise DataError(str(path), "must be a mapping `examples: {intent_id: {zh: [...], en: [...]}}`.")
    out = {}
    for iid, langs in table.items():
        if iid not in intents:
            raise DataError(str(path), "names an intent that does not exist.", intent=str(iid), field="examples")
        if not isinstance(langs, dict) or any(lang not in LANGS for lang in langs):
            raise DataError(str(path), "must map zh/en to lists.", intent=str(iid), field="examples")
        out[iid] = {lang: _str_list(langs, lang, str(path), iid) for lang in langs}
    return out


def _load_limits(path: Path, intents: dict[str, Intent], kinds: dict[str, DetailKind]) -> tuple[Limit, ...]:
    if not path.exists():
        return ()
    data = read_yaml(path, LIMITS)
    rules = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(rules, list):
        raise DataError(str(path), "must be a mapping with a list under `rules`.", field="rules")
    out = []
    for i, raw in enumerate(rules):
        rid = raw.get("id") if isinstance(raw, dict) else None
        if not isinstance(rid, str):
            raise DataError(str(path), "is missing.", intent=f"rule #{i + 1}", field="id")
        kind = raw.get("kind")
        if kind not in kinds:
            raise DataError(str(path), f"must be one of the kinds in {DETAILS_FILE}: {', '.join(kinds)}.",
                            intent=rid, field="kind")
        patterns = (compile_patterns(raw["patterns"], str(path), rid, "patterns") if raw.get("patterns") is not None
                    else kinds[kind].patterns)
        exempt = _str_list(raw, "except", str(path), rid, required=False)
        unknown = [e for e in exempt if e not in intents]
        if unknown:
            raise DataError(str(path), f"names unknown intents {unknown}.", intent=rid, field="except")
        message = bilingual(raw, "message", str(path), intent=rid)
        unless = compile_patterns(raw["unless"], str(path), rid, "unless") if raw.get("unless") is not None else ()
        out.append(Limit(rid, tuple(patterns), frozenset(exempt), message, kind, tuple(unless)))
    return tuple(out)


def _load_out_of_scope(path: Path) -> tuple[str, ...]:
    """Questions outside the plan, grouped by topic: `out_of_scope: [{topic, zh: [...], en: [...]}]`."""
    if not path.exists():
        return ()
    data = read_yaml(path) or {}
    groups = data.get("out_of_scope") if isinstance(data, dict) else None
    if not isinstance(groups, list):
        raise DataError(str(path), "must be a mapping with a list of topics under `out_of_scope`.",
                        field="out_of_scope")
    out: list[str] = []
    for i, group in enumerate(groups):
        topic = group.get("topic") if isinstance(group, dict) else None
        if not isinstance(topic, str) or not topic.strip():
            raise DataError(str(path), "is missing.", intent=f"topic #{i + 1}", field="topic")
        if any(key not in ("topic", *LANGS) for key in group):
            raise DataError(str(path), f"has unknown keys; use topic, {', '.join(LANGS)}.", intent=topic)
        for lang in LANGS:
            out.extend(_str_list(group, lang, str(path), topic, required=False))
    return tuple(out)


def load_intents(intents_dir: Path) -> IntentSet:
    """Load every intents file, the synonyms, learned examples and matching settings."""
    if not intents_dir.is_dir():
        raise DataError(str(intents_dir), "is not a folder of intent files; set VOCBOT_INTENTS_DIR.")
    files = sorted(p for p in intents_dir.glob("*.yaml") if p.name not in SPECIAL_FILES)
    if not files:
        raise DataError(str(intents_dir), "holds no intent files (*.yaml).")
    digest = hashlib.sha256()
    intents: dict[str, Intent] = {}
    for path in files:
        digest.update(path.read_bytes())
        data = read_yaml(path)
        if not isinstance(data, dict) or not isinstance(data.get("intents"), list):
            raise DataError(str(path), "must be a mapping with a list under `intents`.", field="intents")
        for i, raw in enumerate(data["intents"]):
            intent = parse_intent(raw, str(path), i)
            if intent.id in intents:
                raise DataError(str(path), f"duplicate id, also in {intents[intent.id].file}.",
                                intent=intent.id, field="id")
            intents[intent.id] = intent
    details = load_details(intents_dir / DETAILS_FILE)
    for intent in intents.values():
        for kind in intent.silent_on:
            if kind not in details:
                raise DataError(intent.file, f"is not a detail kind of {DETAILS_FILE} ({', '.join(details)}).",
                                intent=intent.id, field=f"silent_on.{kind}")
        for rid in intent.related:
            if rid not in intents or rid == intent.id:
                raise DataError(intent.file, f"names an unknown intent {rid!r}.", intent=intent.id,
                                field="related")
    for special in sorted(SPECIAL_FILES):
        path = intents_dir / special
        if path.exists():
            digest.update(path.read_bytes())
    learned = _load_learned(intents_dir / LEARNED_FILE, intents)
    for iid, langs in learned.items():
        old = intents[iid]
        intents[iid] = Intent(**{**old.__dict__, "learned": langs})
    matching_path = intents_dir / "matching.yaml"
    matching = read_yaml(matching_path, MATCHING) if matching_path.exists() else {}
    if not isinstance(matching, dict):
        raise DataError(str(matching_path), "must be a mapping of matching settings.")
    return IntentSet(intents=intents, synonyms=_load_synonyms(intents_dir / "synonyms.yaml"),
                     matching=matching, version=digest.hexdigest()[:12], files=tuple(str(f) for f in files),
                     limits=_load_limits(intents_dir / "limits.yaml", intents, details), details=details,
                     out_of_scope=_load_out_of_scope(intents_dir / OUT_OF_SCOPE_FILE),
                     followups=load_followups(intents_dir / FOLLOWUPS_FILE, intents))
