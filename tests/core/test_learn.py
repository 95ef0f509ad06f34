"""Promoting logged questions into intents/learned.yaml: once, valid, readable, safe with two writers."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
import yaml

from bot.core.engine import Engine
from bot.core.intents import load_intents
from bot.core.learn import HEADER, PromoteError, promote_text
from bot.errors import DataError

TARGET = "training.military"


@pytest.fixture
def intents_dir(tmp_path: Path, trimmed_intents: Path) -> Path:
    """A copy of the shipped intents without learned examples."""
    shutil.copytree(trimmed_intents, tmp_path / "intents")
    (tmp_path / "intents" / "learned.yaml").unlink(missing_ok=True)
    return tmp_path / "intents"


def learned(intents_dir: Path) -> dict:
    return yaml.safe_load((intents_dir / "learned.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("text", "lang", "stored", "stored_lang"), [
    ("读完职高去当兵有啥子优待", "zh", "读完职高去当兵有啥子优待", "zh"),
    ("  读完职高\n去当兵  有啥子优待 ", None, "读完职高 去当兵 有啥子优待", "zh"),   # whitespace folded
    ("what perks do soldiers get", "en", "what perks do soldiers get", "en"),
    ("what perks do soldiers get", None, "what perks do soldiers get", "en"),   # language detected
    ("no: yes # not a comment", "en", "no: yes # not a comment", "en"),        # YAML specials stay text
    ('"quoted" & <b>', "en", '"quoted" & <b>', "en"),
])
def test_promote_appends_the_question_under_its_language(intents_dir: Path, engine: Engine, text: str,
                                                          lang: str | None, stored: str, stored_lang: str) -> None:
    done = promote_text(intents_dir, engine, TARGET, text, lang)
    assert (done.added, done.text, done.lang, done.intent) == (True, stored, stored_lang, TARGET)
    assert (intents_dir / "learned.yaml").read_text(encoding="utf-8").startswith(HEADER)
    assert learned(intents_dir) == {"examples": {TARGET: {stored_lang: [stored]}}}
    merged = load_intents(intents_dir).intents[TARGET]
    assert merged.learned == {stored_lang: (stored,)}


def test_promote_keeps_earlier_examples_and_adds_each_once(intents_dir: Path, engine: Engine) -> None:
    promote_text(intents_dir, engine, TARGET, "读完职高去当兵有啥子优待", "zh")
    promote_text(intents_dir, engine, "pathway.3plus2", "三加二要读几年哦", "zh")
    again = promote_text(intents_dir, engine, TARGET, "读完职高去当兵，有啥子优待？", "zh")   # same normalised
    assert again.added is False
    assert learned(intents_dir) == {"examples": {TARGET: {"zh": ["读完职高去当兵有啥子优待"]},
                                                 "pathway.3plus2": {"zh": ["三加二要读几年哦"]}}}


def test_a_curated_example_of_the_same_intent_is_not_added(intents_dir: Path, engine: Engine) -> None:
    example = engine.intents[TARGET].examples["zh"][0]
    assert promote_text(intents_dir, engine, TARGET, example, "zh").added is False
    assert not (intents_dir / "learned.yaml").exists()


@pytest.mark.parametrize(("intent", "text", "message"), [
    ("no.such", "读完职高去当兵有啥子优待", "There is no intent 'no.such'"),
    (TARGET, "？！…", "has no words to match on"),
    (TARGET, "3+2是啥子意思", "is already an example of intent pathway.3plus2"),
])
def test_promote_refusals(intents_dir: Path, engine: Engine, intent: str, text: str, message: str) -> None:
    with pytest.raises(PromoteError, match=message):
        promote_text(intents_dir, engine, intent, text, "zh")
    assert not (intents_dir / "learned.yaml").exists()


def test_a_broken_learned_file_is_left_alone(intents_dir: Path, engine: Engine) -> None:
    (intents_dir / "learned.yaml").write_text("examples: [unclosed\n", encoding="utf-8")
    with pytest.raises(DataError, match="not valid YAML"):
        promote_text(intents_dir, engine, TARGET, "读完职高去当兵有啥子优待", "zh")
    assert (intents_dir / "learned.yaml").read_text(encoding="utf-8") == "examples: [unclosed\n"


def test_a_learned_file_naming_a_removed_intent_is_restored_not_half_written(intents_dir: Path,
                                                                              engine: Engine) -> None:
    original = "examples:\n  gone.intent:\n    zh: [旧问题]\n"
    (intents_dir / "learned.yaml").write_text(original, encoding="utf-8")
    with pytest.raises(DataError, match="names an intent that does not exist"):
        promote_text(intents_dir, engine, TARGET, "读完职高去当兵有啥子优待", "zh")
    assert (intents_dir / "learned.yaml").read_text(encoding="utf-8") == original
    assert [p.name for p in intents_dir.iterdir() if p.name.endswith(".tmp")] == []


def test_two_writers_at_once_lose_nothing(intents_dir: Path, engine: Engine) -> None:
    questions = [f"第{i}个关于当兵优待的新问题" for i in range(8)]
    barrier = threading.Barrier(len(questions))
    errors: list[BaseException] = []

    def promote(question: str) -> None:
        barrier.wait()
        try:
            promote_text(intents_dir, engine, TARGET, question, "zh")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=promote, args=(q,)) for q in questions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(learned(intents_dir)["examples"][TARGET]["zh"]) == sorted(questions)
