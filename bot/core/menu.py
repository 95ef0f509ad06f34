"""The audience choice and topic menus from `content/menu.yaml`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.core.intents import Intent
from bot.core.schemas import CONTENT
from bot.core.yamlfile import read_yaml
from bot.errors import DataError


@dataclass(frozen=True)
class Topic:
    """A group of intents shown as one menu button."""

    id: str
    title: dict[str, str]
    intents: tuple[str, ...]


@dataclass(frozen=True)
class Audience:
    """Who the user is, and the topics shown to them."""

    id: str
    title: dict[str, str]
    topics: tuple[str, ...]


@dataclass(frozen=True)
class Menu:
    """Audiences and topics."""

    audiences: dict[str, Audience]
    topics: dict[str, Topic]

    def topics_for(self, audience: str | None) -> list[Topic]:
        """The topics of an audience; every topic when the audience is unknown."""
        chosen = self.audiences.get(audience or "")
        ids = chosen.topics if chosen else tuple(self.topics)
        return [self.topics[t] for t in ids]


def _titles(raw: object, path: Path, what: str) -> dict[str, str]:
    if not isinstance(raw, dict) or not all(isinstance(raw.get(lang), str) for lang in ("zh", "en")):
        raise DataError(str(path), "needs zh and en titles.", intent=what, field="title")
    return {"zh": raw["zh"], "en": raw["en"]}


def load_menu(path: Path, intents: dict[str, Intent]) -> Menu:
    """Load and check the menu against the known intents."""
    data = read_yaml(path, CONTENT["menu.yaml"])
    if not isinstance(data, dict) or not isinstance(data.get("topics"), dict) \
            or not isinstance(data.get("audiences"), dict):
        raise DataError(str(path), "must have `audiences` and `topics` mappings.")
    topics = {}
    for tid, raw in data["topics"].items():
        ids = tuple(raw.get("intents") or []) if isinstance(raw, dict) else ()
        unknown = [i for i in ids if i not in intents]
        if not ids or unknown:
            raise DataError(str(path), f"lists unknown or no intents {unknown}.", intent=str(tid), field="intents")
        topics[str(tid)] = Topic(str(tid), _titles(raw.get("title"), path, str(tid)), ids)
    audiences = {}
    for aid, raw in data["audiences"].items():
        ids = tuple(raw.get("topics") or []) if isinstance(raw, dict) else ()
        unknown = [t for t in ids if t not in topics]
        if not ids or unknown:
            raise DataError(str(path), f"lists unknown or no topics {unknown}.", intent=str(aid), field="topics")
        audiences[str(aid)] = Audience(str(aid), _titles(raw.get("title"), path, str(aid)), ids)
    return Menu(audiences, topics)
