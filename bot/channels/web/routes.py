"""The route finder's JSON API: GET /api/route lists the flows, POST /api/route answers one step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.channels.web.http import ApiError, json_body, json_ok, lang_field, text_field
from bot.core.routes import RouteResult
from bot.errors import UnknownRoute
from bot.service import Service

MAX_ANSWERS = 16          # steps a request may answer; a flow has far fewer


def _answers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_ANSWERS \
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ApiError(422, "The field \"answers\" must be an object mapping step ids to option ids (strings).")
    return value


def unknown_route(exc: UnknownRoute) -> ApiError:
    """A 400 naming the flow, step or option that does not exist."""
    extra: dict[str, Any] = {"field": exc.kind, "value": exc.value}
    if exc.flow:
        extra["flow"] = exc.flow
    if exc.step:
        extra["step"] = exc.step
    return ApiError(400, f"{exc} See GET /api/route for the flows.", **extra)


def flows_json(service: Service, lang: str) -> dict[str, Any]:
    """The flows with their titles and first question."""
    routes = service.engine.routes
    flows = []
    for flow in routes.flows.values():
        first = routes.step(flow.id, {}, lang)
        flows.append({"id": flow.id, "title": flow.title[lang], "audience": flow.audience, "steps": len(flow.steps),
                      "first": first.as_json()})
    return {"lang": lang, "flows": flows}


def add_routes(app: web.Application, service_key: web.AppKey, channel: str,
               session_of: Callable[[web.Request, dict[str, Any]], tuple[str, str]],
               check_rate: Callable[[web.Request, str, str | None], None]) -> None:
    """Register GET and POST /api/route on the chat app, with its session and rate-limit helpers."""

    async def list_flows(request: web.Request) -> web.Response:
        """GET /api/route?lang=: the flows."""
        lang = lang_field(request.query.get("lang")) or "zh"
        return json_ok(flows_json(request.app[service_key], lang))

    async def route_step(request: web.Request) -> web.Response:
        """POST /api/route {"flow", "answers", "lang"}: the next step, or the result once every step is answered."""
        service: Service = request.app[service_key]
        data = await json_body(request)
        flow = text_field(data, "flow", required=True, max_len=64) or ""
        answers = _answers(data.get("answers"))
        lang = lang_field(data.get("lang")) or "zh"
        session, rate_key = session_of(request, data)
        check_rate(request, rate_key, lang)
        try:
            outcome = await service.route(flow, answers, lang, channel=channel, user_id=session)
        except UnknownRoute as exc:
            raise unknown_route(exc) from None
        body: dict[str, Any] = {"done": outcome.done, "flow": outcome.flow, "answers": outcome.answers,
                                "session": session}
        if isinstance(outcome, RouteResult):
            body["result"] = outcome.as_json()
        else:
            body["step"] = outcome.as_json()
        return json_ok(body)

    app.router.add_get("/api/route", list_flows)
    app.router.add_post("/api/route", route_step)
