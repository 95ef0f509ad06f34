"""`vocbot ask` and `vocbot eval`: the exact interfaces other checks rely on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli.main import cli
from bot.config import ROOT

DEV = ROOT / "tests" / "data" / "dev_questions.jsonl"


@pytest.fixture(autouse=True)
def _temp_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOCBOT_DB", str(tmp_path / "enquiries.db"))
    monkeypatch.setenv("VOCBOT_HASH_KEY", "test-key")


def test_ask_prints_a_readable_answer() -> None:
    result = CliRunner().invoke(cli, ["ask", "3加2是啥子意思"])
    assert result.exit_code == 0
    assert "3+2" in result.output and "三(一)4" in result.output


def test_ask_json_object() -> None:
    result = CliRunner().invoke(cli, ["ask", "--json", "3加2是啥子意思"])
    data = json.loads(result.output)
    assert set(data) == {"question", "decision", "intent", "score", "candidates", "answer", "general", "confidence",
                         "also_intents"}
    assert data["question"] == "3加2是啥子意思" and data["decision"] == "answer" and data["intent"] == "pathway.3plus2"
    assert isinstance(data["score"], float) and len(data["candidates"]) == 3


def test_ask_json_reads_lines_and_flushes_each(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "VOCBOT_DB": str(tmp_path / "x.db")}
    with subprocess.Popen([sys.executable, "-m", "bot", "ask", "--json"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, cwd=ROOT, env=env) as proc:
        assert proc.stdin and proc.stdout
        proc.stdin.write("3加2是啥子意思\n".encode())
        proc.stdin.flush()
        first = json.loads(proc.stdout.readline())  # arrives before stdin is closed: flushed per line
        assert first["intent"] == "pathway.3plus2"
        proc.stdin.write("北京积分落户怎么办\nasdfgh\n".encode())
        proc.stdin.close()
        rest = [json.loads(line) for line in proc.stdout.read().decode().splitlines()]
        assert proc.wait(timeout=30) == 0
    assert [r["question"] for r in rest] == ["北京积分落户怎么办", "asdfgh"]
    assert [r["decision"] for r in rest] == ["fallback", "fallback"] and rest[0]["intent"] is None
    assert not (tmp_path / "x.db").exists()   # ask does not log without --log


def test_ask_without_question_or_json_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["ask"])
    assert result.exit_code == 2 and "Give a question" in result.output


def test_ask_log_writes_a_terminal_row(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["ask", "--log", "3加2是啥子意思"])
    assert result.exit_code == 0
    import sqlite_utils

    rows = list(sqlite_utils.Database(tmp_path / "enquiries.db").query("select channel, text, intent from enquiries"))
    assert rows == [{"channel": "terminal", "text": "3加2是啥子意思", "intent": "pathway.3plus2"}]


def test_ask_log_stores_a_long_question_capped_with_its_length(tmp_path: Path) -> None:
    """Issue 12 row 7: the terminal's rows are capped like the other channels'."""
    question = "3加2是啥子意思" + "啊" * 2500
    assert CliRunner().invoke(cli, ["ask", "--log", question]).exit_code == 0
    import sqlite_utils

    rows = list(sqlite_utils.Database(tmp_path / "enquiries.db").query(
        "select text, text_length, truncated from enquiries"))
    assert rows == [{"text": question[:2000], "text_length": len(question), "truncated": 1}]


def test_eval_meets_the_floors_on_the_dev_set() -> None:
    result = CliRunner().invoke(cli, ["eval", "--json", str(DEV)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["in_scope"] >= 400 and summary["out_of_scope"] >= 100
    assert summary["top1"] >= 0.90
    assert summary["top3"] >= 0.97
    assert summary["out_of_scope_policy_answered"] <= 0.05
    assert not summary["unknown_labels"]


def test_eval_prints_a_readable_summary() -> None:
    result = CliRunner().invoke(cli, ["eval", str(DEV)])
    for label in ("top-1 accuracy", "top-3", "clarify rate", "fallback precision", "fallback recall",
                  "worst confusions", "per-intent accuracy"):
        assert label in result.output


def test_eval_rejects_a_broken_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": "ok", "intent": null}\n{not json\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["eval", str(bad)])
    assert result.exit_code == 1 and "bad.jsonl:2" in result.output and "Traceback" not in result.output


def test_dev_set_is_independent_of_the_examples(engine) -> None:
    examples = {engine.normalizer(e) for i in engine.intents.values() for lang in ("zh", "en")
                for e in i.examples[lang]}
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    overlap = [r["q"] for r in rows if r["intent"] and engine.normalizer(r["q"]) in examples]
    assert overlap == []


def test_dev_set_covers_every_intent(engine) -> None:
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    counts = {iid: sum(r["intent"] == iid for r in rows) for iid in engine.intents}
    assert min(counts.values()) >= 5
    english = sum(1 for r in rows if r["intent"] and not any("\u4e00" <= c <= "\u9fff" for c in r["q"]))
    assert english >= 0.2 * sum(1 for r in rows if r["intent"])
    assert sum(r["intent"] is None for r in rows) >= 100
