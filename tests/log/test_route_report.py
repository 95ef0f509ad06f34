"""Route-finder use in the reports: by profile, by final result and by intent, in `vocbot logs stats` and on the
staff overview."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils

from bot.cli.logs import format_stats
from bot.core.engine import Engine
from bot.log import reports
from bot.log.migrate import connect
from bot.log.records import route_record
from bot.log.route_report import route_stats
from bot.staff.views import View, overview

PATHS = [("student", {"who": "veteran", "want": "study"}), ("student", {"who": "veteran", "want": "study"}),
         ("student", {"who": "adult", "want": "skills"}), ("enterprise", {"goal": "apprentice", "size": "small"})]


@pytest.fixture
def db(tmp_path: Path, engine: Engine) -> Iterator[sqlite_utils.Database]:
    """A log with four route-finder results and one ordinary answer."""
    conn: sqlite3.Connection = connect(tmp_path / "e.db")
    for n, (flow, answers) in enumerate(PATHS):
        row = route_record(engine.routes.step(flow, answers, "zh"), "web", f"u{n}").row()
        row["ts"] = f"2026-03-0{n + 1}T10:00:00.000000+00:00"
        conn.execute(f"INSERT INTO enquiries ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",  # noqa: S608
                     list(row.values()))
    conn.execute("INSERT INTO enquiries (id, ts, channel, text, decision, intent) VALUES "
                 "('x1', '2026-03-02T11:00:00+00:00', 'web', '3加2', 'answer', 'pathway.3plus2')")
    conn.commit()
    yield sqlite_utils.Database(conn)
    conn.close()


def test_route_stats_by_profile_result_and_intent(db: sqlite_utils.Database, engine: Engine) -> None:
    stats = route_stats(db)
    assert stats["total"] == 4
    assert stats["profiles"] == [{"flow": "student", "profile": "veteran", "count": 2},
                                 {"flow": "enterprise", "profile": "apprentice", "count": 1},
                                 {"flow": "student", "profile": "adult", "count": 1}]
    assert stats["results"][0] == {"flow": "student", "answers": {"who": "veteran", "want": "study"}, "count": 2}
    assert len(stats["results"]) == 3
    veteran = [i.intent for i in engine.routes.step("student", {"who": "veteran", "want": "study"}, "zh").items]
    counts = {row["intent"]: row["count"] for row in stats["intents"]}
    assert all(counts[i] >= 2 for i in veteran)
    assert route_stats(db, "2026-03-03")["total"] == 2


def test_route_rows_hold_only_ids(db: sqlite_utils.Database) -> None:
    for row in db.query("SELECT text, normalized FROM enquiries WHERE decision = 'route'"):
        assert row["normalized"] is None
        assert all(ch.isascii() for ch in row["text"])          # flow, step, option and intent ids only


def test_logs_stats_text_and_overview_show_the_route_finder(db: sqlite_utils.Database, engine: Engine) -> None:
    stats = reports.stats(db)
    assert stats["route_finder"]["total"] == 4
    assert stats["decisions"]["route"] == 4
    text = format_stats(stats)
    assert "Route finder results: 4" in text
    assert "        2  student/veteran" in text
    assert "        2  student: veteran → study" in text
    view = View(lang="zh", message=engine.content.message, url=lambda name: f"/staff/{name}",
                route_label=lambda flow, answers: engine.routes.label(flow, answers, "zh"))
    figures = overview(view, stats, "2026-03-01", "2026-03-04")["figures"]
    page = "".join(f"{caption}{svg}" for caption, svg in figures)
    assert engine.content.message("dash_chart_route_profiles", "zh") in page
    assert "学生、家长和成年人 → 退役军人 → 继续升学" in page
    assert "企业 → 招学徒/订单培养" in page
