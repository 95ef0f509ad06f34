"""Intents written by the staff editor: a new intent to its own file, an edit back into its own file.

Edits go through ruamel.yaml's round trip, so the rest of the file keeps its comments, order and formatting;
only the fields that changed are replaced. Every change is validated by loading the whole set from a copy
(the same rules as `vocbot intents check`) before anything on disk is touched.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import io
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString

from bot.core.engine import MODEL_CACHE, Engine
from bot.core.intents import SPECIAL_FILES, Intent
from bot.core.learn import locked
from bot.core.yamlfile import read_yaml
from bot.errors import DataError, VocbotError

ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
ORDER = ("id", "audience", "title", "keywords", "examples", "answer", "silent_on", "source", "related", "reviewed",
         "review_by")
UNORDERED = ("source", "related")
HEADER = ("# Written by the staff answer editor (/staff/editor); safe to edit by hand.\n"
          "# Format: docs/intents-format.md.\n")


class EditError(VocbotError):
    """An editor change that cannot be saved (bad id, unknown intent, a file that changed meanwhile)."""


@dataclass
class Draft:
    """An intent as the editor holds it."""

    id: str
    audience: str = "all"
    title: dict[str, str] = field(default_factory=lambda: {"zh": "", "en": ""})
    answer: dict[str, str] = field(default_factory=lambda: {"zh": "", "en": ""})
    examples: dict[str, list[str]] = field(default_factory=lambda: {"zh": [], "en": []})
    source: list[str] = field(default_factory=list)
    related: list[str] = field(default_factory=list)
    silent_on: dict[str, dict[str, str]] = field(default_factory=dict)
    reviewed: dt.date = field(default_factory=dt.date.today)
    review_by: dt.date = field(default_factory=lambda: dt.date.today() + dt.timedelta(days=365))

    @classmethod
    def of(cls, intent: Intent) -> Draft:
        """The draft of a loaded intent (its curated examples, not the learned ones)."""
        return cls(id=intent.id, audience=intent.audience, title=dict(intent.title), answer=dict(intent.answer),
                   examples={k: list(v) for k, v in intent.examples.items()}, source=list(intent.source),
                   related=list(intent.related), silent_on={k: dict(v) for k, v in intent.silent_on.items()},
                   reviewed=intent.reviewed, review_by=intent.review_by)

    def values(self) -> dict[str, Any]:
        """The YAML values of the fields the editor owns."""
        def text(value: str) -> str:
            value = value.strip().replace("\r\n", "\n")
            return LiteralScalarString(value + "\n") if "\n" in value else value
        return {"id": self.id, "audience": self.audience,
                "title": CommentedMap((k, text(v)) for k, v in self.title.items()),
                "examples": CommentedMap((k, list(v)) for k, v in self.examples.items()),
                "answer": CommentedMap((k, text(v)) for k, v in self.answer.items()),
                "silent_on": CommentedMap((kind, CommentedMap((k, text(v)) for k, v in langs.items()))
                                          for kind, langs in self.silent_on.items()),
                "source": list(self.source), "related": list(self.related),
                "reviewed": self.reviewed, "review_by": self.review_by}


def _yaml() -> YAML:
    yaml = YAML()          # round trip
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def dump(data: Any) -> str:
    """YAML text of a round-trip document."""
    out = io.StringIO()
    _yaml().dump(data, out)
    return out.getvalue()


def load(text: str) -> Any:
    """A round-trip document from YAML text."""
    return _yaml().load(text)


def new_file_name(intent_id: str) -> str:
    """The file a new intent gets: its id with dots as underscores."""
    return intent_id.replace(".", "_") + ".yaml"


def _plain(value: Any) -> Any:
    """A round-trip value as plain Python, to compare with a new one."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return str(value).strip() if isinstance(value, str) else value


def _styled_like(old: Any, value: Any) -> Any:
    """A new list written in the flow style ([a, b]) when the old one was."""
    if isinstance(old, CommentedSeq) and isinstance(value, list) and old.fa.flow_style():
        seq = CommentedSeq(value)
        seq.fa.set_flow_style()
        return seq
    return value


def _update(entry: CommentedMap, values: dict[str, Any]) -> None:
    """Replace changed fields only (comments and layout of the others stay); new fields go in ORDER."""
    for key in ORDER:
        if key not in values:
            continue
        value = values[key]
        empty = value in ({}, [], "") or (isinstance(value, dict) and not value)
        if key not in entry:
            if empty:
                continue
            keys = list(entry)
            later = [k for k in ORDER[ORDER.index(key) + 1:] if k in entry]
            entry.insert(keys.index(later[0]) if later else len(keys), key, value)
        elif empty and key == "silent_on":
            del entry[key]
        elif key in UNORDERED and sorted(_plain(entry[key]) or []) == sorted(value):
            continue                          # pickers list in their own order; the file's order stands
        elif _plain(entry[key]) != _plain(value):
            entry[key] = _styled_like(entry[key], value)


def find(intents_dir: Path, intent_id: str) -> tuple[str, str] | None:
    """(file name, the intent's YAML) of an intent as it is on disk now (saved, maybe not yet published)."""
    for path in sorted(intents_dir.glob("*.yaml")):
        if path.name in SPECIAL_FILES:
            continue
        data = read_yaml(path)
        entries = data.get("intents") if isinstance(data, dict) else None
        if any(isinstance(e, dict) and e.get("id") == intent_id for e in entries or []):
            return path.name, entry_text(path.read_text(encoding="utf-8"), intent_id)
    return None


def render_change(intents_dir: Path, draft: Draft, file_name: str | None) -> tuple[Path, str, str]:
    """(file, text before, text after) for saving a draft into its file (None: a new file); nothing is written."""
    if not ID.match(draft.id):
        raise EditError(f"{draft.id!r} is not a valid intent id: use lower-case words joined by dots, "
                        "e.g. pathway.transfer.")
    if file_name is None:
        path = intents_dir / new_file_name(draft.id)
        if path.exists() or path.name in SPECIAL_FILES:
            raise EditError(f"{path.name} already exists; choose another id or edit that intent.")
        doc = CommentedMap(intents=[CommentedMap((k, v) for k, v in draft.values().items()
                                                 if v not in ({}, []) or k in ("examples", "source", "related"))])
        return path, "", HEADER + dump(doc)
    path = intents_dir / Path(file_name).name
    if path.suffix != ".yaml" or path.name in SPECIAL_FILES or path.name.startswith("."):
        raise EditError(f"{path.name} is not an intents file.")
    if not path.exists():                     # restoring an intent whose file was removed
        return path, "", HEADER + dump(CommentedMap(intents=[CommentedMap(draft.values())]))
    old = path.read_text(encoding="utf-8")
    doc = load(old)
    entries = doc.get("intents") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise EditError(f"{path.name} has no list under `intents`; fix it by hand first.")
    entry = next((e for e in entries if isinstance(e, dict) and e.get("id") == draft.id), None)
    if entry is None:
        entries.append(CommentedMap(draft.values()))
    else:
        _update(entry, draft.values())
    return path, old, dump(doc)


def entry_text(text: str, intent_id: str) -> str:
    """The YAML of one intent inside a file's text (what a version keeps)."""
    doc = load(text) if text else None
    for entry in (doc or {}).get("intents") or []:
        if isinstance(entry, dict) and entry.get("id") == intent_id:
            return dump(entry)
    return ""


def draft_from_text(body: str) -> Draft:
    """A draft from a version's YAML (to restore it)."""
    raw = load(body)
    if not isinstance(raw, dict) or "id" not in raw:
        raise EditError("That version holds no intent.")
    def texts(value: Any) -> dict[str, str]:
        return {str(k): str(v).strip() for k, v in (value or {}).items()}
    return Draft(id=str(raw["id"]), audience=str(raw.get("audience", "all")), title=texts(raw.get("title")),
                 answer=texts(raw.get("answer")),
                 examples={str(k): [str(x) for x in v] for k, v in (raw.get("examples") or {}).items()},
                 source=[str(x) for x in raw.get("source") or []], related=[str(x) for x in raw.get("related") or []],
                 silent_on={str(k): texts(v) for k, v in (raw.get("silent_on") or {}).items()},
                 reviewed=_date(raw.get("reviewed")), review_by=_date(raw.get("review_by")))


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return dt.date.today()


def diff(old: str, new: str, name: str) -> str:
    """Unified diff of a file's text."""
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        f"a/{name}", f"b/{name}"))


@contextlib.contextmanager
def _copy(intents_dir: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="vocbot-edit-") as temp:
        target = Path(temp) / "intents"
        shutil.copytree(intents_dir, target, ignore=shutil.ignore_patterns(".*"))
        yield target


def validate(intents_dir: Path, content_dir: Path, path: Path, text: str,
             cache_dir: Path | None = MODEL_CACHE) -> Engine:
    """The engine the intents would give with `path` holding `text`; DataError (naming the real file) if invalid.

    Its model is cached in `cache_dir`, so publishing the same text later loads it instead of fitting again."""
    with _copy(intents_dir) as temp:
        (temp / path.name).write_text(text, encoding="utf-8")
        try:
            return Engine.load(temp, content_dir, cache_dir)
        except DataError as exc:
            # Name the real folder, not the temporary copy.
            exc.args = (str(exc).replace(str(temp), str(intents_dir)),)
            exc.path = exc.path.replace(str(temp), str(intents_dir))
            raise


def write(intents_dir: Path, content_dir: Path, path: Path, old: str, text: str,
          cache_dir: Path | None = MODEL_CACHE) -> None:
    """Validate again and write atomically, if the file still holds `old` (one writer at a time)."""
    with locked(intents_dir):
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != old:
            raise EditError(f"{path.name} changed since the editor opened it; reload the editor and apply "
                            "your change again.")
        validate(intents_dir, content_dir, path, text, cache_dir)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(temp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
