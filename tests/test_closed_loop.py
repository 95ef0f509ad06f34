"""Issue 15's acceptance, end to end on a real `vocbot serve` process: a Telegram user (fake Bot API) and a web
session (headless Chromium) ask a question the bot cannot answer and opt in; a staff member signs in, writes a new
intent for the cluster citing 三(一)4 and publishes; the Telegram user gets the answer, the server is SIGKILLed and
restarted, the web session sees the notice on its next load, and nothing is sent twice."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from browser_harness import chromium_page, require_chromium
from fake_bot_api import TOKEN, FakeBotAPI
from loop_data import ANSWER_EN, ANSWER_ZH, EXAMPLES_EN, EXAMPLES_ZH, INTENT, QUESTION
from playwright.async_api import Page, expect
from telegram_harness import ask, data_of, press, visible

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(300)]
require_chromium()

PASSWORD = "closed-loop staff password"
HASH_KEY = "closed-loop-key"
ASKER, LATER = 5001, 5002


def _vocbot() -> list[str]:
    script = Path(sys.executable).with_name("vocbot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


class ServeFailed(Exception):
    """`vocbot serve` ended before it said it was running; the message holds the end of its stderr."""


async def _serve(env: dict[str, str], port: int, stderr: Path) -> tuple[subprocess.Popen, int]:
    """`vocbot serve` on `port` (0 picks a free one); the process and the port it bound."""
    with stderr.open("ab") as err:
        proc = subprocess.Popen([*_vocbot(), "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                                stderr=err, text=True)
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
    except TimeoutError:
        line = ""
    match = re.search(r"vocbot is running: open http://127\.0\.0\.1:(\d+)/", line)
    if match is None:
        proc.kill()
        await asyncio.to_thread(proc.communicate, timeout=20)
        raise ServeFailed(f"{line!r}; stderr ends: {stderr.read_text(errors='replace')[-2000:]}")
    return proc, int(match.group(1))


async def _restart(env: dict[str, str], port: int, stderr: Path) -> subprocess.Popen:
    """`vocbot serve` again on the same port (the browser's origin, and so its session, survives the restart).

    Another test's client connection may hold the port as its source port for a moment: retry a few times."""
    for _ in range(4):
        try:
            return (await _serve(env, port, stderr))[0]
        except ServeFailed as exc:
            if "Cannot listen" not in str(exc):
                raise
            await asyncio.sleep(1)
    return (await _serve(env, port, stderr))[0]


def _optins(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT channel, status, reply_to IS NULL FROM optins ORDER BY id").fetchall()
    finally:
        conn.close()


def _notices_to(fake: FakeBotAPI, chat_id: int) -> list:
    return [c for c in fake.find("sendMessage", chat_id=chat_id) if "<blockquote>" in str(c.params.get("text"))]


async def _staff_writes_and_publishes(page: Page, base: str) -> None:
    """In the browser: sign in as admin, open the editor from the cluster in 未答问题, write the new intent
    citing 三(一)4, preview it, save and publish."""
    await page.goto(base + "/staff/login")
    await page.locator("#name").fill("admin")
    await page.locator("#password").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await page.goto(base + "/staff/unanswered")
    cluster = page.locator("article.cluster").filter(has_text=QUESTION)
    await expect(cluster.locator(".optins")).to_contain_text("等待通知 2 人")    # the Telegram user and the web
    await cluster.get_by_role("link", name="为这组问题写新答案").click()
    await expect(page.locator('textarea[name="examples_zh"]')).to_have_value(QUESTION)   # pre-filled
    for name, value in (("id", INTENT), ("title_zh", "中职转普高"), ("title_en", "Moving to general high school"),
                        ("answer_zh", ANSWER_ZH), ("answer_en", ANSWER_EN), ("examples_zh", "\n".join(EXAMPLES_ZH)),
                        ("examples_en", "\n".join(EXAMPLES_EN)),
                        ("silent_procedure_zh", "方案没有写中职转普高的办法和手续（三(一)4），请咨询区教委。"),
                        ("silent_procedure_en",
                         "The plan does not say how a move to general high school works (三(一)4); ask 区教委.")):
        await page.locator(f'[name="{name}"]').fill(value)
    await page.locator('select[name="audience"]').select_option("student")
    await page.locator('select[name="related"]').select_option(["pathway.overview", "pathway.3plus2"])
    clause = page.locator("aside.clauses details").filter(has_text="构建技能人才成长")
    await clause.locator(".clause-heading").click()                  # opens the clause's text beside the form
    await clause.locator('input[name="source"]').check()
    await expect(clause.locator(".clause-text")).to_contain_text("构建职业技术教育与普通高中教育相互融通")
    await page.get_by_role("button", name="检查并预览").click()
    await expect(page.locator(".preview.telegram").first).to_contain_text("三(一)4")
    await expect(page.locator(".matches")).to_contain_text(f"answer {INTENT}")
    await page.get_by_role("button", name="保存并发布").click()
    await expect(page.locator(".notice").first).to_contain_text("已保存")
    await expect(page.locator("main")).to_contain_text("已发布版本")
    await expect(page.locator("table.versions tbody tr").first).to_contain_text("admin")


async def test_the_closed_loop_across_telegram_the_web_and_a_sigkill(tmp_path: Path, trimmed_intents: Path,
                                                                     variant_models: Path) -> None:
    shutil.copytree(trimmed_intents, tmp_path / "intents")
    (tmp_path / "intents" / "learned.yaml").unlink(missing_ok=True)
    db = tmp_path / "enquiries.db"
    stderr = tmp_path / "serve.stderr"
    async with FakeBotAPI() as fake, chromium_page(tmp_path / "profile") as page:
        env = {**os.environ, "VOCBOT_DB": str(db), "VOCBOT_HASH_KEY": HASH_KEY, "VOCBOT_STAFF_PASSWORD": PASSWORD,
               "VOCBOT_INTENTS_DIR": str(tmp_path / "intents"), "VOCBOT_MODEL_DIR": str(variant_models),
               "TELEGRAM_BOT_TOKEN": TOKEN,
               "TELEGRAM_API_URL": fake.url, "PYTHONUNBUFFERED": "1"}
        # Port 0: a port picked here and closed again can be taken by another test's client before serve binds it.
        proc, port = await _serve(env, 0, stderr)
        base = f"http://127.0.0.1:{port}"
        try:
            # 1. Telegram: a fallback, and the opt-in button.
            user = fake.user(ASKER)
            reply = await ask(fake, user, QUESTION)
            optin = next(d for d in data_of(reply) if d.startswith("n:"))
            confirm = await press(fake, user, reply, optin)
            assert "有答案" in visible(confirm) or "工作人员补充答案后" in visible(confirm)
            # 2. The web: the same question, a fallback, and the opt-in button.
            await page.goto(base + "/")
            await expect(page.locator("body")).to_have_attribute("data-ready", "true")
            await page.locator("#question").fill(QUESTION)
            await page.locator("#question").press("Enter")
            fallback = page.locator("#log article.reply").last
            await expect(fallback).to_have_attribute("data-decision", "fallback")
            await fallback.locator("button.optin").click()
            await expect(page.locator("#log .optin-note")).to_contain_text("下次打开本页")
            assert [row[:2] for row in _optins(db)] == [("telegram", "pending"), ("web", "pending")]
            # 3-4. Staff write the new intent for the cluster, citing 三(一)4, and publish.
            mark = fake.mark()
            started = time.monotonic()
            await _staff_writes_and_publishes(await page.context.new_page(), base)
            # 5a. Within 60 s the Telegram user gets the answer, quoting the question.
            notice = await fake.wait_call("sendMessage", since=mark, chat_id=ASKER, timeout=60)
            told_after = time.monotonic() - started
            assert QUESTION in visible(notice) and "三(一)4" in visible(notice) and "区教委" in visible(notice)
            # 7. SIGKILL between the publish and the web session's next visit, then a restart.
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            proc.stdout.close()
            proc = await _restart(env, port, stderr)
            # 6. The same question now gets decision `answer`, in Telegram and on the web API.
            since = fake.mark()
            again = await fake.reply_to(fake.say(fake.user(LATER), QUESTION), since=since, timeout=30)
            assert "三(一)4" in visible(again)
            async with aiohttp.ClientSession() as client:
                body = await (await client.post(base + "/api/chat", json={"text": QUESTION})).json()
            assert (body["decision"], body["intent"]) == ("answer", INTENT)
            # 5b. The web session sees the notice when it next opens the chat, once.
            await page.reload()
            await expect(page.locator("body")).to_have_attribute("data-ready", "true")
            await expect(page.locator("#log .notice-intro")).to_contain_text(QUESTION)
            await expect(page.locator("#log article.reply.notice")).to_contain_text("三(一)4")
            await page.reload()
            await expect(page.locator("body")).to_have_attribute("data-ready", "true")
            await asyncio.sleep(1)
            await expect(page.locator("#log .notice-intro")).to_have_count(0)
            # Nothing twice: give the restarted server's start-up push time, then count.
            await asyncio.sleep(2)
            assert len(_notices_to(fake, ASKER)) == 1
            # The kill may land after Telegram took the notice and before `told` was written: the row then stays
            # `sending` (claimed, counted as told, never sent again). Either way the chat id is erased.
            (tg_channel, tg_status, tg_erased), web_row = _optins(db)
            assert tg_channel == "telegram" and tg_status in ("told", "sending") and tg_erased
            assert web_row == ("web", "told", 1)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                await asyncio.to_thread(proc.communicate, timeout=20)
    assert told_after < 60
