"""The answer editor (/staff/editor): write a new intent for a cluster of unanswered questions, or edit one.

Every preview and save validates the whole set of intents with the change applied (the rules of
`vocbot intents check`) and shows the answer exactly as the web chat, Telegram and the terminal render it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from aiohttp import web
from markupsafe import Markup

from bot.channels.telegram import render as telegram_render
from bot.core import checks, editing
from bot.core.engine import Engine
from bot.core.intents import AUDIENCES, SILENT_KINDS
from bot.core.render_text import render_reply as terminal_render
from bot.errors import VocbotError
from bot.log import reports, versions
from bot.staff import context as ctx
from bot.staff import pages

log = logging.getLogger(__name__)
MAX_FIELD = 8000
MAX_EXAMPLES = 200
MAX_IDS = 50


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r", "").split("\n") if line.strip()][:MAX_EXAMPLES]


def _date(text: str, default: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        return default


def draft_from_form(form: Any) -> editing.Draft:
    """The draft a submitted editor form describes (every field bounded)."""
    def get(name: str) -> str:
        return str(form.get(name) or "")[:MAX_FIELD]
    draft = editing.Draft(id=get("id").strip()[:128])
    draft.audience = get("audience") or "all"
    draft.title = {lang: get(f"title_{lang}").strip() for lang in ("zh", "en")}
    draft.answer = {lang: get(f"answer_{lang}").strip() for lang in ("zh", "en")}
    draft.examples = {lang: _lines(get(f"examples_{lang}")) for lang in ("zh", "en")}
    draft.source = [str(s)[:32] for s in form.getall("source", [])][:20]
    draft.related = [str(r)[:128] for r in form.getall("related", [])][:10]
    draft.silent_on = {kind: {lang: get(f"silent_{kind}_{lang}").strip() for lang in ("zh", "en")}
                       for kind in SILENT_KINDS if get(f"silent_{kind}_zh").strip() or get(f"silent_{kind}_en").strip()}
    draft.reviewed = _date(get("reviewed"), dt.date.today())
    draft.review_by = _date(get("review_by"), dt.date.today() + dt.timedelta(days=365))
    return draft


def previews(engine: Engine, intent_id: str) -> list[dict[str, Any]]:
    """The answer in both languages as each channel shows it (Telegram's HTML escapes every text it holds)."""
    out = []
    for lang in ("zh", "en"):
        reply = engine.answer_intent(intent_id, lang)
        citation = engine.citation(reply.source, lang)
        body = reply.answer
        if citation and body.rstrip().endswith(citation):      # the web page shows the citation on its own line
            body = body.rstrip()[: -len(citation)].rstrip()
        out.append({"lang": lang, "web": body, "citation": citation,
                    # telegram_render.messages escapes the text itself; the HTML is what Telegram receives.
                    "telegram": [Markup(o.html) for o in telegram_render.messages(reply.answer)],  # noqa: S704
                    "terminal": terminal_render(engine, reply)})
    return out


async def _cluster_questions(request: web.Request, enquiry_id: str, days: int | None) -> tuple[list[dict], list[str]]:
    """The questions (and enquiry ids) of the cluster holding an enquiry, or of that enquiry alone."""
    for cluster in await pages.clusters(request, days):
        if enquiry_id in cluster["enquiry_ids"]:
            return cluster["questions"], cluster["enquiry_ids"][:MAX_IDS]
    row = await ctx.service(request).store.aread(reports.get_enquiry, enquiry_id)
    return ([{"text": row["text"], "enquiry_id": row["id"], "count": 1}], [row["id"]]) if row else ([], [])


async def form(request: web.Request) -> web.Response:
    """GET /staff/editor?enquiry_id=...: a new intent from a cluster; ?intent=ID: edit an intent."""
    service = ctx.service(request)
    intent_id = request.query.get("intent", "")[:128]
    enquiry_ids: list[str] = []
    questions: list[dict] = []
    file_name = ""
    if intent_id:
        found = await asyncio.to_thread(editing.find, service.settings.intents_dir, intent_id)
        if found is None:
            ctx.flash(request, "error", "dash_editor_unknown", intent=intent_id)
            raise web.HTTPSeeOther(ctx.url(request, "versions"))
        file_name, body = found
        draft = editing.draft_from_text(body)
    else:
        draft = editing.Draft(id="")
        questions, enquiry_ids = await _cluster_questions(request, request.query.get("enquiry_id", "")[:64],
                                                          ctx.days(request))
        for q in questions:
            lang = "en" if q["text"].isascii() else "zh"
            draft.examples[lang].append(q["text"])
    return _page(request, draft, file_name, enquiry_ids, questions)


def _page(request: web.Request, draft: editing.Draft, file_name: str, enquiry_ids: list[str],
          questions: list[dict], status: int = 200, **values: Any) -> web.Response:
    engine = ctx.service(request).engine
    v = ctx.view(request, "unanswered")
    clauses = [{"id": c.id, "heading": c.heading, "heading_en": c.heading_en, "text": c.text}
               for c in engine.content.clauses.values()]
    title = v.t("editor_edit", intent=draft.id) if file_name else v.t("editor_new")
    return ctx.render(request, "editor.html", v, title, status, draft=draft, file_name=file_name,
                      enquiry_ids=enquiry_ids, questions=questions, clauses=clauses, kinds=SILENT_KINDS,
                      audiences=AUDIENCES, intents=pages.intent_options(request), **values)


def _own_warnings(engine: Engine, intent_id: str) -> list[str]:
    return [w for w in checks.check(engine).warnings if f" {intent_id} " in f" {w} " or f"intent {intent_id}:" in w]


async def submit(request: web.Request) -> web.Response:
    """POST /staff/editor: action=preview validates and shows; save writes the YAML and a version; publish too."""
    service = ctx.service(request)
    data = await request.post()
    action = str(data.get("action") or "preview")
    file_name = str(data.get("file") or "")[:128] or None
    enquiry_ids = [str(i)[:64] for i in data.getall("enquiry_id", [])][:MAX_IDS]
    questions = [{"text": str(q)[:500]} for q in data.getall("question", [])][:MAX_IDS]
    draft = draft_from_form(data)
    settings = service.settings
    v_errors: list[str] = []
    try:
        path, old, new = await asyncio.to_thread(editing.render_change, settings.intents_dir, draft, file_name)
        candidate = await asyncio.to_thread(editing.validate, settings.intents_dir, settings.content_dir, path, new,
                                            settings.model_dir)
    except VocbotError as exc:
        v_errors.append(str(exc))
    if v_errors or action == "preview":
        if v_errors:
            return _page(request, draft, file_name or "", enquiry_ids, questions, 422, errors=v_errors)
        warnings = await asyncio.to_thread(_own_warnings, candidate, draft.id)
        matches = [{"text": q["text"], "reply": candidate.ask(q["text"])} for q in questions]
        return _page(request, draft, file_name or "", enquiry_ids, questions, previews=previews(candidate, draft.id),
                     warnings=warnings, matches=matches, diff=editing.diff(old, new, path.name))
    author = ctx.session(request).user
    try:
        await asyncio.to_thread(editing.write, settings.intents_dir, settings.content_dir, path, old, new,
                                settings.model_dir)
    except VocbotError as exc:
        return _page(request, draft, file_name or "", enquiry_ids, questions, 409, errors=[str(exc)])
    await service.store.achange(versions.add_version, author, draft.id, path.name, "edit" if old else "create",
                                editing.entry_text(new, draft.id), editing.diff(old, new, path.name))
    for enquiry_id in enquiry_ids:
        row = await service.store.aread(reports.get_enquiry, enquiry_id)
        if row is not None:
            await service.store.add_promotion(enquiry_id, draft.id, row["text"], row["normalized"], row["lang"] or "zh",
                                              f"editor:{author}")
    log.info("staff editor: %s saved intent %s in %s", author, draft.id, path.name)
    ctx.flash(request, "info", "dash_editor_saved", intent=draft.id, file=path.name)
    if action == "publish":
        await publish_now(request)
    raise web.HTTPSeeOther(ctx.url(request, "versions"))


async def publish_now(request: web.Request) -> bool:
    """Reload the engine from disk; a failure keeps the old one and says why. True when published."""
    service = ctx.service(request)
    error = await service.reload_engine()
    if error:
        ctx.flash(request, "error", "dash_publish_failed", error=error)
        return False
    ctx.flash(request, "info", "dash_published", version=service.engine.version, count=len(service.engine.intents))
    log.info("staff dashboard: %s published intents version %s", ctx.session(request).user, service.engine.version)
    return True
