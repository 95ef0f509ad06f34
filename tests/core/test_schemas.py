"""Row 2 of issue 12: matching.yaml, limits.yaml, synonyms.yaml and content/*.yaml are checked against a schema."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from bot.config import ROOT
from bot.core.engine import Engine
from bot.errors import DataError


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    """Copies of the shipped intents and content."""
    intents, content = tmp_path / "intents", tmp_path / "content"
    shutil.copytree(ROOT / "intents", intents)
    shutil.copytree(ROOT / "content", content)
    return intents, content


def _edit(path: Path, change: object) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def _set(*keys: str, value: object) -> object:
    def change(data: dict) -> None:
        for key in keys[:-1]:
            data = data[key]
        data[keys[-1]] = value
    return change


MATCHING_BREAKAGES = [
    ("answer threshold below zero", _set("decision", "answer", value=-5.0), "field decision.answer",
     "between 0 and 1"),
    ("answer threshold NaN", _set("decision", "answer", value=float("nan")), "field decision.answer",
     "finite number"),
    ("clarify threshold over 1", _set("decision", "clarify", value=1.5), "field decision.clarify",
     "between 0 and 1"),
    ("misspelt decision key", lambda d: d.update(decisions=d.pop("decision")), "field decisions",
     "not a known key"),
    ("misspelt key inside decision", _set("decision", "anwser", value=0.4), "field decision.anwser",
     "not a known key"),
    ("alpha over 1", _set("model", "alpha", value=1.5), "field model.alpha", "between 0 and 1"),
    ("alpha as text", _set("model", "alpha", value="high"), "field model.alpha", "must be a number"),
    ("negative margin", _set("decision", "margin", value=-1.0), "field decision.margin", "between 0 and 1"),
    ("story threshold over 1", _set("decision", "part_story", value=2.0), "field decision.part_story",
     "between 0 and 1"),
    ("ask threshold not a number", _set("decision", "part_ask", value="high"), "field decision.part_ask", "number"),
    ("infinite temperature", _set("decision", "temperature", value=float("inf")), "field decision.temperature",
     "finite number"),
    ("answer below clarify", _set("decision", "answer", value=0.05), "field decision.answer",
     "at or above decision.clarify"),
    ("contexts not a list", _set("model", "contexts", value={"zh": "{q}"}), "field model.contexts.zh",
     "must be a list"),
    ("fuzzy accept over 101", _set("fuzzy", "accept", value=150), "field fuzzy.accept", "between 0 and 101"),
    ("fuzzy candidates not whole", _set("fuzzy", "candidates", value=2.5), "field fuzzy.candidates",
     "whole number"),
]


@pytest.mark.parametrize(("name", "change", "field", "sentence"), MATCHING_BREAKAGES,
                         ids=[b[0] for b in MATCHING_BREAKAGES])
def test_matching_yaml_is_validated(data: tuple[Path, Path], name: str, change: object, field: str,
                                    sentence: str) -> None:
    intents, content = data
    _edit(intents / "matching.yaml", change)
    with pytest.raises(DataError, match=r"matching\.yaml") as caught:
        Engine.load(intents, content)
    assert field in str(caught.value) and sentence in str(caught.value)


def test_asdfgh_is_not_answered_when_thresholds_are_refused(data: tuple[Path, Path]) -> None:
    """With -5 the review saw `asdfgh` answered as smalltalk; now such a file does not load at all."""
    intents, content = data
    _edit(intents / "matching.yaml", _set("decision", "answer", value=-5.0))
    with pytest.raises(DataError):
        Engine.load(intents, content)
    assert Engine.load(ROOT / "intents", ROOT / "content").ask("asdfgh").decision == "fallback"


OTHER_BREAKAGES = [
    ("intents/limits.yaml", lambda d: d["rules"][0].update(messages=d["rules"][0]["message"]),
     "field rules[0].messages"),
    ("intents/limits.yaml", lambda d: d["rules"][0]["message"].update(fr="Le plan ..."), "field rules[0].message.fr"),
    ("intents/limits.yaml", lambda d: d.update(rule=[]), "field rule"),
    ("intents/synonyms.yaml", lambda d: d.update(synonym={}), "field synonym"),
    ("intents/synonyms.yaml", lambda d: d["synonyms"].update(中职="职高"), "field synonyms.中职"),
    ("content/plan.yaml", lambda d: d["clauses"][0].update(txet="..."), "field clauses[0].txet"),
    ("content/glossary.yaml", lambda d: d["terms"][0].update(defintion="..."), "field terms[0].defintion"),
    ("content/contacts.yaml", lambda d: d["departments"][0].update(phon="123"), "field departments[0].phon"),
    ("content/menu.yaml", lambda d: d["topics"]["pathways"].update(intnets=[]), "field topics.pathways.intnets"),
    ("content/messages.yaml", lambda d: d["messages"]["welcome"].update(zh_hant="歡迎"),
     "field messages.welcome.zh_hant"),
]


@pytest.mark.parametrize(("file", "change", "field"), OTHER_BREAKAGES, ids=[f"{b[0]}:{b[2]}" for b in OTHER_BREAKAGES])
def test_unknown_or_misplaced_keys_are_refused_in_every_yaml(data: tuple[Path, Path], file: str, change: object,
                                                             field: str) -> None:
    intents, content = data
    _edit(intents.parent / file, change)
    with pytest.raises(DataError, match=re.escape(Path(file).name)) as caught:
        Engine.load(intents, content)
    assert field in str(caught.value)


def test_shipped_files_fit_their_schemas() -> None:
    assert Engine.load(ROOT / "intents", ROOT / "content").intents
