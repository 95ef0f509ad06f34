"""`vocbot logs ...`: stats, unanswered, export, purge and promote on a log in a temporary folder."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils
import yaml
from click.testing import CliRunner, Result

from bot.cli.main import cli
from bot.config import ROOT
from bot.core.engine import Engine
from bot.core.learn import HEADER
from bot.log import reports
from bot.log.migrate import connect

ZH_QUESTION = "读完职高去当兵有啥子优待"                             # not answered by the shipped intents
EN_QUESTION = "what perks do soldiers get after vocational school"
TARGET = "training.military"
TODAY = dt.datetime.now(dt.UTC).date()
DAY1, DAY2 = (TODAY - dt.timedelta(days=20)).isoformat(), (TODAY - dt.timedelta(days=19)).isoformat()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trimmed_intents: Path, variant_models: Path) -> Path:
    """VOCBOT_DB and VOCBOT_INTENTS_DIR in a temporary folder (the intents are a copy of the shipped ones)."""
    shutil.copytree(trimmed_intents, tmp_path / "intents")
    (tmp_path / "intents" / "learned.yaml").unlink(missing_ok=True)
    monkeypatch.setenv("VOCBOT_DB", str(tmp_path / "e.db"))
    monkeypatch.setenv("VOCBOT_INTENTS_DIR", str(tmp_path / "intents"))
    monkeypatch.setenv("VOCBOT_MODEL_DIR", str(variant_models))
    monkeypatch.setenv("VOCBOT_HASH_KEY", "k")
    monkeypatch.delenv("VOCBOT_RETENTION_DAYS", raising=False)
    return tmp_path


def add(conn: sqlite3.Connection, eid: str, ts: str, text: str, decision: str, intent: str | None = None,
        via: str = "text", lang: str = "zh", channel: str = "web") -> None:
    conn.execute("INSERT INTO enquiries (id, ts, channel, user_key, lang, text, normalized, decision, intent, score, "
                 "latency_ms, via) VALUES (?, ?, ?, 'u', ?, ?, ?, ?, ?, 50, 1.5, ?)",
                 [eid, ts, channel, lang, text, text, decision, intent, via])


@pytest.fixture
def log(env: Path) -> Iterator[Path]:
    """A log with answers, fallbacks (two similar), a clarify, a button, a 👎 and an old enquiry."""
    conn = connect(env / "e.db")
    now = dt.datetime.now(dt.UTC)
    recent = (now - dt.timedelta(days=1)).isoformat()
    add(conn, "a1", f"{DAY1}T08:00:00+00:00", "3+2是啥子意思", "answer", "pathway.3plus2", channel="telegram")
    add(conn, "a2", f"{DAY1}T09:00:00+00:00", "什么是3+2", "answer", "pathway.3plus2")
    add(conn, "f1", f"{DAY2}T10:00:00+00:00", ZH_QUESTION, "fallback")
    add(conn, "f2", f"{DAY2}T11:00:00+00:00", ZH_QUESTION + "嘛", "fallback")
    add(conn, "c1", f"{DAY2}T12:00:00+00:00", EN_QUESTION, "clarify", "pathway.overview", lang="en")
    add(conn, "b1", f"{DAY2}T13:00:00+00:00", "3+2", "answer", "pathway.3plus2", via="button")
    add(conn, "d1", recent, "3+2学费多少", "answer", "pathway.3plus2")
    add(conn, "old", (now - dt.timedelta(days=400)).isoformat(), "很久以前的问题", "fallback")
    conn.execute("INSERT INTO feedback (enquiry_id, ts, value) VALUES ('d1', ?, -1)", [recent])
    conn.close()
    yield env / "e.db"


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


def one_line_error(result: Result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


def db(path: Path) -> sqlite_utils.Database:
    return sqlite_utils.Database(sqlite3.connect(path))


# ---- stats ------------------------------------------------------------------------------------------
def test_stats_json_is_the_report(log: Path) -> None:
    result = run("logs", "stats", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == reports.stats(db(log))


def test_stats_since_json(log: Path) -> None:
    result = run("logs", "stats", "--since", DAY2, "--json")
    assert json.loads(result.output) == reports.stats(db(log), DAY2)
    assert json.loads(result.output)["total"] == 5


def test_stats_as_text(log: Path) -> None:
    result = run("logs", "stats")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Enquiries: 8 (7 typed, 1 buttons)"
    assert lines[1] == "By channel: telegram 1, web 7"
    assert lines[2] == "Decisions: answer 4 (50.0%), clarify 1 (12.5%), fallback 3 (37.5%)"
    assert lines[3] == "Fallback rate (typed questions): 42.9%"
    assert lines[4] == "Feedback: 👍 0  👎 1 (0% 👍)"
    assert lines[5] == "Engine latency: median 1.50 ms, p95 1.50 ms"
    assert lines[6:8] == ["Top intents:", "        4  pathway.3plus2"]
    assert f"  {DAY1}       2  telegram 1  web 1" in lines


@pytest.mark.parametrize("command", ["stats", "unanswered", "export"])
def test_a_bad_since_is_a_usage_error(log: Path, command: str) -> None:
    result = run("logs", command, "--since", "last tuesday")
    assert result.exit_code == 2
    assert "'last tuesday' is not a date; write it like 2026-01-31." in result.output


@pytest.mark.parametrize("command", [["stats"], ["unanswered"], ["export"], ["purge"], ["promote", "x", TARGET]])
def test_without_a_log_every_command_says_where_it_looked(env: Path, command: list[str]) -> None:
    line = one_line_error(run("logs", *command))
    assert line == f"Error: There is no enquiry log at {env / 'e.db'}: run `vocbot serve` first, or set VOCBOT_DB " \
                   "to the log's path."


# ---- unanswered -------------------------------------------------------------------------------------
def test_unanswered_json_clusters_and_suggests(log: Path, engine: Engine) -> None:
    result = run("logs", "unanswered", "--json")
    assert result.exit_code == 0, result.output
    clusters = json.loads(result.output)
    assert [(c["text"], c["count"], sorted(c["enquiry_ids"])) for c in clusters] == [
        (ZH_QUESTION + "嘛", 2, ["f1", "f2"]), ("3+2学费多少", 1, ["d1"]), (EN_QUESTION, 1, ["c1"]),
        ("很久以前的问题", 1, ["old"])]
    assert clusters[0]["suggestion"]["intent"] == engine.ask(ZH_QUESTION + "嘛").candidates[0].intent


def test_unanswered_as_text_since_and_limit(log: Path) -> None:
    result = run("logs", "unanswered", "--since", DAY2, "--limit", "2")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"    2x  {ZH_QUESTION}嘛  [fallback 2] -> ")
    assert lines[0].endswith("(enquiry f2)")
    assert lines[1] == f"         1x {ZH_QUESTION}"
    assert lines[2].startswith("    1x  3+2学费多少  [disliked 1] -> ")
    assert len(lines) == 3


def test_unanswered_when_there_is_nothing(env: Path) -> None:
    connect(env / "e.db").close()
    result = run("logs", "unanswered", "--since", "2026-01-01")
    assert result.output == "No unanswered or disliked questions since 2026-01-01.\n"


# ---- export -----------------------------------------------------------------------------------------
def test_export_csv_to_stdout(log: Path) -> None:
    result = run("logs", "export", "--format", "csv")
    assert result.exit_code == 0, result.output
    text = result.stdout_bytes.decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["id"] for r in rows] == [r["id"] for r in reports.export_rows(db(log))]
    assert list(rows[0]) == list(reports.EXPORT_COLUMNS)
    assert text == reports.export_csv(db(log))


def test_export_jsonl_since(log: Path) -> None:
    result = run("logs", "export", "--format", "jsonl", "--since", DAY2)
    assert result.exit_code == 0, result.output
    objects = [json.loads(line) for line in result.output.splitlines()]
    assert [o["id"] for o in objects] == ["f1", "f2", "c1", "b1", "d1"]
    assert {"id", "ts", "channel", "user_key", "text", "decision", "intent", "score", "feedback"} <= set(objects[0])
    assert objects[-1]["feedback"] == -1


def test_export_rejects_an_unknown_format(log: Path) -> None:
    assert run("logs", "export", "--format", "xml").exit_code == 2


# ---- purge ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "env_days", "purged"), [
    (["--older-than", "180d"], None, 1),
    (["--older-than", "180"], None, 1),
    (["--older-than", "500d"], None, 0),
    ([], None, 1),                        # VOCBOT_RETENTION_DAYS, 180 by default
    ([], "1000", 0),
    (["--older-than", "10d", "--vacuum"], None, 7),
])
def test_purge(log: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], env_days: str | None,
               purged: int) -> None:
    if env_days:
        monkeypatch.setenv("VOCBOT_RETENTION_DAYS", env_days)
    result = run("logs", "purge", *args)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"purged {purged} enquiries older than ")
    assert db(log)["enquiries"].count == 8 - purged


@pytest.mark.parametrize("value", ["abc", "0d", "-5", "3w"])
def test_purge_refuses_a_bad_age(log: Path, value: str) -> None:
    result = run("logs", "purge", "--older-than", value)
    assert result.exit_code == 2
    assert "is not a number of days like 180d" in result.output


# ---- promote ----------------------------------------------------------------------------------------
def test_promote_teaches_the_bot_the_question(log: Path, env: Path, engine: Engine) -> None:
    before = engine.ask(ZH_QUESTION)                                  # the shipped intents, as copied
    assert (before.decision, before.intent) != ("answer", TARGET)
    result = run("logs", "promote", "f1", TARGET)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"added '{ZH_QUESTION}' (zh) to {TARGET} in {env / 'intents' / 'learned.yaml'}",
        f"it now matches {TARGET} (score 100); reload or restart the bot to use it."]
    learned = env / "intents" / "learned.yaml"
    assert learned.read_text(encoding="utf-8").startswith(HEADER)
    assert yaml.safe_load(learned.read_text(encoding="utf-8")) == {"examples": {TARGET: {"zh": [ZH_QUESTION]}}}
    check = run("intents", "check")
    assert check.exit_code == 0, check.output
    after = Engine.load(env / "intents", ROOT / "content").ask(ZH_QUESTION)
    assert (after.decision, after.intent) == ("answer", TARGET)
    assert db(log)["promotions"].count == 1
    assert "f1" not in {i for c in reports.unanswered(db(log)) for i in c["enquiry_ids"]}


def test_promote_adds_a_question_once(log: Path, env: Path) -> None:
    assert run("logs", "promote", "c1", TARGET).exit_code == 0
    learned = env / "intents" / "learned.yaml"
    first = learned.read_bytes()
    again = run("logs", "promote", "c1", TARGET)
    assert again.output == f"'{EN_QUESTION}' already is an example of {TARGET}; nothing to add.\n"
    assert learned.read_bytes() == first
    assert yaml.safe_load(first) == {"examples": {TARGET: {"en": [EN_QUESTION]}}}


@pytest.mark.parametrize(("enquiry", "intent", "message"), [
    ("nope", TARGET, "Error: There is no enquiry 'nope' in "),
    ("b1", TARGET, "Error: Enquiry b1 was a pressed button, not a typed question."),
    ("f1", "no.such.intent", "Error: There is no intent 'no.such.intent'; see `vocbot intents list` for the ids."),
    ("a1", TARGET, "Error: '3+2是啥子意思' is already an example of intent pathway.3plus2; adding it to "
                   "training.military would make the two ambiguous."),
])
def test_promote_refusals_are_one_line(log: Path, env: Path, enquiry: str, intent: str, message: str) -> None:
    assert one_line_error(run("logs", "promote", enquiry, intent)).startswith(message)
    assert not (env / "intents" / "learned.yaml").exists()


def test_promote_refuses_to_touch_a_broken_learned_file(log: Path, env: Path) -> None:
    learned = env / "intents" / "learned.yaml"
    learned.write_text("examples: [unclosed\n", encoding="utf-8")
    line = one_line_error(run("logs", "promote", "f1", TARGET))
    assert "learned.yaml" in line and "not valid YAML" in line
    assert learned.read_text(encoding="utf-8") == "examples: [unclosed\n"
