"""Staff reports over the enquiry log: stats, unanswered clusters, export, search and purge, on known rows."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from bot.core.engine import Engine
from bot.log import reports
from bot.log.migrate import connect


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A migrated, empty enquiry database."""
    c = connect(tmp_path / "e.db")
    yield c
    c.close()


@pytest.fixture
def db(conn: sqlite3.Connection) -> sqlite_utils.Database:
    return sqlite_utils.Database(conn)


def add(conn: sqlite3.Connection, eid: str, ts: str, *, channel: str = "web", decision: str = "answer",
        intent: str | None = None, text: str = "q", via: str = "text", latency: float | None = 1.0,
        audience: str | None = None, lang: str = "zh", score: float | None = 80.0, user: str = "u1") -> None:
    """Insert one enquiry as the writer would."""
    conn.execute("INSERT INTO enquiries (id, ts, channel, user_key, lang, audience, text, normalized, decision, "
                 "intent, score, candidates, latency_ms, intents_version, via) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'v1', ?)",
                 [eid, ts, channel, user, lang, audience, text, text.lower(), decision, intent, score,
                  json.dumps([{"intent": intent or "x.y", "score": score}]), latency, via])


def rate(conn: sqlite3.Connection, eid: str, value: int, ts: str, comment: str | None = None) -> None:
    conn.execute("INSERT INTO feedback (enquiry_id, ts, value, comment) VALUES (?, ?, ?, ?)",
                 [eid, ts, value, comment])


@pytest.fixture
def log(conn: sqlite3.Connection) -> sqlite3.Connection:
    """Nine enquiries over three days, two channels, every decision, a button, and feedback."""
    add(conn, "e1", "2026-03-01T08:00:00.000000+00:00", channel="telegram", intent="a.one", latency=1.0)
    add(conn, "e2", "2026-03-01T09:00:00.000000+00:00", channel="web", intent="a.two", latency=2.0)
    add(conn, "e3", "2026-03-01T23:00:00.000000+00:00", channel="web", decision="fallback", latency=3.0, score=10)
    add(conn, "e4", "2026-03-02T06:00:00.000000+00:00", channel="telegram", intent="a.one", latency=4.0)
    add(conn, "e5", "2026-03-02T12:00:00.000000+00:00", channel="telegram", decision="clarify", intent="a.two",
        latency=5.0, score=60)
    add(conn, "e6", "2026-03-02T13:00:00.000000+00:00", channel="web", intent="a.one", via="button", latency=6.0)
    add(conn, "e7", "2026-03-03T01:00:00.000000+00:00", channel="web", decision="fallback", latency=7.0, score=5)
    add(conn, "e8", "2026-03-03T02:00:00.000000+00:00", channel="telegram", intent="a.three", latency=8.0)
    add(conn, "e9", "2026-03-03T03:00:00.000000+00:00", channel="web", intent="a.one", latency=None)
    rate(conn, "e1", 1, "2026-03-01T08:01:00+00:00")
    rate(conn, "e2", 1, "2026-03-01T09:01:00+00:00")
    rate(conn, "e2", -1, "2026-03-01T09:02:00+00:00")      # changed their mind: the latest rating counts
    rate(conn, "e4", 1, "2026-03-02T06:01:00+00:00")
    rate(conn, "e8", -1, "2026-03-03T02:01:00+00:00")
    return conn


# ---- dates ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "expected"), [
    (None, None),
    ("", None),
    ("2026-03-02", "2026-03-02"),
    (dt.date(2026, 3, 2), "2026-03-02"),
    ("2026-03-02T12:00:00", "2026-03-02T12:00:00.000000+00:00"),
    ("2026-03-02T20:00:00+08:00", "2026-03-02T12:00:00.000000+00:00"),
    (dt.datetime(2026, 3, 2, 12, 0), "2026-03-02T12:00:00.000000+00:00"),
    (dt.datetime(2026, 3, 3, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))), "2026-03-02T16:00:00.000000+00:00"),
])
def test_since_accepts_dates_and_times_and_gives_utc_text(value: Any, expected: str | None) -> None:
    assert reports.since_iso(value) == expected


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "02/03/2026", "2026-03-02T25:00"])
def test_since_refuses_what_is_not_a_date(value: str) -> None:
    with pytest.raises(ValueError, match="is not a date; write it like 2026-01-31"):
        reports.since_iso(value)


# ---- stats ------------------------------------------------------------------------------------------
ALL_DAYS = [{"day": day, "channel": channel, "count": n} for day, channel, n in [
    ("2026-03-01", "telegram", 1), ("2026-03-01", "web", 2), ("2026-03-02", "telegram", 2), ("2026-03-02", "web", 1),
    ("2026-03-03", "telegram", 1), ("2026-03-03", "web", 2)]]


def test_stats_over_the_whole_log(log: sqlite3.Connection, db: sqlite_utils.Database) -> None:
    assert reports.stats(db) == {
        "since": None, "total": 9, "typed": 8, "buttons": 1, "by_day": ALL_DAYS,
        "channels": {"telegram": 4, "web": 5},
        "decisions": {"answer": 6, "clarify": 1, "fallback": 2},
        "fallback_rate": 0.25,                                   # 2 fallbacks of 8 typed questions
        "top_intents": [{"intent": "a.one", "count": 4}, {"intent": "a.three", "count": 1},
                        {"intent": "a.two", "count": 1}],        # clarify e5 is not an answer of a.two
        "feedback": {"up": 2, "down": 2, "up_share": 0.5, "ratio": 1.0},
        "latency_ms": {"median": 4.0, "p95": 8.0},               # nearest rank over the 8 known latencies
        "route_finder": {"total": 0, "profiles": [], "results": [], "intents": []},
    }


@pytest.mark.parametrize(("since", "total", "days", "decisions", "up_down", "median"), [
    ("2026-03-02", 6, ALL_DAYS[2:], {"answer": 4, "clarify": 1, "fallback": 1}, (1, 1), 6.0),
    (dt.date(2026, 3, 3), 3, ALL_DAYS[4:], {"answer": 2, "clarify": 0, "fallback": 1}, (0, 1), 7.0),
    # inside a day: whole days from the summary, the first day's later rows from the log
    ("2026-03-02T12:00:00+00:00", 5, [{"day": "2026-03-02", "channel": "telegram", "count": 1},
                                      {"day": "2026-03-02", "channel": "web", "count": 1}, *ALL_DAYS[4:]],
     {"answer": 3, "clarify": 1, "fallback": 1}, (0, 1), 6.0),
    (dt.datetime(2026, 3, 2, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))), 5, None, None, (0, 1), 6.0),
    ("2026-04-01", 0, [], {"answer": 0, "clarify": 0, "fallback": 0}, (0, 0), None),
])
def test_stats_since(log: sqlite3.Connection, db: sqlite_utils.Database, since: Any, total: int,
                     days: list | None, decisions: dict | None, up_down: tuple[int, int], median: float | None) -> None:
    result = reports.stats(db, since)
    assert result["total"] == total
    if days is not None:
        assert result["by_day"] == days
    if decisions is not None:
        assert result["decisions"] == decisions
    assert (result["feedback"]["up"], result["feedback"]["down"]) == up_down
    assert result["latency_ms"]["median"] == median


def test_stats_of_an_empty_log(db: sqlite_utils.Database) -> None:
    assert reports.stats(db) == {
        "since": None, "total": 0, "typed": 0, "buttons": 0, "by_day": [], "channels": {},
        "decisions": {"answer": 0, "clarify": 0, "fallback": 0}, "fallback_rate": None, "top_intents": [],
        "feedback": {"up": 0, "down": 0, "up_share": None, "ratio": None},
        "latency_ms": {"median": None, "p95": None},
        "route_finder": {"total": 0, "profiles": [], "results": [], "intents": []}}


@pytest.mark.parametrize("n", [1, 2, 3, 10, 20, 101, 1000])
def test_latency_percentiles_are_the_nearest_rank(conn: sqlite3.Connection, db: sqlite_utils.Database, n: int) -> None:
    values = [round(random.Random(n).uniform(0.1, 50), 3) for _ in range(n)]
    for i, value in enumerate(values):
        add(conn, f"e{i}", f"2026-03-01T00:00:{i % 60:02d}.{i:06d}+00:00", latency=value)
    ordered = sorted(values)
    assert reports.latency(db) == {"median": ordered[math.ceil(0.5 * n) - 1], "p95": ordered[math.ceil(0.95 * n) - 1]}


def test_top_intents_are_capped_and_ordered_by_count_then_id(conn: sqlite3.Connection,
                                                            db: sqlite_utils.Database) -> None:
    for i in range(15):
        for j in range(i + 1):
            add(conn, f"e{i}-{j}", f"2026-03-01T{i:02d}:{j:02d}:00+00:00", intent=f"i.{i:02d}")
    add(conn, "tie", "2026-03-02T00:00:00+00:00", intent="h.tie")
    for j in range(5):
        add(conn, f"tie{j}", f"2026-03-02T01:{j:02d}:00+00:00", intent="j.tie")
    top = reports.stats(db)["top_intents"]
    assert [t["intent"] for t in top] == ["i.14", "i.13", "i.12", "i.11", "i.10", "i.09", "i.08", "i.07", "i.06",
                                          "i.05"]
    assert len(top) == reports.TOP_INTENTS


# ---- unanswered -------------------------------------------------------------------------------------
HOTPOT = ["北碚有没有好吃的火锅", "北碚有没有好吃的火锅啊", "北碚有没有好吃的火锅", "北碚哪里有好吃的火锅"]


@pytest.fixture
def failures(conn: sqlite3.Connection) -> sqlite3.Connection:
    """Fallbacks about hotpot (4) and bus cards (2), a clarify, a 👎 answer, and things that are not failures."""
    for i, text in enumerate(HOTPOT):
        add(conn, f"h{i}", f"2026-03-0{i + 1}T10:00:00+00:00", decision="fallback", text=text)
    add(conn, "b0", "2026-03-01T11:00:00+00:00", decision="fallback", text="公交卡在哪里办", channel="telegram")
    add(conn, "b1", "2026-03-04T11:00:00+00:00", decision="clarify", text="公交卡在哪办", intent="a.two")
    add(conn, "d0", "2026-03-02T12:00:00+00:00", decision="answer", text="3+2学费一年多少钱", intent="a.one")
    rate(conn, "d0", -1, "2026-03-02T12:01:00+00:00")
    add(conn, "ok", "2026-03-02T13:00:00+00:00", decision="answer", text="什么是3+2", intent="a.one")
    rate(conn, "ok", 1, "2026-03-02T13:01:00+00:00")
    add(conn, "up", "2026-03-02T14:00:00+00:00", decision="answer", text="学徒制是什么", intent="a.one")
    rate(conn, "up", -1, "2026-03-02T14:01:00+00:00")
    rate(conn, "up", 1, "2026-03-02T14:02:00+00:00")           # the latest rating is 👍: not a failure
    add(conn, "btn", "2026-03-02T15:00:00+00:00", decision="fallback", text="按钮", via="button")
    add(conn, "empty", "2026-03-02T16:00:00+00:00", decision="fallback", text="？！")
    return conn


def fake_suggest(text: str) -> list[tuple[str, float]]:
    return [("s." + str(len(text)), 61.234), ("s.other", 40.0)]


def test_unanswered_clusters_similar_questions_largest_first(failures: sqlite3.Connection,
                                                             db: sqlite_utils.Database) -> None:
    clusters = reports.unanswered(db, suggest=fake_suggest)
    assert [(c["text"], c["count"]) for c in clusters] == [("北碚有没有好吃的火锅", 4), ("公交卡在哪办", 2),
                                                           ("3+2学费一年多少钱", 1)]
    hotpot, bus, disliked = clusters
    assert hotpot["enquiry_id"] == "h2"                          # the newest of the most frequent wording
    assert sorted(hotpot["enquiry_ids"]) == ["h0", "h1", "h2", "h3"]
    assert hotpot["questions"] == [{"text": "北碚有没有好吃的火锅", "enquiry_id": "h2", "count": 2},
                                   {"text": "北碚哪里有好吃的火锅", "enquiry_id": "h3", "count": 1},
                                   {"text": "北碚有没有好吃的火锅啊", "enquiry_id": "h1", "count": 1}]
    assert hotpot["reasons"] == {"fallback": 4, "clarify": 0, "disliked": 0}
    assert hotpot["last_ts"] == "2026-03-04T10:00:00+00:00"
    assert hotpot["suggestion"] == {"intent": "s.10", "score": 61.23}
    assert hotpot["candidates"] == [{"intent": "s.10", "score": 61.23}, {"intent": "s.other", "score": 40.0}]
    assert bus["reasons"] == {"fallback": 1, "clarify": 1, "disliked": 0}
    assert sorted(bus["enquiry_ids"]) == ["b0", "b1"]
    assert disliked["reasons"] == {"fallback": 0, "clarify": 0, "disliked": 1}


def test_unanswered_keeps_markup_that_normalises_to_nothing(failures: sqlite3.Connection,
                                                            db: sqlite_utils.Database) -> None:
    add(failures, "tag", "2026-03-02T17:00:00+00:00", decision="fallback", text='"><img src=x onerror=alert(1)>')
    texts = [c["text"] for c in reports.unanswered(db)]
    assert '"><img src=x onerror=alert(1)>' in texts and "？！" not in texts


@pytest.mark.parametrize(("kwargs", "expected"), [
    # equal counts: the newest wording leads
    ({"since": "2026-03-03"}, [("北碚哪里有好吃的火锅", 2), ("公交卡在哪办", 1)]),
    ({"limit": 1}, [("北碚有没有好吃的火锅", 4)]),
    ({"threshold": 100}, [("北碚有没有好吃的火锅", 2), ("公交卡在哪办", 1), ("北碚哪里有好吃的火锅", 1),
                          ("3+2学费一年多少钱", 1), ("北碚有没有好吃的火锅啊", 1), ("公交卡在哪里办", 1)]),
])
def test_unanswered_since_limit_and_threshold(failures: sqlite3.Connection, db: sqlite_utils.Database,
                                              kwargs: dict, expected: list) -> None:
    assert [(c["text"], c["count"]) for c in reports.unanswered(db, **kwargs)] == expected


def test_promoted_questions_leave_the_unanswered_list(failures: sqlite3.Connection, db: sqlite_utils.Database) -> None:
    failures.execute("INSERT INTO promotions (enquiry_id, ts, intent, text, normalized, lang) VALUES "
                     "('b0', '2026-03-05T00:00:00+00:00', 'a.two', '公交卡在哪里办', '公交卡在哪里办', 'zh'), "
                     "('x', '2026-03-05T00:00:00+00:00', 'a.two', '北碚有没有好吃的火锅', '北碚有没有好吃的火锅', "
                     "'zh')")
    clusters = reports.unanswered(db)
    assert [(c["text"], c["count"], c["suggestion"]) for c in clusters] == [
        ("北碚哪里有好吃的火锅", 2, None), ("公交卡在哪办", 1, None), ("3+2学费一年多少钱", 1, None)]


def test_unanswered_with_the_engine_suggests_its_best_intent(conn: sqlite3.Connection, db: sqlite_utils.Database,
                                                             engine: Engine) -> None:
    question = engine.intents["pathway.3plus2"].examples["zh"][1] + "呢"
    add(conn, "c0", "2026-03-01T00:00:00+00:00", decision="clarify", text=question)
    [cluster] = reports.unanswered(db, engine=engine)
    expected = engine.ask(question).candidates[0]
    assert cluster["suggestion"] == {"intent": expected.intent, "score": round(expected.score, 2)}


@pytest.mark.parametrize(("keys", "groups"), [
    ([], []),
    (["abc"], [[0]]),
    (["abcdefgh", "abcdefgx", "zzzzzzzz"], [[0, 1], [2]]),
    # greedy: the first (most frequent) key takes its neighbours (ratio 90), not a neighbour's neighbour
    # (#2 is 80 from #1 but 60 from #0), which starts the next cluster
    (["aaaaaaaaaa", "aaaaaaaabb", "aaaaaabbbb", "aaaabbbbbb"], [[0, 1], [2, 3]]),
])
def test_greedy_clustering(keys: list[str], groups: list[list[int]]) -> None:
    assert reports._greedy(keys, 75) == groups


# ---- export -----------------------------------------------------------------------------------------
def test_export_rows_have_the_documented_fields_oldest_first(log: sqlite3.Connection,
                                                            db: sqlite_utils.Database) -> None:
    exported = list(reports.export_rows(db))
    assert [r["id"] for r in exported] == [f"e{i}" for i in range(1, 10)]
    assert list(exported[0]) == list(reports.EXPORT_COLUMNS)
    assert {"id", "ts", "channel", "user_key", "text", "decision", "intent", "score", "feedback"} <= set(exported[0])
    assert [r["feedback"] for r in exported] == [1, -1, None, 1, None, None, None, -1, None]
    assert exported[0]["candidates"] == [{"intent": "a.one", "score": 80.0}]
    assert [r["id"] for r in reports.export_rows(db, "2026-03-03")] == ["e7", "e8", "e9"]


def test_csv_export_matches_the_rows_and_defuses_formulas(log: sqlite3.Connection, db: sqlite_utils.Database) -> None:
    add(log, "f1", "2026-03-04T00:00:00+00:00", text="=HYPERLINK(\"http://x\")", decision="fallback")
    add(log, "f2", "2026-03-04T00:00:01+00:00", text="多行\n问题, 带\"引号\"")
    text = reports.export_csv(db)
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [r["id"] for r in parsed] == [r["id"] for r in reports.export_rows(db)]
    assert parsed[-2]["text"] == "'=HYPERLINK(\"http://x\")"
    assert parsed[-1]["text"] == "多行\n问题, 带\"引号\""
    assert parsed[1]["feedback"] == "-1" and parsed[2]["feedback"] == ""
    assert json.loads(parsed[0]["candidates"]) == [{"intent": "a.one", "score": 80.0}]
    assert reports.export_csv(db, bom=True).startswith("\ufeffid,ts,")
    out = io.StringIO()
    assert reports.write_csv(db, out, "2026-03-04") == 2
    assert out.getvalue() == reports.export_csv(db, "2026-03-04")


@pytest.mark.parametrize("text", ["\n=1+1", " =1+1", "\uff1dHYPERLINK(\"http://x\")", "\uff0b1", "\uff0d1",
                                  "\uff20SUM(A1)", "\u3000=1"])
def test_csv_defuses_formulas_after_blanks_line_breaks_and_full_width_signs(log: sqlite3.Connection,
                                                                           db: sqlite_utils.Database,
                                                                           text: str) -> None:
    """Issue 12 leftover: cells starting with LF, a space or a full-width sign were exported bare."""
    add(log, "g1", "2026-03-05T00:00:00+00:00", text=text)
    parsed = list(csv.DictReader(io.StringIO(reports.export_csv(db))))
    assert parsed[-1]["text"] == "'" + text


def test_csv_chunks_stream_the_same_text(log: sqlite3.Connection, db: sqlite_utils.Database) -> None:
    chunks = list(reports.csv_chunks(db, rows_per_chunk=2))
    assert len(chunks) == 5
    assert "".join(chunks) == reports.export_csv(db)


def test_jsonl_export_is_one_object_per_enquiry(log: sqlite3.Connection, db: sqlite_utils.Database) -> None:
    out = io.StringIO()
    assert reports.write_jsonl(db, out) == 9
    lines = out.getvalue().splitlines()
    assert [json.loads(line) for line in lines] == list(reports.export_rows(db))


# ---- the dashboard list -----------------------------------------------------------------------------
@pytest.mark.parametrize(("filters", "ids"), [
    ({}, ["e9", "e8", "e7", "e6", "e5", "e4", "e3", "e2", "e1"]),
    ({"channel": "telegram"}, ["e8", "e5", "e4", "e1"]),
    ({"decision": "fallback"}, ["e7", "e3"]),
    ({"intent": "a.one"}, ["e9", "e6", "e4", "e1"]),
    ({"since": "2026-03-02", "until": "2026-03-02"}, ["e6", "e5", "e4"]),
    ({"until": "2026-03-01"}, ["e3", "e2", "e1"]),
    ({"channel": "web", "decision": "answer", "since": "2026-03-02"}, ["e9", "e6"]),
    ({"q": "问"}, ["e5", "e2"]),
    ({"q": "學徒"}, ["e4"]),            # traditional characters find the simplified normalised text
    ({"q": "%_"}, ["e8"]),             # % and _ are literal
    ({"audience": "enterprise"}, ["e7"]),
    ({"channel": "", "q": None}, ["e9", "e8", "e7", "e6", "e5", "e4", "e3", "e2", "e1"]),
])
def test_search_enquiries_filters(conn: sqlite3.Connection, db: sqlite_utils.Database, filters: dict,
                                  ids: list[str]) -> None:
    texts = {"e2": "可以问问题吗", "e4": "学徒制", "e5": "问一下", "e8": "打折50%_吗", "e6": "50%x"}
    add(conn, "e1", "2026-03-01T08:00:00+00:00", channel="telegram", intent="a.one")
    add(conn, "e2", "2026-03-01T09:00:00+00:00", intent="a.two", text=texts["e2"])
    add(conn, "e3", "2026-03-01T23:59:59+00:00", decision="fallback")
    add(conn, "e4", "2026-03-02T00:00:00+00:00", channel="telegram", intent="a.one", text=texts["e4"])
    add(conn, "e5", "2026-03-02T12:00:00+00:00", channel="telegram", decision="clarify", text=texts["e5"])
    add(conn, "e6", "2026-03-02T13:00:00+00:00", intent="a.one", via="button", text=texts["e6"])
    add(conn, "e7", "2026-03-03T01:00:00+00:00", decision="fallback", audience="enterprise")
    add(conn, "e8", "2026-03-03T02:00:00+00:00", channel="telegram", intent="a.three", text=texts["e8"])
    add(conn, "e9", "2026-03-03T03:00:00+00:00", intent="a.one")
    result = reports.search_enquiries(db, filters)
    assert [r["id"] for r in result["rows"]] == ids
    assert result["total"] == len(ids)


def test_search_enquiries_pages(conn: sqlite3.Connection, db: sqlite_utils.Database) -> None:
    for i in range(23):
        add(conn, f"e{i:02d}", f"2026-03-01T00:00:{i:02d}+00:00")
    rate(conn, "e20", -1, "2026-03-02T00:00:00+00:00")
    first = reports.search_enquiries(db, {}, page=1, per_page=10)
    third = reports.search_enquiries(db, {}, page=3, per_page=10)
    beyond = reports.search_enquiries(db, {}, page=9, per_page=10)
    assert (first["total"], first["pages"], first["page"]) == (23, 3, 1)
    assert [r["id"] for r in first["rows"]][:3] == ["e22", "e21", "e20"]
    assert first["rows"][2]["feedback"] == -1
    assert [r["id"] for r in third["rows"]] == ["e02", "e01", "e00"]
    assert beyond["rows"] == [] and beyond["total"] == 23
    assert reports.search_enquiries(db, {}, page=0, per_page=0)["per_page"] == 1
    assert reports.search_enquiries(db, {}, per_page=10_000)["per_page"] == 500


@pytest.mark.parametrize(("filters", "message"), [({"colour": "red"}, "unknown filter"),
                                                  ({"since": "last week"}, "is not a date")])
def test_search_enquiries_refuses_bad_filters(db: sqlite_utils.Database, filters: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        reports.search_enquiries(db, filters)


def test_get_enquiry(log: sqlite3.Connection, db: sqlite_utils.Database) -> None:
    assert reports.get_enquiry(db, "e3")["decision"] == "fallback"
    assert reports.get_enquiry(db, "nope") is None


# ---- purge ------------------------------------------------------------------------------------------
NOW = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)


def ago(days: float) -> str:
    return (NOW - dt.timedelta(days=days)).isoformat(timespec="microseconds")


@pytest.mark.parametrize("chunk", [2, 5000])
def test_purge_deletes_old_enquiries_with_everything_linked(conn: sqlite3.Connection, chunk: int) -> None:
    for i, age in enumerate([400, 200, 181, 179, 10]):
        add(conn, f"e{i}", ago(age), intent="a.one", user=f"u{i}")
        rate(conn, f"e{i}", 1, ago(age - 0.01))
        conn.execute("INSERT INTO handoffs (enquiry_id, ts, channel, user_key, status) VALUES (?, ?, 'web', ?, "
                     "'open')", [f"e{i}", ago(age - 0.02), f"u{i}"])
        handoff = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
        conn.execute("INSERT INTO staff_replies (handoff_id, enquiry_id, ts, text) VALUES (?, ?, ?, '答复')",
                     [handoff, f"e{i}", ago(age - 0.03)])
        conn.execute("INSERT INTO user_prefs (user_key, audience, updated) VALUES (?, 'student', ?)",
                     [f"u{i}", ago(age)])
    conn.execute("INSERT INTO promotions (enquiry_id, ts, intent, text, lang) VALUES ('e0', ?, 'a.one', 'q', 'zh')",
                 [ago(300)])
    result = reports.purge(conn, 180, now=NOW, chunk=chunk)
    assert result == {"cutoff": ago(180), "enquiries": 3, "feedback": 3, "handoffs": 3, "staff_replies": 3,
                      "promotions": 1, "user_prefs": 3, "reply_addresses": 0, "optins": 0}
    def left(table: str) -> list[str]:
        return [r[0] for r in conn.execute(f"SELECT enquiry_id FROM {table} ORDER BY 1")]  # noqa: S608 - test tables
    assert [r[0] for r in conn.execute("SELECT id FROM enquiries ORDER BY id")] == ["e3", "e4"]
    assert left("feedback") == left("handoffs") == left("staff_replies") == ["e3", "e4"]
    assert [r[0] for r in conn.execute("SELECT user_key FROM user_prefs ORDER BY 1")] == ["u3", "u4"]
    assert sqlite_utils.Database(conn)["enquiry_days"].count == 2
    assert reports.stats(sqlite_utils.Database(conn))["total"] == 2
    assert reports.purge(conn, 180, now=NOW)["enquiries"] == 0


def test_purge_keeps_at_least_a_day(conn: sqlite3.Connection) -> None:
    with pytest.raises(ValueError, match="at least 1 day"):
        reports.purge(conn, 0)


def test_purge_deletes_reply_addresses_past_the_retention_period(conn: sqlite3.Connection) -> None:
    """Issue 12 row 3: a handoff kept for its staff replies keeps no reply address past the retention period."""
    add(conn, "r1", ago(10))
    conn.executemany("INSERT INTO handoffs (enquiry_id, ts, channel, user_key, reply_to, status) "
                     "VALUES ('r1', ?, 'telegram', 'k', ?, 'open')", [(ago(200), "s1:old"), (ago(5), "s1:new")])
    conn.execute("INSERT INTO staff_replies (handoff_id, enquiry_id, ts, text) VALUES (1, 'r1', ?, 'hi')", [ago(5)])
    result = reports.purge(conn, 180, now=NOW)
    assert result["reply_addresses"] == 1
    assert [r[0] for r in conn.execute("SELECT reply_to FROM handoffs ORDER BY id")] == [None, "s1:new"]
