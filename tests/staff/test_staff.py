"""The staff dashboard: disabled without a password, sign-in with lockout, sessions, CSRF, escaping, pages."""

from __future__ import annotations

import csv
import dataclasses
import html.parser
import io
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import sqlite_utils
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from test_staff_auth import Clock

from bot import serve
from bot.channels.web import chat as web_channel
from bot.config import Settings
from bot.core.engine import Engine
from bot.errors import ConfigError
from bot.log import reports
from bot.log.store import Store
from bot.service import Service
from bot.staff import app as staff
from bot.staff.auth import FREE_ATTEMPTS, SESSION_IDLE

PASSWORD = "correct horse battery staple"
HOSTILE = "<script>alert(1)</script>"
ATTRIBUTE_BREAKER = '"><img src=x onerror=alert(1)>'
OFF_TOPIC = "北碚哪里有好吃的火锅"
PAGES = ["/staff/", "/staff/?days=7", "/staff/?days=all", "/staff/enquiries", "/staff/unanswered"]


@pytest.fixture
def staff_settings(settings: Settings, tmp_path: Path, trimmed_intents: Path, variant_models: Path) -> Settings:
    """Settings with a staff password and a private copy of the intents (promote writes to it)."""
    shutil.copytree(trimmed_intents, tmp_path / "intents")
    (tmp_path / "intents" / "learned.yaml").unlink(missing_ok=True)
    return dataclasses.replace(settings, staff_password=PASSWORD, intents_dir=tmp_path / "intents",
                               model_dir=variant_models)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def mount(service: Service, clock: Clock | None = None) -> web.Application:
    """The web app with the dashboard mounted at /staff, as `vocbot serve` does."""
    app = web_channel.create_app(service)
    app.add_subapp("/staff", staff.create_staff_app(service, clock=clock or Clock()))
    return app


@pytest.fixture
async def dash(staff_settings: Settings, engine: Engine, clock: Clock) -> AsyncIterator[TestClient]:
    """A client on the dashboard with a few logged enquiries, one of them hostile."""
    service = Service(staff_settings, engine, Store(staff_settings))
    async with TestClient(TestServer(mount(service, clock))) as client:
        answered = engine.intents["pathway.3plus2"].examples["zh"][0]
        for text, channel in [(HOSTILE, "web"), (ATTRIBUTE_BREAKER, "telegram"), (OFF_TOPIC, "web"),
                              (OFF_TOPIC + "呀", "telegram"), (answered, "web")]:
            await service.ask(text, channel=channel, user_id="u1")
        yield client


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


async def login(client: TestClient | aiohttp.ClientSession, password: str = PASSWORD) -> tuple[int, str]:
    """Open the sign-in form and submit it; return the status and the page's CSRF token after sign-in."""
    form = await client.get("/staff/login")
    response = await client.post("/staff/login", data={"csrf": csrf_of(await form.text()), "password": password},
                                 allow_redirects=False)
    if response.status != 303:
        return response.status, ""
    page = await client.get("/staff/")
    return response.status, csrf_of(await page.text())


class _Markup(html.parser.HTMLParser):
    """Counts what a strict CSP would block: scripts, inline styles, event handlers, external URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.counts = {"script": 0, "style": 0, "style_attr": 0, "handlers": 0, "external": 0}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.counts[tag] += 1
        for name, value in attrs:
            self.counts["style_attr"] += name == "style"
            self.counts["handlers"] += name.startswith("on")
            self.counts["external"] += name in ("src", "href", "action") and "//" in (value or "")


def markup(text: str) -> dict[str, int]:
    parser = _Markup()
    parser.feed(text)
    return parser.counts


def service_of(client: TestClient) -> Service:
    return client.server.app[web_channel.SERVICE]


# ---- disabled ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path"), [("GET", "/staff"), ("GET", "/staff/"), ("GET", "/staff/login"),
                                              ("POST", "/staff/login"),
                                              ("GET", "/staff/export.csv"), ("GET", "/staff/static/staff.css"),
                                              ("POST", "/staff/promote"), ("GET", "/staff/anything/else")])
async def test_without_a_password_the_dashboard_says_it_is_disabled(settings: Settings, engine: Engine, method: str,
                                                                    path: str) -> None:
    service = Service(settings, engine, Store(settings))
    async with TestClient(TestServer(serve.build_app(settings, service))) as client:
        response = await client.request(method, path, allow_redirects=False)
        text = await response.text()
    assert response.status == 503
    assert "VOCBOT_STAFF_PASSWORD" in text and "disabled" in text and "未启用" in text
    assert "csrf" not in text and "<form" not in text
    assert response.headers["X-Frame-Options"] == "DENY"


async def test_serve_mounts_the_dashboard_at_staff(staff_settings: Settings, engine: Engine) -> None:
    service = Service(staff_settings, engine, Store(staff_settings))
    async with TestClient(TestServer(serve.build_app(staff_settings, service))) as client:
        response = await client.get("/staff/login")
        assert response.status == 200
        assert 'type="password"' in await response.text()


# ---- sign-in required -------------------------------------------------------------------------------
@pytest.mark.parametrize("path", [*PAGES, "/staff/export.csv", "/staff/enquiries?q=x&page=2"])
async def test_pages_refuse_without_sign_in(dash: TestClient, path: str) -> None:
    response = await dash.get(path, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/staff/login"
    assert OFF_TOPIC not in await response.text()


@pytest.mark.parametrize("path", ["/staff/promote", "/staff/logout"])
async def test_posts_refuse_without_a_session(dash: TestClient, path: str) -> None:
    response = await dash.post(path, data={"enquiry_id": "x", "intent": "pathway.3plus2", "csrf": "guess"})
    assert response.status == 403


async def test_sign_in_with_the_password_opens_every_page(dash: TestClient) -> None:
    status, _ = await login(dash)
    assert status == 303
    for path in PAGES:
        response = await dash.get(path)
        assert response.status == 200, path
        text = await response.text()
        assert "dash_" not in text                           # every interface text exists in messages.yaml
        assert response.headers["Cache-Control"] == "no-store"
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert markup(text) == {"script": 0, "style": 0, "style_attr": 0, "handlers": 0, "external": 0}


async def test_a_wrong_password_is_refused(dash: TestClient) -> None:
    status, _ = await login(dash, "wrong")
    assert status == 200                                               # the form again, with the reason
    assert (await dash.get("/staff/", allow_redirects=False)).status == 303


async def test_the_session_cookie_is_http_only_strict_and_new_at_sign_in(dash: TestClient) -> None:
    await dash.get("/staff/login")
    before = dash.session.cookie_jar.filter_cookies(dash.make_url("/staff/"))[staff.COOKIE].value
    form = await dash.get("/staff/login")
    response = await dash.post("/staff/login", data={"csrf": csrf_of(await form.text()), "password": PASSWORD},
                               allow_redirects=False)
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Path=/staff/" in header
    after = dash.session.cookie_jar.filter_cookies(dash.make_url("/staff/"))[staff.COOKIE].value
    assert after != before and len(after) >= 40
    # the id from before sign-in (which an attacker could have planted) opens nothing
    dash.session.cookie_jar.update_cookies({staff.COOKIE: before}, dash.make_url("/staff/"))
    assert (await dash.get("/staff/", allow_redirects=False)).status == 303


async def test_sign_out_ends_the_session(dash: TestClient) -> None:
    _, token = await login(dash)
    cookie = dash.session.cookie_jar.filter_cookies(dash.make_url("/staff/"))[staff.COOKIE].value
    response = await dash.post("/staff/logout", data={"csrf": token}, allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (303, "/staff/login")
    dash.session.cookie_jar.update_cookies({staff.COOKIE: cookie}, dash.make_url("/staff/"))
    assert (await dash.get("/staff/", allow_redirects=False)).status == 303


@pytest.mark.parametrize(("idle", "signed_in"), [(SESSION_IDLE - 1, True), (SESSION_IDLE + 1, False)])
async def test_sessions_expire_when_idle(dash: TestClient, clock: Clock, idle: int, signed_in: bool) -> None:
    await login(dash)
    clock.now += idle
    response = await dash.get("/staff/", allow_redirects=False)
    assert (response.status == 200) is signed_in


# ---- brute force ------------------------------------------------------------------------------------
async def test_repeated_failures_lock_the_address_out_even_for_the_right_password(dash: TestClient,
                                                                                  clock: Clock) -> None:
    for _ in range(FREE_ATTEMPTS - 1):
        assert (await login(dash, "guess"))[0] == 200
    assert (await login(dash, "guess"))[0] == 429                      # the fifth failure starts a lockout
    form = await dash.get("/staff/login")
    locked = await dash.post("/staff/login", data={"csrf": csrf_of(await form.text()), "password": PASSWORD})
    assert locked.status == 429
    assert locked.headers["Retry-After"] == "1"
    assert "Too many failed attempts" in await locked.text() or "失败次数过多" in await locked.text()
    clock.now += 1
    assert (await login(dash))[0] == 303


# ---- CSRF -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("token", "headers"), [
    (None, {}),
    ("not-the-token", {}),
    ("OTHER-SESSION", {}),
    ("VALID", {"Origin": "https://evil.example"}),
    ("VALID", {"Origin": "https://evil.example", "X-Forwarded-Host": "staff.example"}),
])
async def test_a_post_without_the_right_csrf_token_is_refused(dash: TestClient, staff_settings: Settings,
                                                              token: str | None, headers: dict) -> None:
    _, valid = await login(dash)
    if token == "OTHER-SESSION":
        async with aiohttp.ClientSession(base_url=str(dash.make_url("/")),
                                         cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
            token = (await login(other))[1]
    elif token == "VALID":
        token = valid
    data = {"enquiry_id": _first_id(staff_settings), "intent": "pathway.3plus2"}
    if token is not None:
        data["csrf"] = token
    response = await dash.post("/staff/promote", data=data, headers=headers, allow_redirects=False)
    assert response.status == 403
    assert not (staff_settings.intents_dir / "learned.yaml").exists()


@pytest.mark.parametrize("headers", [{}, {"Origin": "SELF"}, {"Origin": "https://staff.example",
                                                                  "X-Forwarded-Host": "staff.example"}])
async def test_a_post_from_the_dashboard_itself_is_accepted(dash: TestClient, staff_settings: Settings,
                                                            headers: dict) -> None:
    _, token = await login(dash)
    if headers.get("Origin") == "SELF":
        headers = {"Origin": str(dash.make_url("/")).rstrip("/")}
    response = await dash.post("/staff/promote", data={"csrf": token, "enquiry_id": _first_id(staff_settings),
                                                        "intent": "policy.about"}, headers=headers,
                               allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (303, "/staff/unanswered")


def _first_id(settings: Settings, text: str = OFF_TOPIC) -> str:
    db = sqlite_utils.Database(settings.db_path)
    return next(db.query("SELECT id FROM enquiries WHERE text = ?", [text]))["id"]


# ---- escaping ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/staff/enquiries", "/staff/unanswered", "/staff/enquiries?channel=web"])
async def test_hostile_questions_show_as_text(dash: TestClient, path: str) -> None:
    await login(dash)
    text = await (await dash.get(path)).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert HOSTILE not in text and "<img" not in text
    if "channel" not in path:
        assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in text  # Jinja2 writes " as &#34;


async def test_reflected_filters_are_escaped(dash: TestClient) -> None:
    await login(dash)
    response = await dash.get("/staff/enquiries", params={"q": ATTRIBUTE_BREAKER, "intent": HOSTILE})
    text = await response.text()
    assert 'value="&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"' in text
    assert "<img" not in text and HOSTILE not in text


# ---- pages ------------------------------------------------------------------------------------------
async def test_overview_shows_the_numbers_and_six_charts(dash: TestClient, staff_settings: Settings) -> None:
    await login(dash)
    text = await (await dash.get("/staff/?lang=en&days=all")).text()
    assert text.count("<svg") == 6                               # four of the log, two of the route finder
    assert "Enquiries per day by channel" in text and "Decision mix" in text and "Top intents" in text
    assert re.search(r"<span>Enquiries</span><strong>5</strong>", text)
    stats = reports.stats(sqlite_utils.Database(staff_settings.db_path))
    assert f"<strong>{100 * stats['fallback_rate']:.1f}%</strong>" in text
    assert '<a href="/staff/?days=all" aria-current="true">All</a>' in text


@pytest.mark.parametrize("path", ["/staff/?days=all", "/staff/?lang=en&days=all", "/staff/enquiries",
                                  "/staff/unanswered", "/staff/static/staff.css"])
async def test_the_dashboard_holds_no_emoji(dash: TestClient, path: str) -> None:
    """Feedback is labelled in words (有帮助 / 没帮助), so nothing depends on an emoji font."""
    await login(dash)
    text = await (await dash.get(path)).text()
    assert not re.search("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F]", text), path


async def test_the_interface_speaks_chinese_or_english(dash: TestClient) -> None:
    await login(dash)
    assert "提问记录" in await (await dash.get("/staff/")).text()
    english = await (await dash.get("/staff/?lang=en")).text()
    assert '<a href="/staff/enquiries">Enquiries</a>' in english and '<html lang="en">' in english
    assert "Unanswered" in await (await dash.get("/staff/unanswered")).text()        # remembered


async def test_enquiry_list_filters_and_pages(dash: TestClient, engine: Engine) -> None:
    service = service_of(dash)
    for i in range(55):
        await service.ask(f"第{i}个问题", channel="terminal", user_id="t")
    await login(dash)
    first = await (await dash.get("/staff/enquiries?lang=en&channel=terminal")).text()
    assert "55 enquiries, page 1 of 2" in first
    assert first.count('data-label="Channel">terminal</td>') == 50
    assert 'href="/staff/enquiries?channel=terminal&amp;page=2" rel="next"' in first
    second = await (await dash.get("/staff/enquiries?channel=terminal&page=2")).text()
    assert second.count(">terminal</td>") == 5 and 'rel="prev"' in second
    found = await (await dash.get("/staff/enquiries", params={"q": "火锅"})).text()
    assert found.count(OFF_TOPIC) == 2 and "第1个问题" not in found
    bad = await (await dash.get("/staff/enquiries?since=yesterday")).text()
    assert "write dates like 2026-01-31" in bad                      # explained,
    assert "第54个问题" in bad and "60 enquiries" in bad               # then everything shown


async def test_unanswered_groups_questions_and_promotes_one_in_a_click(dash: TestClient,
                                                                      staff_settings: Settings) -> None:
    _, token = await login(dash)
    page = await (await dash.get("/staff/unanswered?lang=en")).text()
    assert "2×" in page and OFF_TOPIC in page                         # the two hotpot questions, one cluster
    enquiry_id = re.search(r'name="enquiry_id" value="([^"]+)"><label>Intent<select name="intent">'
                           r"(?:(?!</select>).)*</select></label><button", page, re.S)
    assert enquiry_id
    ids = re.findall(r'name="enquiry_id" value="([^"]+)"', page)
    target = _first_id(staff_settings, OFF_TOPIC + "呀")
    assert target in ids
    response = await dash.post("/staff/promote", data={"csrf": token, "enquiry_id": target,
                                                        "intent": "policy.about"}, allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (303, "/staff/unanswered")
    after = await (await dash.get("/staff/unanswered")).text()
    assert f"Added &#34;{OFF_TOPIC}呀&#34; as an example of policy.about" in after
    assert f"{OFF_TOPIC}呀" not in after.split("</p>", 3)[-1]         # gone from the list
    reply = service_of(dash).engine.ask(OFF_TOPIC + "呀")
    assert (reply.decision, reply.intent) == ("answer", "policy.about")   # the running bot learned it
    assert (staff_settings.intents_dir / "learned.yaml").exists()
    again = await dash.post("/staff/promote", data={"csrf": token, "enquiry_id": target, "intent": "policy.about"})
    assert "already is an example" in await again.text()


@pytest.mark.parametrize(("form", "message"), [
    ({"enquiry_id": "nope", "intent": "policy.about"}, "There is no such typed question in the log."),
    ({"intent": "no.such.intent"}, "There is no intent &#39;no.such.intent&#39;"),
])
async def test_a_failed_promotion_is_explained(dash: TestClient, staff_settings: Settings, form: dict,
                                               message: str) -> None:
    _, token = await login(dash)
    data = {"enquiry_id": _first_id(staff_settings), **form, "csrf": token}
    page = await (await dash.post("/staff/promote?lang=en", data=data)).text()
    assert "Not promoted: " in page and message in page
    assert not (staff_settings.intents_dir / "learned.yaml").exists()


async def test_csv_download(dash: TestClient, staff_settings: Settings) -> None:
    await login(dash)
    response = await dash.get("/staff/export.csv")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="vocbot-enquiries-')
    body = (await response.read()).decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(body[1:])))
    assert [r["text"] for r in rows] == [r["text"] for r in
                                         reports.export_rows(sqlite_utils.Database(staff_settings.db_path))]
    assert HOSTILE in [r["text"] for r in rows]


async def test_an_unwritable_log_is_shown_loudly(dash: TestClient) -> None:
    await login(dash)
    store = service_of(dash).store
    store.failing = "OperationalError: database is locked"
    try:
        text = await (await dash.get("/staff/?lang=en")).text()
    finally:
        store.failing = None
    assert '<p class="notice error" role="alert">The enquiry log cannot be written to the database ' \
           "(OperationalError: database is locked)." in text


async def test_the_stylesheet_is_served_from_the_package(dash: TestClient) -> None:
    response = await dash.get("/staff/static/staff.css")
    assert response.status == 200 and response.content_type == "text/css"
    assert "@media" in await response.text()


# ---- issue 12 row 10: numeric query values parsed strictly ------------------------------------------------
@pytest.mark.parametrize("query", ["/staff/?days=²", "/staff/?days=٣", "/staff/?days=0", "/staff/?days=99999",
                                   "/staff/?days=-1", "/staff/unanswered?days=¹", "/staff/export.csv?days=²",
                                   "/staff/enquiries?page=¹", "/staff/enquiries?page=0", "/staff/enquiries?page=x",
                                   "/staff/enquiries?page=1" + "0" * 30])
async def test_non_ascii_or_out_of_range_numbers_get_400(dash: TestClient, query: str) -> None:
    await login(dash)
    response = await dash.get(query)
    assert response.status == 400
    assert "must be a whole number" in await response.text()


@pytest.mark.parametrize("query", ["/staff/?days=7", "/staff/?days=3660", "/staff/?days=all",
                                   "/staff/enquiries?page=1", "/staff/enquiries?page=3"])
async def test_ascii_numbers_in_range_are_accepted(dash: TestClient, query: str) -> None:
    await login(dash)
    assert (await dash.get(query)).status == 200


# ---- issue 12 row 5: passwords of at least 12 characters ---------------------------------------------------
@pytest.mark.parametrize("password", ["bench", "12345678901"])
def test_a_short_staff_password_is_refused_at_start_up(password: str, settings: Settings, engine: Engine) -> None:
    with pytest.raises(ConfigError, match=r"VOCBOT_STAFF_PASSWORD is \d+ characters long; use at least 12"):
        Settings.from_env({"VOCBOT_STAFF_PASSWORD": password})
    short = dataclasses.replace(settings, staff_password=password)
    with pytest.raises(ConfigError, match="use at least 12"):
        staff.create_staff_app(Service(short, engine, Store(short)))
    assert Settings.from_env({"VOCBOT_STAFF_PASSWORD": "x" * 12}).staff_password == "x" * 12


async def test_sign_in_guessing_from_many_addresses_behind_a_proxy_gets_429(staff_settings: Settings,
                                                                           engine: Engine) -> None:
    behind = dataclasses.replace(staff_settings, trusted_proxies=("127.0.0.1",))
    service = Service(behind, engine, Store(behind))
    async with TestClient(TestServer(mount(service))) as client:
        statuses = []
        for guess in range(40):
            client.session.cookie_jar.clear()
            headers = {"X-Forwarded-For": f"198.51.100.{guess % 38 + 1}"}
            form = await client.get("/staff/login", headers=headers)
            response = await client.post("/staff/login", headers=headers, allow_redirects=False,
                                         data={"csrf": csrf_of(await form.text()), "name": f"user{guess}",
                                               "password": f"guess {guess}"})
            statuses.append(response.status)
        assert statuses[:29] == [200] * 29 and set(statuses[29:]) == {429}
        assert "Retry-After" in response.headers
