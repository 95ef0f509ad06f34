"""The web chat: the page, its JSON API and /healthz, as one aiohttp application around the Service.

Headers, JSON errors and request checks shared with the staff pages live in bot.channels.web.http.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from bot import __version__
from bot.channels.web import edge, timeouts
from bot.channels.web.http import (
    MAX_BODY,
    ApiError,
    api_errors,
    json_body,
    json_ok,
    lang_field,
    security_headers,
    text_field,
)
from bot.channels.web.routes import add_routes
from bot.core.engine import MAX_QUESTION
from bot.core.reply import Reply
from bot.errors import NotYours, UnknownEnquiry
from bot.service import Answered, ByteBudget, RateLimiter, Service

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_SESSION = 128             # characters of the opaque session id
MAX_COMMENT = 2000            # characters of a feedback comment
MAX_ID = 64                   # characters of an enquiry id
CHANNEL = "web"

SERVICE = web.AppKey("vocbot_service", Service)
ADDRESS_LIMITER = web.AppKey("vocbot_address_limiter", RateLimiter)
BYTE_BUDGET = web.AppKey("vocbot_byte_budget", ByteBudget)
# serve.py sets app[TELEGRAM_STATE] to a short state ("polling", "webhook", "error: ...") or a
# callable returning one; /healthz reports "off" when it is absent.
TELEGRAM_STATE = web.AppKey("telegram_state", object)

# Interface texts the page needs, sent with the menu (content/messages.yaml).
PAGE_MESSAGES = (
    "welcome", "choose_audience", "audience_set", "menu_header", "topic_header", "clarify", "related_header",
    "original_text", "contact_staff", "feedback_thanks", "feedback_sorry", "rate_limited", "error",
    "web_title", "web_subtitle", "web_input_label", "web_placeholder", "web_send", "web_language",
    "web_all_topics", "web_helpful", "web_not_helpful", "web_you", "web_bot", "web_thinking",
    "web_offline", "web_topics", "web_privacy",
    "route_button", "route_choose_flow", "route_back", "route_restart", "route_step", "route_full_answer",
    "route_original", "route_not_in_plan", "route_ask", "route_offer", "route_offer_button", "route_source",
    "general_label", "glossary_title", "glossary_intro", "glossary_plan",
    "optin_button", "optin_stop_link",
)

# ---- request parsing ------------------------------------------------------------------------------------
def _session(request: web.Request, data: dict[str, Any]) -> tuple[str, str]:
    """The session (one the server minted and signed, else a new one) and the key its rate limit counts under.

    A made-up or rotated session id is not a session: every request without a valid one counts against one
    shared bucket per client address, so changing the field cannot escape the per-session limit.
    """
    session = text_field(data, "session", max_len=MAX_SESSION)
    if session is not None and (not session.strip() or not session.isprintable()):
        raise ApiError(422, "The field \"session\" must be printable text.")
    service = request.app[SERVICE]
    if session and service.session_valid(session):
        return session, session
    return service.mint_session(), f"new session from {request.remote or 'unknown'}"


def _audience(service: Service, value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or value not in service.engine.menu.audiences:
        raise ApiError(422, "The field \"audience\" names no known audience; see /api/menu.")
    return value


def _check_rate(request: web.Request, rate_key: str, lang: str | None, stored: str = "") -> None:
    service = request.app[SERVICE]
    limiter = request.app.get(ADDRESS_LIMITER)
    if limiter is not None and not limiter.allow(request.remote or "unknown"):
        raise _rate_limited(service, lang, "Too many requests from your address; please wait a minute.")
    if not service.allow(CHANNEL, rate_key):
        raise _rate_limited(service, lang, "Too many requests in this session; please wait a minute.")
    budget = request.app.get(BYTE_BUDGET)
    size = len(stored.encode("utf-8", "replace"))
    if budget is not None and size and not budget.allow(request.remote or "unknown", size):
        raise _rate_limited(service, lang, "Too much text from your address in the last minute; please wait.")


def _rate_limited(service: Service, lang: str | None, sentence: str) -> ApiError:
    return ApiError(429, sentence, headers={"Retry-After": "60"},
                    message=service.engine.content.message("rate_limited", lang or "zh"))


async def _web_enquiry(service: Service, enquiry_id: str, session: str) -> dict[str, Any]:
    """The web enquiry this session asked: 404 when unknown, 403 when another session asked it; unchecked ({})
    while the log is unwritable and rows wait in memory."""
    try:
        return await service.owned(enquiry_id, channel=CHANNEL, user_id=session)
    except UnknownEnquiry:
        raise ApiError(404, "There is no web enquiry with this enquiry_id.") from None
    except NotYours:
        found = await asyncio.to_thread(service.store.find_enquiry, enquiry_id)
        if found is None or found.get("channel") != CHANNEL:
            raise ApiError(404, "There is no web enquiry with this enquiry_id.") from None
        raise ApiError(403, "This enquiry was asked in another session.") from None


# ---- replies --------------------------------------------------------------------------------------------
def reply_json(service: Service, answered: Answered, session: str) -> dict[str, Any]:
    """The JSON object /api/chat and /api/choice answer with."""
    reply: Reply = answered.reply
    engine = service.engine
    citation = engine.citation(reply.source, reply.lang) if reply.source else None
    clauses = []
    for cid in reply.source:
        clause = engine.clause(cid)
        if clause is not None:
            heading = clause.heading_en if reply.lang == "en" and clause.heading_en else clause.heading
            clauses.append({"id": clause.id, "heading": heading, "text": clause.text})
    return {
        "decision": reply.decision,
        "intent": reply.intent,
        "score": round(reply.score, 2),
        "answer": reply.answer,
        "general": reply.general,
        "choices": [{"intent": c.intent, "title": c.title} for c in reply.choices],
        "related": [{"intent": c.intent, "title": c.title} for c in reply.related],
        "source": list(reply.source),
        "enquiry_id": answered.enquiry_id,
        "lang": reply.lang,
        "session": session,
        "citation": citation if citation and citation in reply.answer else None,
        "clauses": clauses,
        "route": answered.route.as_json() if answered.route else None,
        "confidence": round(reply.confidence, 4),
        "also_intents": list(reply.also_intents),
    }


# ---- handlers -------------------------------------------------------------------------------------------
async def index(request: web.Request) -> web.StreamResponse:
    """The chat page."""
    response = web.FileResponse(STATIC_DIR / "index.html",
                                headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache"})
    return response


async def chat(request: web.Request) -> web.Response:
    """POST /api/chat: answer a typed question."""
    service = request.app[SERVICE]
    data = await json_body(request)
    text = text_field(data, "text", required=True) or ""
    lang = lang_field(data.get("lang"))
    session, rate_key = _session(request, data)
    audience = _audience(service, data.get("audience"))
    _check_rate(request, rate_key, lang, stored=text[:MAX_QUESTION])
    answered = await service.ask(text, channel=CHANNEL, user_id=session, lang=lang, audience=audience)
    return json_ok(reply_json(service, answered, session))


async def choice(request: web.Request) -> web.Response:
    """POST /api/choice: answer a pressed button (a "did you mean" choice, a follow-up or a menu entry)."""
    service = request.app[SERVICE]
    data = await json_body(request)
    intent = text_field(data, "intent", required=True, max_len=200)
    lang = lang_field(data.get("lang")) or "zh"
    session, rate_key = _session(request, data)
    parent_id = text_field(data, "parent_id", max_len=MAX_ID)
    audience = _audience(service, data.get("audience"))
    if intent not in service.engine.intents:
        raise ApiError(404, "There is no intent with this id; see /api/menu.")
    _check_rate(request, rate_key, lang)
    if parent_id:
        await _web_enquiry(service, parent_id, session)
    try:
        answered = await service.choose(intent or "", channel=CHANNEL, user_id=session, lang=lang,
                                        parent_id=parent_id, audience=audience)
    except KeyError:           # the intents were reloaded between the check and the call
        raise ApiError(404, "There is no intent with this id; see /api/menu.") from None
    return json_ok(reply_json(service, answered, session))


async def feedback(request: web.Request) -> web.Response:
    """POST /api/feedback: 👍 (1) or 👎 (-1) on an answer."""
    service = request.app[SERVICE]
    data = await json_body(request)
    enquiry_id = text_field(data, "enquiry_id", required=True, max_len=MAX_ID)
    value = data.get("value")
    if isinstance(value, bool) or value not in (1, -1):
        raise ApiError(422, "The field \"value\" must be 1 (helpful) or -1 (not helpful).")
    comment = text_field(data, "comment", max_len=MAX_COMMENT)
    lang = lang_field(data.get("lang"))
    session, rate_key = _session(request, data)
    _check_rate(request, rate_key, lang, stored=comment or "")
    found = await _web_enquiry(service, enquiry_id or "", session)
    lang = lang or found.get("lang") or "zh"
    recorded = await service.feedback(enquiry_id or "", value, channel=CHANNEL, user_id=session,
                                      comment=comment or None)
    key = "feedback_thanks" if value > 0 else "feedback_sorry"
    return json_ok({"ok": True, "recorded": recorded, "message": service.engine.content.message(key, lang)})


async def handoff(request: web.Request) -> web.Response:
    """POST /api/handoff: the user asks for staff; record it and show who to contact."""
    service = request.app[SERVICE]
    data = await json_body(request)
    enquiry_id = text_field(data, "enquiry_id", max_len=MAX_ID)
    lang = lang_field(data.get("lang"))
    session, rate_key = _session(request, data)
    _check_rate(request, rate_key, lang)
    engine = service.engine
    contacts: list[str] = []
    if enquiry_id:
        found = await _web_enquiry(service, enquiry_id, session)
        lang = lang or found.get("lang")
        intent = engine.intents.get(found.get("intent") or "")
        if intent is not None:
            contacts = engine.contacts_for(intent.source, lang or "zh")
    lang = lang or "zh"
    recorded = await service.store.add_handoff(enquiry_id or None, CHANNEL, service.user_key(CHANNEL, session),
                                               reply_to=None)
    parts = [engine.content.message("web_handoff_recorded", lang), engine.content.message("staff_unavailable", lang)]
    if not contacts:
        parts.append(engine.content.message("no_contacts", lang))
    return json_ok({"ok": True, "recorded": recorded, "message": "\n\n".join(parts), "contacts": contacts,
                  "session": session})


async def menu(request: web.Request) -> web.Response:
    """GET /api/menu?lang=&audience=: audiences, topics with their intents, and the page's texts."""
    service = request.app[SERVICE]
    engine = service.engine
    lang = lang_field(request.query.get("lang")) or "zh"
    audience = _audience(service, request.query.get("audience"))
    content = engine.content
    messages = {key: content.message(key, lang) for key in PAGE_MESSAGES}
    messages["privacy"] = content.message("privacy", lang, days=service.settings.retention_days)
    return json_ok({
        "lang": lang,
        "audience": audience,
        "audiences": [{"id": a.id, "title": a.title[lang]} for a in engine.menu.audiences.values()],
        "topics": [{"id": t.id, "title": t.title[lang],
                    "intents": [{"intent": i, "title": engine.title(i, lang)} for i in t.intents]}
                   for t in engine.menu.topics_for(audience)],
        "plan": {"title": content.title.get(lang) or content.title.get("zh", ""), "number": content.number},
        "messages": messages,
    })


async def glossary(request: web.Request) -> web.Response:
    """GET /api/glossary?lang=: every term with its general explanation (labelled) and what the plan says."""
    engine = request.app[SERVICE].engine
    lang = lang_field(request.query.get("lang")) or "zh"
    return json_ok({"lang": lang, "label": engine.content.message("general_label", lang),
                    "terms": engine.glossary.entries(lang)})


async def clause(request: web.Request) -> web.Response:
    """GET /api/clause/{id}: the original text of one clause of the plan."""
    found = request.app[SERVICE].engine.clause(request.match_info["id"])
    if found is None:
        raise ApiError(404, "There is no clause with this id in the plan.")
    return json_ok({"id": found.id, "heading": found.heading, "heading_en": found.heading_en,
                  "section": found.section, "text": found.text, "responsible": list(found.responsible)})


async def healthz(request: web.Request) -> web.Response:
    """GET /healthz: intents loaded, database writable, Telegram state; 503 when the log cannot be written."""
    service = request.app[SERVICE]
    store = service.store
    problem = await asyncio.to_thread(store.probe_writable)
    if problem is not None:
        log.error("healthz: the enquiry database is not writable: %s", problem)
    log_status = store.status()
    writable = problem is None and log_status["ok"]
    body = {
        "status": "ok" if writable else "degraded",
        "version": __version__,
        "intents": {"loaded": len(service.engine.intents), "version": service.engine.version},
        "database": {"writable": writable, "backlog": log_status["backlog"], "dropped": log_status["dropped"]},
        "telegram": telegram_state(request.app),
    }
    return json_ok(body, status=200 if writable else 503)


def telegram_state(app: web.Application) -> Any:
    """What telegram_app reported about the Telegram bot, or "off" when it is not running."""
    state: Any = app.get(TELEGRAM_STATE)
    if state is None:
        for key in app:    # tolerate a key of the same name defined elsewhere
            if getattr(key, "name", key) in ("telegram_state", "telegram"):
                state = app[key]
                break
    if callable(state):
        state = state()
    if state is None:
        return "off"
    if isinstance(state, str | int | float | bool | dict | list):
        return state
    return str(getattr(state, "state", state))


# ---- opt-in notices: the web has no address to push to, so a notice waits for the session's next visit ----
async def notify(request: web.Request) -> web.Response:
    """POST /api/notify {enquiry_id, session}: tell this session when the question gets an answer."""
    service = request.app[SERVICE]
    data = await json_body(request)
    session, rate_key = _session(request, data)
    lang = lang_field(data.get("lang"))
    _check_rate(request, rate_key, lang)
    enquiry_id = text_field(data, "enquiry_id", max_len=MAX_ID) or ""
    found = await asyncio.to_thread(service.store.find_enquiry, enquiry_id) if enquiry_id else None
    user_key = service.user_key(CHANNEL, session)
    if found is None or found.get("channel") != CHANNEL or found.get("user_key") != user_key:
        raise ApiError(404, "There is no web enquiry with this enquiry_id in this session.")
    lang = lang or found.get("lang") or "zh"
    added = await service.notifier.opt_in(enquiry_id, CHANNEL, user_key, found["text"], found.get("lang"))
    key = "optin_recorded_web" if added else "optin_already"
    return json_ok({"ok": True, "added": added, "message": service.engine.content.message(key, lang),
                    "session": session})


async def stop_notices(request: web.Request) -> web.Response:
    """POST /api/notify/stop {session}: withdraw every pending request of this session."""
    service = request.app[SERVICE]
    data = await json_body(request)
    session, rate_key = _session(request, data)
    lang = lang_field(data.get("lang")) or "zh"
    _check_rate(request, rate_key, lang)
    count = await service.notifier.withdraw(CHANNEL, service.user_key(CHANNEL, session))
    message = service.engine.content.message("optin_stopped", lang, n=count) if count else \
        service.engine.content.message("optin_none", lang)
    return json_ok({"ok": True, "withdrawn": count, "message": message, "session": session})


async def notices(request: web.Request) -> web.Response:
    """POST /api/notices {session}: the answers that arrived for this session's pending requests (once each)."""
    service = request.app[SERVICE]
    data = await json_body(request)
    session, rate_key = _session(request, data)
    _check_rate(request, rate_key, lang_field(data.get("lang")))
    found = await service.notifier.collect(service.engine, CHANNEL, service.user_key(CHANNEL, session))
    out = []
    for notice in found:
        body = reply_json(service, Answered(notice.reply, ""), session)
        body["notice"] = service.engine.content.message("optin_notice", notice.reply.lang, question=notice.question)
        body["question"] = notice.question
        out.append(body)
    return json_ok({"notices": out, "session": session})


# ---- the application ------------------------------------------------------------------------------------
async def _service_lifecycle(app: web.Application) -> AsyncIterator[None]:
    service = app[SERVICE]
    service.start()
    yield
    await service.drain_notices()
    await asyncio.to_thread(service.close)    # drains every queued enquiry before the process exits


def create_app(service: Service) -> web.Application:
    """The web chat application; the service's log writer starts and drains with the app."""
    app = web.Application(middlewares=[edge.middleware(service.settings), security_headers, api_errors,
                                       timeouts.body_deadline],
                          client_max_size=MAX_BODY)
    app.on_response_prepare.append(edge.server_header)
    app[SERVICE] = service
    if service.settings.address_bytes_per_minute > 0:
        app[BYTE_BUDGET] = ByteBudget(service.settings.address_bytes_per_minute)
    rate = service.settings.address_rate_per_minute
    if rate > 0:
        app[ADDRESS_LIMITER] = RateLimiter(rate)
    app.cleanup_ctx.append(_service_lifecycle)
    app.router.add_get("/", index)
    app.router.add_static("/static", STATIC_DIR, follow_symlinks=False, show_index=False)
    app.router.add_post("/api/chat", chat)
    app.router.add_post("/api/choice", choice)
    app.router.add_post("/api/feedback", feedback)
    app.router.add_post("/api/handoff", handoff)
    app.router.add_get("/api/menu", menu)
    app.router.add_get("/api/clause/{id}", clause)
    app.router.add_get("/api/glossary", glossary)
    app.router.add_get("/healthz", healthz)
    add_routes(app, SERVICE, CHANNEL, _session, _check_rate)
    app.router.add_post("/api/notify", notify)
    app.router.add_post("/api/notify/stop", stop_notices)
    app.router.add_post("/api/notices", notices)
    return app
