"""The staff dashboard under /staff: accounts and sign-in, sessions, CSRF, and the routes of every page."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.channels.web.http import security_headers
from bot.config import check_password
from bot.service import Service
from bot.staff import accounts, editor, pages, versions
from bot.staff import context as ctx
from bot.staff import views as staff_views
from bot.staff.auth import LoginGuard, Session, Sessions
from bot.staff.context import SESSION, STAFF, StaffState

log = logging.getLogger(__name__)

COOKIE = "vocbot_staff"
CSS_PATH = Path(__file__).resolve().parent / "static" / "staff.css"
TEMPLATES = Path(__file__).resolve().parent / "templates"
PUBLIC = {"login", "login_post", "css"}
# Autoescape on for every template; `finalize` shows direction overrides in values as [U+202E] codes.
TEMPLATE_SETTINGS: dict[str, Any] = {"loader": jinja2.FileSystemLoader(str(TEMPLATES)),
                                     "undefined": jinja2.ChainableUndefined, "finalize": staff_views.show_bidi}


def environment() -> jinja2.Environment:
    """The dashboard's template settings on their own (for tests): autoescape on for every template."""
    return jinja2.Environment(autoescape=True, **TEMPLATE_SETTINGS)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# ---- middleware: sessions, sign-in requirement, CSRF, headers ------------------------------------------
@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve the session; require sign-in except on the sign-in page; check CSRF on every POST."""
    state = ctx.state(request)
    session = state.sessions.get(request.cookies.get(COOKIE))
    request[SESSION] = session
    name = request.match_info.route.name
    if session is not None and request.query.get("lang") in ("zh", "en"):
        session.lang = request.query["lang"]
    if request.method == "POST" and not await _csrf_ok(request, session):
        return ctx.forbidden(request)
    if name not in PUBLIC and (session is None or not session.authenticated):
        if request.method == "GET":
            raise web.HTTPSeeOther(ctx.url(request, "login"))
        return ctx.forbidden(request)
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


def _set_cookie(request: web.Request, response: web.StreamResponse, session: Session) -> None:
    response.set_cookie(COOKIE, session.id, path=ctx.url(request, "overview"), httponly=True, samesite="Strict",
                        secure=request.secure)


# ---- sign-in ------------------------------------------------------------------------------------------
def _login_page(request: web.Request, status: int = 200, error: str | None = None, name: str = "",
                **values: Any) -> web.Response:
    v = ctx.view(request)
    if error:
        v.notices.append(("error", v.t(error, **values)))
    return ctx.render(request, "login.html", v, v.t("login_title"), status, nav=False, name=name)


async def login(request: web.Request) -> web.Response:
    """GET /staff/login: the form, with a pre-sign-in session that carries its CSRF token."""
    state = ctx.state(request)
    session: Session | None = request.get(SESSION)
    if session is not None and session.authenticated:
        raise web.HTTPSeeOther(ctx.url(request, "overview"))
    if session is None:
        session = state.sessions.create(authenticated=False, lang=ctx.lang(request))
        request[SESSION] = session
    response = _login_page(request)
    _set_cookie(request, response, session)
    return response


async def login_post(request: web.Request) -> web.Response:
    """POST /staff/login: name and password (after the lockouts of the address and the account, if any)."""
    state = ctx.state(request)
    session: Session = request[SESSION]        # the CSRF check guarantees a session
    address = request.remote or "?"
    form = await request.post()
    name = str(form.get("name") or "").strip()[:40] or accounts.BOOTSTRAP
    password = form.get("password")
    wait = max(state.guard.wait(address), state.account_guard.wait(name.lower()))
    if wait:
        return _locked(request, wait, name)
    ok = isinstance(password, str) and await asyncio.to_thread(
        accounts.check_login, state.service.store, name, password)
    if not ok:
        lockout = max(state.guard.failed(address), state.account_guard.failed(name.lower()))
        log.warning("staff dashboard: failed sign-in from %s", address)
        if lockout:
            return _locked(request, lockout, name)
        return _login_page(request, error="login_failed", name=name)
    state.guard.succeeded(address)
    state.account_guard.succeeded(name.lower())
    state.sessions.drop(session.id)              # no fixation: the signed-in session gets a new id
    fresh = state.sessions.create(authenticated=True, lang=session.lang, user=name)
    log.info("staff dashboard: %s signed in from %s", name, address)
    response = web.HTTPSeeOther(ctx.url(request, "overview"))
    _set_cookie(request, response, fresh)
    raise response


def _locked(request: web.Request, seconds: int, name: str) -> web.Response:
    response = _login_page(request, 429, "login_locked", name=name, seconds=seconds)
    response.headers["Retry-After"] = str(seconds)
    return response


async def logout(request: web.Request) -> web.Response:
    """POST /staff/logout."""
    ctx.state(request).sessions.drop(request[SESSION].id)
    response = web.HTTPSeeOther(ctx.url(request, "login"))
    response.del_cookie(COOKIE, path=ctx.url(request, "overview"))
    raise response


# ---- the application ----------------------------------------------------------------------------------
def create_staff_app(service: Service, clock: Callable[[], float] = time.monotonic) -> web.Application:
    """The dashboard sub-application (mounted at /staff); says it is disabled while there is no account."""
    store = service.store
    check_password(service.settings.staff_password)
    accounts.bootstrap(store, service.settings.staff_password)
    if not accounts.any_accounts(store):
        return _disabled_app(service)
    app = web.Application(middlewares=[security_headers, guard])
    app[STAFF] = StaffState(service, clock)
    app[pages.CSS] = CSS_PATH.read_bytes()
    # Autoescape on: every value is escaped unless it is markupsafe.Markup built in bot/staff.
    aiohttp_jinja2.setup(app, autoescape=True, **TEMPLATE_SETTINGS)
    app.router.add_get("/", pages.overview, name="overview")
    app.router.add_get("/login", login, name="login")
    app.router.add_post("/login", login_post, name="login_post")
    app.router.add_post("/logout", logout, name="logout")
    app.router.add_get("/enquiries", pages.enquiries, name="enquiries")
    app.router.add_get("/unanswered", pages.unanswered, name="unanswered")
    app.router.add_post("/promote", pages.promote, name="promote")
    app.router.add_post("/promote/cluster", pages.promote_cluster, name="promote_cluster")
    app.router.add_get("/export.csv", pages.export, name="export")
    app.router.add_get("/static/staff.css", pages.css, name="css")
    app.router.add_get("/editor", editor.form, name="editor")
    app.router.add_post("/editor", editor.submit, name="editor_post")
    app.router.add_get("/versions", versions.listing, name="versions")
    app.router.add_get("/versions/{id:\\d+}", versions.show, name="version")
    app.router.add_post("/versions/{id:\\d+}/restore", versions.restore, name="restore")
    app.router.add_post("/publish", versions.publish, name="publish")
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
    """The dashboard's state (sessions, sign-in guards, clock) of an app made by create_staff_app, for tests."""
    return app.get(STAFF)


__all__ = ["STAFF", "LoginGuard", "Sessions", "create_staff_app", "state_of"]
