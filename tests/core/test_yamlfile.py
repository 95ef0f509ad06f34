"""Row 1 of issue 12: a key written twice in one YAML mapping is an error naming the file, line and key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli.main import cli
from bot.config import ROOT
from bot.core.yamlfile import read_yaml
from bot.errors import DataError


@pytest.mark.parametrize(("text", "line", "key"), [
    ("a: 1\nb: 2\na: 3\n", 3, "'a'"),
    ("x:\n  answer: 1\n  y: 2\n  answer: 3\n", 4, "'answer'"),
    ("- {zh: 一, zh: 二}\n", 1, "'zh'"),
    ("1: one\n1: uno\n", 2, "1"),
])
def test_duplicate_key_is_refused_with_file_line_and_key(tmp_path: Path, text: str, line: int, key: str) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=rf"dup\.yaml:{line}: has a duplicate key {key}"):
        read_yaml(path)


def test_same_key_in_different_mappings_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("a: {zh: 1, en: 2}\nb: {zh: 3, en: 4}\n", encoding="utf-8")
    assert read_yaml(path) == {"a": {"zh": 1, "en": 2}, "b": {"zh": 3, "en": 4}}


def test_second_answer_in_an_intent_fails_intents_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The review's case: a second `answer:` (an invented fee) inside pathway.3plus2 passed the check."""
    intents, content = tmp_path / "intents", tmp_path / "content"
    shutil.copytree(ROOT / "intents", intents)
    shutil.copytree(ROOT / "content", content)
    path = intents / "pathways.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- id: pathway.3plus2")
    indent = lines[start].index("id:")
    answer = next(i for i in range(start, len(lines)) if lines[i].startswith(" " * indent + "answer:"))
    lines.insert(answer, " " * indent + "answer: {zh: 学费每年5000元（三(一)3）, en: The fee is 5000 a year (三(一)3)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("VOCBOT_INTENTS_DIR", str(intents))
    monkeypatch.setenv("VOCBOT_CONTENT_DIR", str(content))
    result = CliRunner().invoke(cli, ["intents", "check"])
    assert result.exit_code == 1, result.output
    assert f"pathways.yaml:{answer + 2}: has a duplicate key 'answer'" in result.output
    assert len(result.output.strip().splitlines()) == 1
