"""The route finder in the terminal: `vocbot route` through a pipe, and the offer inside `vocbot chat`."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.channels.terminal import TerminalChat
from bot.config import ROOT
from bot.core.engine import Engine


def vocbot(args: list[str], stdin: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "VOCBOT_DB": str(tmp_path / "enquiries.db"), "VOCBOT_HASH_KEY": "test-key"}
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=60, check=False)


def test_vocbot_route_through_a_pipe(tmp_path: Path, engine: Engine) -> None:
    # flow 2 (enterprise); goal 1 (apprentice); Back; goal 7 (certify); size 2 (small); then item 1's full answer.
    done = vocbot(["route"], "2\n1\n0\n7\n2\n1\n", tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith(engine.content.message("route_choose_flow", "zh"))
    assert out.count("贵企业想做什么？") == 2 and "贵企业的规模？" in out          # Back asked the goal again
    expected = engine.routes.step("enterprise", {"goal": "certify", "size": "small"}, "zh")
    assert expected.title in out
    for item in expected.items:
        assert item.why in out
    assert all(dept in out for dept in expected.ask)
    first = engine.intents[expected.items[0].intent].answer["zh"]
    assert first.splitlines()[0] in out                                          # the full answer of item 1
    with sqlite3.connect(tmp_path / "enquiries.db") as db:
        logged = db.execute("SELECT channel, decision, via, text FROM enquiries ORDER BY ts").fetchall()
    assert [(c, d, v) for c, d, v, _ in logged] == [("terminal", "route", "route"), ("terminal", "answer", "button")]
    assert json.loads(logged[0][3])["answers"] == {"goal": "certify", "size": "small"}


def test_vocbot_route_in_english_with_a_flow_and_no_log(tmp_path: Path, engine: Engine) -> None:
    done = vocbot(["route", "--flow", "student", "--lang", "en", "--no-log"], "5\n3\n", tmp_path)
    assert done.returncode == 0, done.stderr
    expected = engine.routes.step("student", {"who": "veteran", "want": "cert"}, "en")
    assert "Who is asking?" in done.stdout and expected.title in done.stdout
    assert not (tmp_path / "enquiries.db").exists()
    bad = vocbot(["route", "--flow", "pilots", "--no-log"], "", tmp_path)
    assert bad.returncode == 2 and "no flow 'pilots'" in bad.stderr


@pytest.mark.parametrize(("question", "prefilled"), [
    ("我是退役军人想读书", {"who": "veteran", "want": "study"}),
    ("我们厂想招学徒", {"goal": "apprentice"}),
])
def test_chat_offers_the_route_finder_after_a_situation_question(engine: Engine, question: str,
                                                                 prefilled: dict) -> None:
    out = io.StringIO()
    chat = TerminalChat(engine, None, "zh", out)
    chat.handle(question)
    assert engine.content.message("term_route_offer", "zh") in out.getvalue()
    chat.handle("/route")
    assert chat.route is not None and chat.route[1] == prefilled
    if len(prefilled) == len(engine.routes.flows[chat.route[0]].steps):
        assert engine.routes.step(chat.route[0], prefilled, "zh").title in out.getvalue()


def test_no_offer_for_an_ordinary_question(engine: Engine) -> None:
    out = io.StringIO()
    chat = TerminalChat(engine, None, "zh", out)
    chat.handle("3加2是啥子意思")
    assert engine.content.message("term_route_offer", "zh") not in out.getvalue()
    chat.handle("/route")                                   # without an offer: the choice of flow
    assert out.getvalue().rstrip().endswith(engine.content.message("term_route_help", "zh"))
