"""Cross-file checks at load: what the intents, the glossary and the plan say of each other."""

from __future__ import annotations

from collections.abc import Mapping

from bot.core.content import Content
from bot.core.intents import Intent
from bot.errors import DataError


def check_references(content: Content, intents: Mapping[str, Intent]) -> None:
    """Every clause an intent names exists, its silent_on sentences hold, the glossary names real intents."""
    for intent in intents.values():
        for cid in intent.source:
            if cid not in content.clauses:
                raise DataError(intent.file, f"names clause {cid!r}, which is not in content/plan.yaml.",
                                intent=intent.id, field="source")
        _check_silent_on(content, intent)
    for term in content.glossary:
        unknown = [i for i in term.intents if i not in intents]
        if unknown:
            raise DataError("content/glossary.yaml", f"names unknown intents {unknown}.", intent=term.term,
                            field="intents")


def _check_silent_on(content: Content, intent: Intent) -> None:
    """Each sentence cites one of the intent's clauses and names only departments those clauses name."""
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
