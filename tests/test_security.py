"""Security across the channels: sign-in, sessions, CSRF, headers, secrets and pseudonyms.

Covered where the feature lives (not repeated here): pages refused without sign-in, wrong passwords,
HttpOnly/SameSite cookies and a new session id at sign-in, lockout after repeated failures, CSRF on posts
(tests/test_staff.py); admin Telegram commands refused for non-admins, in groups and via edited messages
(tests/test_telegram_admin.py); the web page's headers and lack of inline script (tests/test_web.py).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from fake_bot_api import TOKEN, FakeBotAPI
from telegram_harness import ask, bot_settings, logged, running_bot, running_service

from bot.channels.web import chat as web_channel
from bot.config import Settings
from bot.core.engine import Engine
from bot.log.store import Store
from bot.service import Service
from bot.staff import app as staff
from bot.staff.app import COOKIE

PASSWORD = "s3cret-staff-Password!"
HASH_KEY = "hash-key-that-must-stay-hidden-7f3a"
SECRETS = (PASSWORD, HASH_KEY, TOKEN)
TELEGRAM_USER = 987654321


@pytest.fixture
def secret_settings(settings: Settings) -> Settings:
    """Settings with every secret set."""
    return dataclasses.replace(settings, staff_password=PASSWORD, hash_key=HASH_KEY, telegram_token=TOKEN)


@pytest.fixture
async def app_client(secret_settings: Settings, engine: Engine) -> AsyncIterator[TestClient]:
    """The web app with the dashboard mounted, as `vocbot serve` builds it (Telegram attached separately)."""
    service = Service(secret_settings, engine, Store(secret_settings))
    app = web_channel.create_app(service)
    app.add_subapp("/staff", staff.create_staff_app(service))
    async with TestClient(TestServer(app)) as client:
        yield client


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


async def sign_in(client: TestClient) -> str:
    """Sign in; returns the CSRF token of the signed-in session."""
    form = await client.get("/staff/login")
    response = await client.post("/staff/login", data={"csrf": csrf_of(await form.text()), "password": PASSWORD},
                                 allow_redirects=False)
    assert response.status == 303
    return csrf_of(await (await client.get("/staff/")).text())


def assert_security_headers(response: object, where: str) -> None:
    headers = response.headers    # type: ignore[attr-defined]
    csp = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, where
    script_src = re.search(r"script-src ([^;]*)", csp) or re.search(r"default-src ([^;]*)", csp)
    assert script_src and "'unsafe-inline'" not in script_src.group(1) and "*" not in script_src.group(1), where
    assert "'unsafe-eval'" not in csp, where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("X-Frame-Options") == "DENY", where


# ---- headers -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path", "signed_in"), [
    ("GET", "/", False), ("GET", "/static/app.js", False), ("GET", "/healthz", False), ("GET", "/api/menu", False),
    ("POST", "/api/chat", False), ("GET", "/api/nothing", False), ("GET", "/nothing", False),
    ("GET", "/staff/login", False), ("GET", "/staff/", False), ("GET", "/staff/export.csv", False),
    ("POST", "/staff/login", False), ("GET", "/staff/static/staff.css", False),
    ("GET", "/staff/", True), ("GET", "/staff/enquiries", True), ("GET", "/staff/unanswered", True),
    ("GET", "/staff/export.csv", True), ("GET", "/staff/no-such-page", True),
])
async def test_every_web_api_and_staff_response_has_the_security_headers(app_client: TestClient, method: str,
                                                                         path: str, signed_in: bool) -> None:
    if signed_in:
        await sign_in(app_client)
    kwargs = {"json": {"text": "补贴"}} if path == "/api/chat" else {}
    response = await app_client.request(method, path, allow_redirects=False, **kwargs)
    await response.read()
    assert response.status < 500
    assert_security_headers(response, f"{method} {path} -> {response.status}")


# ---- sign-in, sessions, CSRF ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/staff/", "/staff/enquiries", "/staff/unanswered", "/staff/export.csv",
                                  "/staff/export.csv?days=all", "/staff/enquiries?q=%3Cscript%3E"])
async def test_pages_and_exports_refuse_a_forged_or_stale_cookie(app_client: TestClient, path: str) -> None:
    app_client.session.cookie_jar.update_cookies({COOKIE: "forged-session-id"})
    response = await app_client.get(path, allow_redirects=False)
    body = await response.text()
    assert response.status in (302, 303, 401, 403)
    assert "text/csv" not in response.headers.get("Content-Type", "")
    assert "enquiry" not in body.lower() or "login" in body.lower()


async def test_a_session_id_planted_before_sign_in_is_not_the_one_signed_in(app_client: TestClient) -> None:
    """Session fixation: an attacker who knows the pre-sign-in cookie gains nothing once the victim signs in."""
    form = await app_client.get("/staff/login")
    planted = form.cookies[COOKIE].value
    await app_client.post("/staff/login", data={"csrf": csrf_of(await form.text()), "password": PASSWORD},
                          allow_redirects=False)
    signed_in = next(c.value for c in app_client.session.cookie_jar if c.key == COOKIE)
    assert signed_in != planted
    async with TestClient(TestServer(app_client.server.app)) as attacker:     # same app, another browser
        attacker.session.cookie_jar.update_cookies({COOKIE: planted})
        response = await attacker.get("/staff/", allow_redirects=False)
        assert response.status in (302, 303, 401, 403)


async def test_a_forged_cross_site_post_is_refused_even_when_signed_in(app_client: TestClient) -> None:
    await sign_in(app_client)
    for data in ({"intent": "x", "question": "y"}, {"intent": "x", "question": "y", "csrf": "guess"}):
        response = await app_client.post("/staff/promote", data=data, allow_redirects=False)
        assert response.status == 403
    logout = await app_client.post("/staff/logout", data={}, allow_redirects=False)
    assert logout.status == 403


# ---- secrets -------------------------------------------------------------------------------------------
async def test_secrets_never_appear_in_pages_exports_errors_or_logs(app_client: TestClient,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    bodies = []
    for text in ("3加2是啥子意思", "北碚哪里有好吃的火锅"):
        response = await app_client.post("/api/chat", json={"text": text})
        bodies.append(await response.text())
    for method, path, kwargs in [("POST", "/api/chat", {"data": b"{bad"}), ("GET", "/api/nothing", {}),
                                 ("GET", "/healthz", {}), ("GET", "/api/menu", {}),
                                 ("POST", "/staff/login", {"data": {"password": "wrong"}})]:
        response = await app_client.request(method, path, allow_redirects=False, **kwargs)
        bodies.append(await response.text())
    await sign_in(app_client)
    for path in ("/staff/", "/staff/enquiries", "/staff/unanswered", "/staff/export.csv?days=all"):
        response = await app_client.get(path)
        assert response.status == 200
        bodies.append(await response.text())
    logs = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    for secret in SECRETS:
        assert [n for n, body in enumerate(bodies) if secret in body] == [], secret
        assert secret not in logs, secret


async def test_a_telegram_error_never_logs_the_token(settings: Settings, engine: Engine,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with FakeBotAPI() as fake:
        fake.fail("sendMessage", status=500, times=1)
        fake.fail("getUpdates", status=502, times=1)
        async with running_service(bot_settings(settings, fake, hash_key=HASH_KEY), engine) as service, \
                running_bot(service):
            reply = await ask(fake, fake.user(TELEGRAM_USER), "3加2是啥子意思")
            assert reply.ok
            await logged(service, "SELECT id FROM enquiries")
    text = "\n".join(r.getMessage() + logging.Formatter().formatException(r.exc_info) if r.exc_info
                     else r.getMessage() for r in caplog.records)
    assert TOKEN not in text and TOKEN.split(":")[1] not in text
    assert HASH_KEY not in text


def _vocbot() -> list[str]:
    script = Path(sys.executable).with_name("vocbot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


@pytest.mark.slow
async def test_serve_stderr_never_shows_the_token_password_or_key(tmp_path: Path) -> None:
    """`vocbot serve` with Telegram failing at first (500 then 429): the operator's log keeps every secret out."""
    async with FakeBotAPI() as fake:
        fake.fail("getMe", status=500, times=1)
        fake.fail("getUpdates", status=429, retry_after=1, times=1)
        env = {**os.environ, "VOCBOT_DB": str(tmp_path / "e.db"), "VOCBOT_HASH_KEY": HASH_KEY,
               "VOCBOT_STAFF_PASSWORD": PASSWORD, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": fake.url,
               "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen([*_vocbot(), "serve", "--port", "0"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            user = fake.user(TELEGRAM_USER)
            message = fake.say(user, "3加2是啥子意思")
            reply = await fake.reply_to(message, since=0, timeout=30)
            assert reply.ok
            proc.send_signal(signal.SIGTERM)
            out, err = await _communicate(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, err
    for secret in (*SECRETS, TOKEN.split(":")[1]):
        assert secret not in out and secret not in err
    assert "Traceback" not in err


async def _communicate(proc: subprocess.Popen) -> tuple[str, str]:
    import asyncio

    return await asyncio.to_thread(proc.communicate, timeout=20)


# ---- pseudonyms ----------------------------------------------------------------------------------------
def _stored(db: Path) -> str:
    """Every value in every table, as one string."""
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return json.dumps([list(conn.execute(f"SELECT * FROM [{t}]")) for t in tables],  # noqa: S608 - table names from sqlite_master
                          ensure_ascii=False, default=str)
    finally:
        conn.close()


@pytest.mark.parametrize("opt_in", [False, True])
async def test_raw_user_ids_are_stored_only_when_the_operator_opts_in(settings: Settings, engine: Engine,
                                                                      opt_in: bool) -> None:
    configured = dataclasses.replace(settings, store_raw_ids=opt_in)
    web_session = ""
    async with FakeBotAPI() as fake, running_service(bot_settings(configured, fake), engine) as service, \
            running_bot(service):
            user = fake.user(TELEGRAM_USER)
            await ask(fake, user, "3加2是啥子意思")
            await ask(fake, user, "/lang")
            await logged(service, "SELECT id FROM enquiries")
            app = web_channel.create_app(service)
            app.on_startup.clear()
            app.cleanup_ctx.clear()          # the service is already started by running_service
            async with TestClient(TestServer(app)) as client:
                answered = await (await client.post("/api/chat", json={"text": "补贴"})).json()
                web_session = answered["session"]                # minted by the server
                await client.post("/api/feedback", json={"enquiry_id": answered["enquiry_id"], "value": 1,
                                                         "session": web_session})
                await client.post("/api/handoff", json={"enquiry_id": answered["enquiry_id"],
                                                        "session": web_session})
    stored = _stored(configured.db_path)
    assert (str(TELEGRAM_USER) in stored) is opt_in
    assert (web_session in stored) is opt_in
    assert service.user_key("telegram", TELEGRAM_USER) in stored     # the pseudonym is always there


def test_pseudonyms_depend_on_the_key(settings: Settings) -> None:
    one = Store(dataclasses.replace(settings, hash_key="key-one"))
    two = Store(dataclasses.replace(settings, hash_key="key-two"))
    assert one.user_key("telegram", 1) != two.user_key("telegram", 1)
    assert re.fullmatch(r"[0-9a-f]{16}", one.user_key("telegram", TELEGRAM_USER))

