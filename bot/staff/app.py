"""The staff dashboard under /staff: password login, sessions, CSRF, overview, enquiry list, unanswered, export."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from bot.channels.web.http import SECURITY_HEADERS, security_headers
from bot.core.learn import promote_text
from bot.errors import VocbotError
from bot.log import reports
from bot.service import Service
from bot.staff import views as staff_views
from bot.staff.auth import LoginGuard, Session, Sessions

log = logging.getLogger(__name__)

COOKIE = "vocbot_staff"
CSS_PATH = Path(__file__).resolve().parent / "static" / "staff.css"
PER_PAGE = 50
DEFAULT_DAYS = 30

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class StaffState:
    """Everything the dashboard keeps between requests."""

    service: Service
    password_digest: bytes
    clock: Callable[[], float] = time.monotonic
    sessions: Sessions = field(init=False)
    guard: LoginGuard = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = Sessions(lambda: self.clock())
        self.guard = LoginGuard(lambda: self.clock())

    def password_ok(self, given: str) -> bool:
        """Constant-time comparison of digests (so the length of the password does not leak either)."""
        return hmac.compare_digest(hashlib.sha256(given.encode("utf-8", "replace")).digest(), self.password_digest)


STAFF = web.AppKey("vocbot_staff", StaffState)


SESSION = web.RequestKey("vocbot_staff_session", object)     # the Session of the request, or None


def _state(request: web.Request) -> StaffState:
    return request.app[STAFF]


# ---- middleware: sessions, sign-in requirement, CSRF, headers ------------------------------------------
PUBLIC = {"login", "login_post", "css"}


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve the session; require sign-in except on the sign-in page; check CSRF on every POST."""
    state = _state(request)
    session = state.sessions.get(request.cookies.get(COOKIE))
    request[SESSION] = session
    name = request.match_info.route.name
    if session is not None and request.query.get("lang") in ("zh", "en"):
        session.lang = request.query["lang"]
    if request.method == "POST" and not await _csrf_ok(request, session):
        return _respond(request, _forbidden(request), 403)
    if name not in PUBLIC and (session is None or not session.authenticated):
        if request.method == "GET":
            raise web.HTTPSeeOther(_url(request, "login"))
        return _respond(request, _forbidden(request), 403)
    response = await handler(request)
    if not response.prepared:
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Robots-Tag", "noindex")
    return response


async def _csrf_ok(request: web.Request, session: Session | None) -> bool:
    """The form's token matches the session's, and a browser's Origin (if sent) is this site."""
    origin = request.headers.get("Origin")
    # Behind a reverse proxy the public host arrives as X-Forwarded-Host; a cross-site form cannot set it.
    hosts = {request.host, *(h.strip() for h in request.headers.get("X-Forwarded-Host", "").split(",") if h)}
    if origin and origin != "null" and urlsplit(origin).netloc not in hosts:
        return False
    if session is None:
        return False
    form = await request.post()
    token = form.get("csrf")
    return isinstance(token, str) and hmac.compare_digest(token.encode(), session.csrf.encode())


def _url(request: web.Request, name: str) -> str:
    return str(request.app.router[name].url_for())


def _lang(request: web.Request) -> str:
    session: Session | None = request.get(SESSION)
    if session is not None:
        return session.lang
    chosen = request.query.get("lang")
    if chosen in ("zh", "en"):
        return chosen
    return "en" if request.headers.get("Accept-Language", "").lower().startswith("en") else "zh"


def _view(request: web.Request, active: str = "") -> staff_views.View:
    state = _state(request)
    session: Session | None = request.get(SESSION)
    engine = state.service.engine
    lang = _lang(request)
    notices = []
    if session is not None:
        notices, session.flash = session.flash, []
    status = state.service.store.status()
    if not status["ok"]:
        notices.insert(0, ("error", engine.content.message("dash_log_failing", lang, error=status["error"],
                                                           backlog=status["backlog"])))

    def title_of(intent_id: str) -> str:
        return f"{engine.title(intent_id, lang)} ({intent_id})" if intent_id in engine.intents else intent_id

    return staff_views.View(lang=lang, message=engine.content.message, url=lambda name: _url(request, name),
                            csrf=session.csrf if session else "", active=active, notices=notices,
                            title_of=title_of)


def _respond(request: web.Request, body: str, status: int = 200) -> web.Response:
    response = web.Response(text=body, status=status, content_type="text/html", charset="utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


def _forbidden(request: web.Request) -> str:
    view = _view(request)
    return staff_views.message_page(view, view.t("forbidden_title"), view.t("forbidden"), nav=False)


def _set_cookie(request: web.Request, response: web.StreamResponse, session: Session) -> None:
    response.set_cookie(COOKIE, session.id, path=_url(request, "overview"), httponly=True, samesite="Strict",
                        secure=request.secure)


def _days(request: web.Request, default: int | None = DEFAULT_DAYS) -> int | None:
    raw = request.query.get("days", "")
    if raw == "all":
        return None
    return int(raw) if raw.isdigit() and 0 < int(raw) <= 3660 else default


def _since(days: int | None) -> str | None:
    if days is None:
        return None
    return (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days - 1)).isoformat()


# ---- sign-in ------------------------------------------------------------------------------------------
async def login(request: web.Request) -> web.Response:
    """GET /staff/login: the form, with a pre-sign-in session that carries its CSRF token."""
    state = _state(request)
    session: Session | None = request.get(SESSION)
    if session is not None and session.authenticated:
        raise web.HTTPSeeOther(_url(request, "overview"))
    if session is None:
        session = state.sessions.create(authenticated=False, lang=_lang(request))
        request[SESSION] = session
    response = _respond(request, staff_views.login_page(_view(request)))
    _set_cookie(request, response, session)
    return response


async def login_post(request: web.Request) -> web.Response:
    """POST /staff/login: check the password (after the lockout, if any); a new session id on success."""
    state = _state(request)
    session: Session = request[SESSION]        # the CSRF check guarantees a session
    address = request.remote or "?"
    wait = state.guard.wait(address)
    if wait:
        return _locked(request, session, wait)
    form = await request.post()
    password = form.get("password")
    if not isinstance(password, str) or not state.password_ok(password):
        lockout = state.guard.failed(address)
        log.warning("staff dashboard: failed sign-in from %s", address)
        if lockout:
            return _locked(request, session, lockout)
        view = _view(request)
        view.notices.append(("error", view.t("login_failed")))
        return _respond(request, staff_views.login_page(view))
    state.guard.succeeded(address)
    state.sessions.drop(session.id)              # no fixation: the signed-in session gets a new id
    fresh = state.sessions.create(authenticated=True, lang=session.lang)
    log.info("staff dashboard: sign-in from %s", address)
    response = web.HTTPSeeOther(_url(request, "overview"))
    _set_cookie(request, response, fresh)
    raise response


def _locked(request: web.Request, session: Session, seconds: int) -> web.Response:
    view = _view(request)
    view.notices.append(("error", view.t("login_locked", seconds=seconds)))
    response = _respond(request, staff_views.login_page(view), 429)
    response.headers["Retry-After"] = str(seconds)
    return response


async def logout(request: web.Request) -> web.Response:
    """POST /staff/logout."""
    _state(request).sessions.drop(request[SESSION].id)
    response = web.HTTPSeeOther(_url(request, "login"))
    response.del_cookie(COOKIE, path=_url(request, "overview"))
    raise response


# ---- pages --------------------------------------------------------------------------------------------
async def overview(request: web.Request) -> web.Response:
    """GET /staff/: KPIs and charts for a period (7/30/90/365 days or all)."""
    service = _state(request).service
    days = _days(request)
    since = _since(days)
    stats = await service.store.aread(reports.stats, since)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    first = since or (stats["by_day"][0]["day"] if stats["by_day"] else today)
    return _respond(request, staff_views.overview_page(_view(request, "overview"), stats, days, first, today))


def _intent_options(request: web.Request) -> list[tuple[str, str]]:
    engine = _state(request).service.engine
    lang = _lang(request)
    return [(iid, f"{engine.title(iid, lang)} ({iid})") for iid in sorted(engine.intents)]


async def enquiries(request: web.Request) -> web.Response:
    """GET /staff/enquiries: filters, text search and paging."""
    service = _state(request).service
    filters = {k: request.query[k].strip()[:200] for k in reports.FILTERS if request.query.get(k, "").strip()}
    page_raw = request.query.get("page", "1")
    page = int(page_raw) if page_raw.isdigit() and 0 < int(page_raw) < 1_000_000 else 1
    view = _view(request, "enquiries")
    try:
        result = await service.store.aread(reports.search_enquiries, filters, page, PER_PAGE,
                                           service.engine.normalizer)
    except ValueError:
        view.notices.append(("error", view.t("bad_filter")))
        filters = {}
        result = await service.store.aread(reports.search_enquiries, {}, 1, PER_PAGE)
    lang = view.lang
    audiences = [(aid, a.title.get(lang) or aid) for aid, a in service.engine.menu.audiences.items()]
    return _respond(request, staff_views.enquiries_page(view, result, filters, _intent_options(request), audiences))


async def unanswered(request: web.Request) -> web.Response:
    """GET /staff/unanswered: clusters of unanswered and disliked questions, with promote forms."""
    service = _state(request).service
    days = _days(request)
    clusters = await service.store.aread(reports.unanswered, _since(days), 50, service.engine)
    return _respond(request, staff_views.unanswered_page(_view(request, "unanswered"), clusters, days,
                                                         _intent_options(request)))


async def promote(request: web.Request) -> web.Response:
    """POST /staff/promote: add the enquiry's question to intents/learned.yaml, reload, note it in the log."""
    service = _state(request).service
    session: Session = request[SESSION]
    form = await request.post()
    enquiry_id, intent = str(form.get("enquiry_id", ""))[:64], str(form.get("intent", ""))[:128]
    lang = session.lang
    msg = service.engine.content.message
    row = await service.store.aread(reports.get_enquiry, enquiry_id) if enquiry_id else None
    if row is None or row["via"] != "text":
        session.flash.append(("error", msg("dash_promote_failed", lang, error=msg("dash_no_enquiry", lang))))
        raise web.HTTPSeeOther(_url(request, "unanswered"))
    try:
        done = await asyncio.to_thread(promote_text, service.settings.intents_dir, service.engine, intent,
                                       row["text"], row["lang"])
    except VocbotError as exc:
        session.flash.append(("error", msg("dash_promote_failed", lang, error=str(exc))))
        raise web.HTTPSeeOther(_url(request, "unanswered")) from None
    error = await asyncio.wrap_future(service.reload()) if done.added else None
    await service.store.add_promotion(enquiry_id, intent, done.text, done.normalized, done.lang, "dashboard")
    if error:
        session.flash.append(("error", msg("dash_promote_failed", lang, error=error)))
    else:
        key = "dash_promoted" if done.added else "dash_promote_exists"
        session.flash.append(("info", msg(key, lang, text=done.text, intent=intent)))
    log.info("staff dashboard: promoted enquiry %s to %s (added=%s)", enquiry_id, intent, done.added)
    raise web.HTTPSeeOther(_url(request, "unanswered"))


async def export(request: web.Request) -> web.StreamResponse:
    """GET /staff/export.csv?days=: the log as CSV (UTF-8 with BOM for spreadsheets), streamed."""
    store = _state(request).service.store
    since = _since(_days(request, default=None))
    # Streamed: its headers go out before the header middleware sees the response.
    response = web.StreamResponse(headers={
        **SECURITY_HEADERS, "Content-Type": "text/csv; charset=utf-8", "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="vocbot-enquiries-{dt.date.today().isoformat()}.csv"'})
    db = await asyncio.to_thread(store.reader)
    try:
        chunks = reports.csv_chunks(db, since, bom=True)
        first = await asyncio.to_thread(next, chunks, None)
        await response.prepare(request)
        while first is not None:
            await response.write(first.encode("utf-8"))
            first = await asyncio.to_thread(next, chunks, None)
        await response.write_eof()
    finally:
        await asyncio.to_thread(db.conn.close)
    return response


async def css(request: web.Request) -> web.Response:
    """GET /staff/static/staff.css."""
    response = web.Response(body=request.app[CSS], content_type="text/css", charset="utf-8")
    response.headers["Cache-Control"] = "max-age=3600"
    return response


CSS = web.AppKey("vocbot_staff_css", bytes)


# ---- the application ----------------------------------------------------------------------------------
def create_staff_app(service: Service, clock: Callable[[], float] = time.monotonic) -> web.Application:
    """The dashboard sub-application (mounted at /staff); says it is disabled without VOCBOT_STAFF_PASSWORD."""
    password = service.settings.staff_password
    if not password:
        return _disabled_app(service)
    app = web.Application(middlewares=[security_headers, guard])
    app[STAFF] = StaffState(service, hashlib.sha256(password.encode("utf-8")).digest(), clock)
    app[CSS] = CSS_PATH.read_bytes()
    app.router.add_get("/", overview, name="overview")
    app.router.add_get("/login", login, name="login")
    app.router.add_post("/login", login_post, name="login_post")
    app.router.add_post("/logout", logout, name="logout")
    app.router.add_get("/enquiries", enquiries, name="enquiries")
    app.router.add_get("/unanswered", unanswered, name="unanswered")
    app.router.add_post("/promote", promote, name="promote")
    app.router.add_get("/export.csv", export, name="export")
    app.router.add_get("/static/staff.css", css, name="css")
    return app


def _disabled_app(service: Service) -> web.Application:
    message = service.engine.content.message
    body = staff_views.disabled_page(message("dash_disabled", "zh"), message("dash_disabled", "en"))

    @web.middleware
    async def disabled(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Every request that reaches the dashboard, whatever its path or method, gets this one page.
        response = web.Response(text=body, status=503, content_type="text/html", charset="utf-8")
        response.headers["Cache-Control"] = "no-store"
        return response

    app = web.Application(middlewares=[security_headers, disabled])
    app.router.add_route("*", "/{tail:.*}", _unreachable)
    return app


async def _unreachable(request: web.Request) -> web.Response:
    """Only there so that the disabled sub-app owns its paths; the middleware answers first."""
    raise web.HTTPServiceUnavailable


def state_of(app: web.Application) -> Any:
    """The dashboard's state (sessions, sign-in guard, clock) of an app made by create_staff_app, for tests."""
    return app.get(STAFF)


__all__ = ["STAFF", "LoginGuard", "Sessions", "create_staff_app", "state_of"]
