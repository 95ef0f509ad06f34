"""What every staff handler shares: the dashboard's state, the request's session, links, language, rendering."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from bot.channels.guards import strict_int
from bot.service import Service
from bot.staff import views as staff_views
from bot.staff.auth import LoginGuard, Session, Sessions

DEFAULT_DAYS = 30


@dataclass
class StaffState:
    """Everything the dashboard keeps between requests."""

    service: Service
    clock: Callable[[], float] = time.monotonic
    sessions: Sessions = field(init=False)
    guard: LoginGuard = field(init=False)           # failed sign-ins per address
    account_guard: LoginGuard = field(init=False)   # failed sign-ins per account name

    def __post_init__(self) -> None:
        self.sessions = Sessions(lambda: self.clock())
        self.guard = LoginGuard(lambda: self.clock())
        self.account_guard = LoginGuard(lambda: self.clock())


STAFF = web.AppKey("vocbot_staff", StaffState)
SESSION = web.RequestKey("vocbot_staff_session", object)     # the Session of the request, or None


def state(request: web.Request) -> StaffState:
    """The dashboard's state."""
    return request.app[STAFF]


def service(request: web.Request) -> Service:
    """The service behind the dashboard."""
    return request.app[STAFF].service


def session(request: web.Request) -> Session:
    """The request's session (the guard guarantees a signed-in one on every non-public page)."""
    return request[SESSION]


def url(request: web.Request, name: str, **parts: str) -> str:
    """The path of a named route of the dashboard."""
    return str(request.app.router[name].url_for(**parts))


def lang(request: web.Request) -> str:
    """The page language: the session's, else ?lang=, else the browser's."""
    current: Session | None = request.get(SESSION)
    if current is not None:
        return current.lang
    chosen = request.query.get("lang")
    if chosen in ("zh", "en"):
        return chosen
    return "en" if request.headers.get("Accept-Language", "").lower().startswith("en") else "zh"


def view(request: web.Request, active: str = "") -> staff_views.View:
    """The View of this request, taking the session's pending notices."""
    svc = service(request)
    current: Session | None = request.get(SESSION)
    engine = svc.engine
    chosen = lang(request)
    notices: list[tuple[str, str]] = []
    if current is not None:
        notices, current.flash = current.flash, []
    status = svc.store.status()
    if not status["ok"]:
        notices.insert(0, ("error", engine.content.message("dash_log_failing", chosen, error=status["error"],
                                                           backlog=status["backlog"])))

    def title_of(intent_id: str) -> str:
        return f"{engine.title(intent_id, chosen)} ({intent_id})" if intent_id in engine.intents else intent_id

    return staff_views.View(lang=chosen, message=engine.content.message, url=lambda name: url(request, name),
                            csrf=current.csrf if current else "", active=active, notices=notices,
                            title_of=title_of, user=current.user if current else "",
                            route_label=lambda flow, answers: engine.routes.label(flow, answers, chosen))


def render(request: web.Request, template: str, v: staff_views.View, title: str, status: int = 200,
           nav: bool = True, **values: Any) -> web.Response:
    """A page from a template, never cached."""
    response = aiohttp_jinja2.render_template(template, request, {"v": v, "title": title, "nav": nav,
                                                                  "csrf": v.csrf_field, **values}, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def forbidden(request: web.Request) -> web.Response:
    """403 with one sentence."""
    v = view(request)
    return render(request, "message.html", v, v.t("forbidden_title"), 403, nav=False, text=v.t("forbidden"))


def flash(request: web.Request, kind: str, key: str, **values: Any) -> None:
    """A notice for the next page of this session."""
    current = session(request)
    current.flash.append((kind, service(request).engine.content.message(key, current.lang, **values)))


def days(request: web.Request, default: int | None = DEFAULT_DAYS) -> int | None:
    """The ?days= period (None: all)."""
    raw = request.query.get("days", "")
    if raw == "all":
        return None
    if raw == "":
        return default
    chosen = strict_int(raw, 1, 3660)
    if chosen is None:
        raise web.HTTPBadRequest(text="days must be a whole number from 1 to 3660, or all.\n")
    return chosen


def since(n: int | None) -> str | None:
    """The first day of a period of n days ending today (UTC)."""
    if n is None:
        return None
    return (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=n - 1)).isoformat()
