"""`vocbot chat`: the terminal conversation, in process and through a real pseudo-terminal."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import select
import sqlite3
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.channels.terminal import TerminalChat, run
from bot.config import Settings
from bot.core.engine import Engine
from bot.log.sync import SyncLogger

COLLOQUIAL_3PLUS2 = "3加2是啥子意思"
VAGUE = ["补贴", "证书", "学徒", "企业", "技能", "升学", "subsidy", "读书", "学分", "老师"]
ANSI = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|[@-Z\\-_])")


def clarifying_question(engine: Engine) -> str:
    """A question the engine answers with "did you mean" choices."""
    for question in VAGUE:
        if engine.ask(question).decision == "clarify":
            return question
    raise AssertionError(f"none of {VAGUE} gets a clarify reply; update VAGUE in tests/test_terminal.py")


def first_line(text: str) -> str:
    return text.splitlines()[0]


def rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


# ---- the conversation in process -------------------------------------------------------------------------
@pytest.fixture
def chat(engine: Engine) -> tuple[TerminalChat, io.StringIO]:
    out = io.StringIO()
    return TerminalChat(engine, None, "zh", out), out


def said(out: io.StringIO) -> str:
    text = out.getvalue()
    out.seek(0)
    out.truncate()
    return text


def test_an_answer_numbers_its_follow_ups_and_a_number_picks_one(chat: tuple[TerminalChat, io.StringIO],
                                                                 engine: Engine) -> None:
    talk, out = chat
    assert talk.handle(COLLOQUIAL_3PLUS2)
    reply = engine.ask(COLLOQUIAL_3PLUS2)
    titles = [c.title for c in reply.related]
    general = f"[{engine.content.message('general_label', 'zh')}]\n{reply.general}\n" + "-" * 40 + "\n"
    assert said(out) == (general + reply.answer + "\n\n" + engine.content.message("related_header", "zh") + "\n"
                         + "\n".join(f"  {n}. {t}" for n, t in enumerate(titles, 1)) + "\n\n")
    talk.handle("2")
    assert said(out).startswith(engine.answer_intent(reply.related[1].intent, "zh").answer)


def test_a_topicless_follow_up_asks_about_the_last_answer(chat: tuple[TerminalChat, io.StringIO],
                                                           engine: Engine) -> None:
    terminal, out = chat
    terminal.handle("我40岁了想去职校参加技能培训")
    assert terminal.topic == "training.adult"
    before = len(out.getvalue())
    terminal.handle("要钱不")
    assert terminal.topic == "subsidy.training"
    assert engine.intents["subsidy.training"].answer["zh"][:30] in out.getvalue()[before:]
    terminal.handle("北京积分落户怎么办")
    assert terminal.topic is None


def test_a_vague_question_offers_numbered_choices(chat: tuple[TerminalChat, io.StringIO], engine: Engine) -> None:
    talk, out = chat
    question = clarifying_question(engine)
    talk.handle(question)
    reply = engine.ask(question)
    assert said(out) == reply.answer + "\n" + "\n".join(
        f"  {n}. {c.title}" for n, c in enumerate(reply.choices, 1)) + "\n\n"
    talk.handle("1")
    assert said(out).startswith(engine.answer_intent(reply.choices[0].intent, "zh").answer)


def test_a_fallback_numbers_the_topics_and_a_topic_numbers_its_questions(chat: tuple[TerminalChat, io.StringIO],
                                                                         engine: Engine) -> None:
    talk, out = chat
    talk.handle("今天天气怎么样")
    text = said(out)
    assert text.startswith(engine.content.message("fallback", "zh"))
    topics = engine.menu.topics_for(None)
    assert f"  1. {topics[0].title['zh']}" in text
    talk.handle("1")
    assert said(out) == (engine.content.message("topic_header", "zh", topic=topics[0].title["zh"]) + "\n"
                         + "\n".join(f"  {n}. {engine.title(i, 'zh')}" for n, i in enumerate(topics[0].intents, 1))
                         + "\n\n")
    talk.handle("1")
    assert said(out).startswith(engine.answer_intent(topics[0].intents[0], "zh").answer)


@pytest.mark.parametrize(("line", "key", "values"), [
    ("/help", "term_help", {}),
    ("/lang en", "lang_set", {}),
    ("/good", "term_no_answer", {}),
    ("/menu", "menu_header", {}),
])
def test_commands(chat: tuple[TerminalChat, io.StringIO], engine: Engine, line: str, key: str,
                  values: dict) -> None:
    talk, out = chat
    assert talk.handle(line)
    lang = "en" if line == "/lang en" else "zh"
    assert said(out).startswith(engine.content.message(key, lang, **values))


def test_a_number_out_of_range_says_so(chat: tuple[TerminalChat, io.StringIO], engine: Engine) -> None:
    talk, out = chat
    talk.handle(COLLOQUIAL_3PLUS2)
    said(out)
    talk.handle("99")
    assert said(out) == engine.content.message("term_no_option", "zh", number=99) + "\n\n"


@pytest.mark.parametrize("line", ["/quit", "/exit", "/QUIT", "  /q  "])
def test_quit_commands_end_the_chat(chat: tuple[TerminalChat, io.StringIO], line: str) -> None:
    assert chat[0].handle(line) is False


def test_the_language_follows_the_question(chat: tuple[TerminalChat, io.StringIO], engine: Engine) -> None:
    talk, out = chat
    talk.handle("what is 3+2")
    text = said(out)
    assert engine.content.message("related_header", "en") in text
    talk.handle("1")
    related = engine.intents["pathway.3plus2"].related[0]
    assert said(out).startswith(engine.answer_intent(related, "en").answer)


def test_run_logs_with_channel_terminal_and_ends_on_end_of_input(settings: Settings, engine: Engine) -> None:
    lines: Iterator[str] = iter([COLLOQUIAL_3PLUS2, "1", "/bad"])

    def read(prompt: str) -> str:
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    out = io.StringIO()
    logger = SyncLogger(settings, channel="terminal", user="tester")
    try:
        run(engine, logger, "zh", read=read, out=out)
    finally:
        logger.close()
    assert out.getvalue().endswith(engine.content.message("term_bye", "zh") + "\n\n")
    logged = rows(settings.db_path, "SELECT channel, via, intent, parent_id IS NOT NULL FROM enquiries ORDER BY ts")
    assert logged == [("terminal", "text", "pathway.3plus2", 0),
                      ("terminal", "button", engine.intents["pathway.3plus2"].related[0], 1)]
    assert rows(settings.db_path, "SELECT value FROM feedback") == [(-1,)]


# ---- `vocbot chat` through a pseudo-terminal ---------------------------------------------------------------
class Terminal:
    """A child process on a pseudo-terminal, read with deadlines (no fixed sleeps)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
                                     start_new_session=True)
        os.close(slave)
        self.seen = ""
        self._raw = b""

    def expect(self, text: str, timeout: float = 20.0) -> str:
        """Read until `text` appears in the output; return everything read up to it and drop it."""
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"did not see {text!r} within {timeout}s; output so far:\n{self.seen}")
            ready, _, _ = select.select([self.master], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:        # the child closed the terminal
                chunk = b""
            if not chunk:
                raise AssertionError(f"the program ended before {text!r}; output:\n{self.seen}")
            self._raw += chunk
            decoded = self._raw.decode("utf-8", errors="ignore")
            if decoded.encode("utf-8") == self._raw:     # never split a character
                self._raw = b""
                self.seen += ANSI.sub("", decoded).replace("\r", "")
        before, _, after = self.seen.partition(text)
        self.seen = after
        return before

    def type(self, line: str) -> None:
        os.write(self.master, line.encode("utf-8") + b"\r")

    def close(self, timeout: float = 20.0) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            os.close(self.master)


def _vocbot() -> list[str]:
    script = Path(sys.executable).with_name("vocbot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "VOCBOT_DB": str(tmp_path / "chat.db"), "VOCBOT_HASH_KEY": "k", "TERM": "xterm",
           "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}
    env.pop("LC_ALL", None)
    return env


@pytest.mark.slow
def test_vocbot_chat_in_a_terminal(tmp_path: Path, engine: Engine) -> None:
    term = Terminal([*_vocbot(), "chat"], _env(tmp_path))
    try:
        term.expect(first_line(engine.content.message("welcome", "zh")))
        term.expect("> ")
        term.type(COLLOQUIAL_3PLUS2)
        reply = engine.ask(COLLOQUIAL_3PLUS2)
        term.expect(first_line(reply.answer))
        term.expect(f"  1. {reply.related[0].title}")
        term.expect("> ")
        term.type("1")
        term.expect(first_line(engine.answer_intent(reply.related[0].intent, "zh").answer))
        term.expect("> ")
        term.type("/good")
        term.expect(engine.content.message("feedback_thanks", "zh"))
        question = clarifying_question(engine)
        vague = engine.ask(question)
        term.type(question)
        term.expect(f"  2. {vague.choices[1].title}")
        term.type("2")
        term.expect(first_line(engine.answer_intent(vague.choices[1].intent, "zh").answer))
        term.type("what is 3+2")
        term.expect(engine.content.message("related_header", "en"))
        term.expect("> ")
        term.type("/quit")
        term.expect(engine.content.message("term_bye", "en"))
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            term.close(0)
    logged = rows(tmp_path / "chat.db", "SELECT channel, via, intent FROM enquiries ORDER BY ts")
    assert logged == [("terminal", "text", "pathway.3plus2"),
                      ("terminal", "button", reply.related[0].intent),
                      ("terminal", "text", vague.intent),
                      ("terminal", "button", vague.choices[1].intent),
                      ("terminal", "text", "pathway.3plus2")]
    assert rows(tmp_path / "chat.db", "SELECT value FROM feedback") == [(1,)]


@pytest.mark.slow
def test_vocbot_chat_no_log_writes_nothing_and_ctrl_d_leaves(tmp_path: Path, engine: Engine) -> None:
    term = Terminal([*_vocbot(), "chat", "--no-log", "--lang", "en"], _env(tmp_path))
    try:
        term.expect(first_line(engine.content.message("welcome", "en")))
        term.expect(engine.content.message("term_not_logged", "en"))
        term.expect("> ")
        term.type("what is 3+2")
        term.expect(first_line(engine.ask("what is 3+2").answer))
        term.expect("> ")
        os.write(term.master, b"\x04")
        term.expect(engine.content.message("term_bye", "en"))
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            term.close(0)
    assert not (tmp_path / "chat.db").exists()


def test_a_fallback_offers_to_be_told_and_the_next_chat_shows_the_answer(settings: Settings, tmp_path: Path,
                                                                          trimmed_intents: Path) -> None:
    import dataclasses
    import shutil

    from loop_data import INTENT, QUESTION, write_intent

    shutil.copytree(trimmed_intents, tmp_path / "intents")   # fits in a second, not the shipped model's seven
    (tmp_path / "intents" / "learned.yaml").unlink(missing_ok=True)
    configured = dataclasses.replace(settings, intents_dir=tmp_path / "intents", model_dir=tmp_path / "models")
    engine = Engine.load(configured.intents_dir, configured.content_dir, configured.model_dir)
    logger = SyncLogger(configured, user="alice")
    out = io.StringIO()
    chat = TerminalChat(engine, logger, out=out)
    chat.handle(QUESTION)
    optin = f"  {len(engine.menu.topics_for(None)) + 1}. {engine.content.message('optin_button', 'zh')}"
    assert optin in out.getvalue()
    chat.handle(str(len(engine.menu.topics_for(None)) + 1))
    assert engine.content.message("term_optin_recorded", "zh") in out.getvalue()
    assert rows(configured.db_path, "SELECT channel, status, reply_to FROM optins") == [("terminal", "pending", None)]
    write_intent(configured.intents_dir, configured.content_dir, configured.model_dir)
    published = Engine.load(configured.intents_dir, configured.content_dir, tmp_path / "models")
    later = io.StringIO()
    TerminalChat(published, logger, out=later).greet()
    assert QUESTION in later.getvalue() and published.answer_intent(INTENT, "zh").answer in later.getvalue()
    again = io.StringIO()
    TerminalChat(published, logger, out=again).greet()
    assert QUESTION not in again.getvalue()
    logger.close()


def test_a_thumbs_down_offers_to_be_told(settings: Settings, engine: Engine) -> None:
    logger = SyncLogger(settings, user="bob")
    out = io.StringIO()
    chat = TerminalChat(engine, logger, out=out)
    chat.handle(COLLOQUIAL_3PLUS2)
    chat.handle("/bad")
    assert f"  1. {engine.content.message('optin_button', 'zh')}" in out.getvalue()
    chat.handle("1")
    assert engine.content.message("term_optin_recorded", "zh") in out.getvalue()
    logger.close()
    assert rows(settings.db_path, "SELECT question, status FROM optins") == [(COLLOQUIAL_3PLUS2, "pending")]
