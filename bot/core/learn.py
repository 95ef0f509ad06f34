"""Promote a logged question into `intents/learned.yaml`: the loop from "the bot failed" to "the bot learned"."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.core.intents import LEARNED_FILE, load_intents
from bot.core.normalize import detect_lang
from bot.core.yamlfile import read_yaml
from bot.errors import DataError, VocbotError

HEADER = ("# Learned examples: questions staff promoted from the enquiry log with `vocbot logs promote`\n"
          "# or the dashboard. Merged into the intents at load; format in docs/intents-format.md.\n"
          "# Safe to edit by hand (remove a line to forget an example); keep it valid YAML.\n")


class PromoteError(VocbotError):
    """A question cannot be added as an example (unknown intent, empty, or another intent's example)."""


@dataclass(frozen=True)
class Promoted:
    """What `promote_text` did."""

    intent: str
    lang: str
    text: str
    normalized: str
    added: bool          # False when the question already was an example of the intent
    path: Path


def promote_text(intents_dir: Path, engine: Any, intent_id: str, text: str, lang: str | None = None) -> Promoted:
    """Add a question to learned.yaml as an example of an intent, once; the file stays valid and readable."""
    if intent_id not in engine.intents:
        raise PromoteError(f"There is no intent {intent_id!r}; see `vocbot intents list` for the ids.")
    question = " ".join(str(text).split())
    norm = engine.normalizer(question)
    if not norm:
        raise PromoteError("The question has no words to match on, so it cannot be an example.")
    lang = lang if lang in ("zh", "en") else detect_lang(question)
    path = intents_dir / LEARNED_FILE
    key = _key(norm)
    for other in engine.intents.values():
        same = [e for code in ("zh", "en") for e in other.all_examples(code) if _key(engine.normalizer(e)) == key]
        if same and other.id == intent_id:
            return Promoted(intent_id, lang, question, norm, False, path)
        if same:
            raise PromoteError(f"{question!r} is already an example of intent {other.id}; adding it to "
                               f"{intent_id} would make the two ambiguous. Edit {other.file} instead.")
    with locked(intents_dir):
        old = path.read_bytes() if path.exists() else None
        data = _read(path)
        examples = data["examples"].setdefault(intent_id, {})
        items = examples.setdefault(lang, [])
        if any(_key(engine.normalizer(str(item))) == key for item in items):
            return Promoted(intent_id, lang, question, norm, False, path)
        items.append(question)
        _write(path, data)
        try:
            load_intents(intents_dir)
        except VocbotError:
            _restore(path, old)
            raise
    return Promoted(intent_id, lang, question, norm, True, path)


def _key(norm: str) -> str:
    """Two questions are the same example when their normalised forms differ only in spaces."""
    return norm.replace(" ", "")


def _read(path: Path) -> dict[str, Any]:
    data = read_yaml(path) if path.exists() else None
    data = data or {}
    if not isinstance(data, dict) or not isinstance(data.get("examples") or {}, dict):
        raise DataError(str(path), "must be a mapping `examples: {intent_id: {zh: [...], en: [...]}}`.")
    data["examples"] = data.get("examples") or {}
    for iid, langs in data["examples"].items():
        if not isinstance(langs, dict):
            raise DataError(str(path), "must map zh/en to lists.", intent=str(iid), field="examples")
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    body = yaml.safe_dump(data, allow_unicode=True, sort_keys=True, default_flow_style=False, width=4096)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(HEADER + body)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def _restore(path: Path, old: bytes | None) -> None:
    if old is None:
        path.unlink(missing_ok=True)
    else:
        path.write_bytes(old)


@contextlib.contextmanager
def locked(intents_dir: Path) -> Iterator[None]:
    """One writer of learned.yaml at a time, across processes (the dashboard and the CLI)."""
    fd = os.open(intents_dir, os.O_RDONLY)     # lock the folder: the file itself is replaced on write
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
