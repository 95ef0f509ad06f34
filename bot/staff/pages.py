"""The dashboard's reading pages (overview, enquiries, unanswered, export) and promoting questions to examples."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from aiohttp import web

from bot.channels.guards import strict_int
from bot.channels.web.http import SECURITY_HEADERS
from bot.core.learn import promote_text
from bot.errors import VocbotError
from bot.log import optins, reports
from bot.staff import context as ctx
from bot.staff import views as staff_views

log = logging.getLogger(__name__)
PER_PAGE = 50
MAX_CLUSTER_IDS = 50
CSS = web.AppKey("vocbot_staff_css", bytes)


async def overview(request: web.Request) -> web.Response:
    """GET /staff/: KPIs and charts for a period (7/30/90/365 days or all)."""
    service = ctx.service(request)
    days = ctx.days(request)
    since = ctx.since(days)
    stats = await service.store.aread(reports.stats, since)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    first = since or (stats["by_day"][0]["day"] if stats["by_day"] else today)
    v = ctx.view(request, "overview")
    return ctx.render(request, "overview.html", v, v.t("nav_overview"), days=days,
                      **staff_views.overview(v, stats, first, today))


def intent_options(request: web.Request) -> list[tuple[str, str]]:
    """(id, "title (id)") of every intent, for pickers."""
    engine = ctx.service(request).engine
    lang = ctx.lang(request)
    return [(iid, f"{engine.title(iid, lang)} ({iid})") for iid in sorted(engine.intents)]


async def enquiries(request: web.Request) -> web.Response:
    """GET /staff/enquiries: filters, text search and paging."""
    service = ctx.service(request)
    filters = {k: request.query[k].strip()[:200] for k in reports.FILTERS if request.query.get(k, "").strip()}
    page_raw = request.query.get("page", "1")
    page = strict_int(page_raw, 1, 999_999)
    if page is None:
        raise web.HTTPBadRequest(text="page must be a whole number from 1 to 999999.\n")
    v = ctx.view(request, "enquiries")
    try:
        result = await service.store.aread(reports.search_enquiries, filters, page, PER_PAGE,
                                           service.engine.normalizer)
    except ValueError:
        v.notices.append(("error", v.t("bad_filter")))
        filters = {}
        result = await service.store.aread(reports.search_enquiries, {}, 1, PER_PAGE)
    audiences = [(aid, a.title.get(v.lang) or aid) for aid, a in service.engine.menu.audiences.items()]
    return ctx.render(request, "enquiries.html", v, v.t("nav_enquiries"), result=result, filters=filters,
                      intents=intent_options(request), audiences=audiences, **staff_views.enquiries(v, result))


async def clusters(request: web.Request, days: int | None) -> list[dict]:
    """The unanswered clusters of a period, each with its opt-in counts (pending / told)."""
    service = ctx.service(request)
    found = await service.store.aread(reports.unanswered, ctx.since(days), 50, service.engine)
    counts = await service.store.aread(optins.counts)
    for cluster in found:
        slots = [counts[i] for i in cluster["enquiry_ids"] if i in counts]
        cluster["optins"] = {"pending": sum(s["pending"] for s in slots), "told": sum(s["told"] for s in slots)}
    return found


async def unanswered(request: web.Request) -> web.Response:
    """GET /staff/unanswered: clusters of unanswered and disliked questions, with promote forms and the editor."""
    days = ctx.days(request)
    v = ctx.view(request, "unanswered")
    return ctx.render(request, "unanswered.html", v, v.t("nav_unanswered"), days=days,
                      clusters=await clusters(request, days), intents=intent_options(request))


async def _promote(request: web.Request, enquiry_ids: list[str], intent: str) -> None:
    """Add each enquiry's question to intents/learned.yaml, reload once, note each in the log."""
    service = ctx.service(request)
    author = ctx.session(request).user
    added, exists = [], []
    for enquiry_id in enquiry_ids:
        row = await service.store.aread(reports.get_enquiry, enquiry_id) if enquiry_id else None
        if row is None or row["via"] != "text":
            ctx.flash(request, "error", "dash_promote_failed", error=ctx.service(request).engine.content.message(
                "dash_no_enquiry", ctx.session(request).lang))
            continue
        try:
            done = await asyncio.to_thread(promote_text, service.settings.intents_dir, service.engine, intent,
                                           row["text"], row["lang"])
        except VocbotError as exc:
            ctx.flash(request, "error", "dash_promote_failed", error=str(exc))
            continue
        await service.store.add_promotion(enquiry_id, intent, done.text, done.normalized, done.lang,
                                          f"dashboard:{author}")
        (added if done.added else exists).append(done.text)
        log.info("staff dashboard: %s promoted enquiry %s to %s (added=%s)", author, enquiry_id, intent, done.added)
    error = await service.reload_engine() if added else None
    if error:
        ctx.flash(request, "error", "dash_promote_failed", error=error)
    for text in added:
        ctx.flash(request, "info", "dash_promoted", text=text, intent=intent)
    for text in exists:
        ctx.flash(request, "info", "dash_promote_exists", text=text, intent=intent)


async def promote(request: web.Request) -> web.Response:
    """POST /staff/promote: one question as an example of an intent, live at once."""
    form = await request.post()
    await _promote(request, [str(form.get("enquiry_id", ""))[:64]], str(form.get("intent", ""))[:128])
    raise web.HTTPSeeOther(ctx.url(request, "unanswered"))


async def promote_cluster(request: web.Request) -> web.Response:
    """POST /staff/promote/cluster: every question of a cluster as examples of an intent, in one step."""
    form = await request.post()
    ids = [str(i)[:64] for i in form.getall("enquiry_id", [])][:MAX_CLUSTER_IDS]
    await _promote(request, list(dict.fromkeys(ids)), str(form.get("intent", ""))[:128])
    raise web.HTTPSeeOther(ctx.url(request, "unanswered"))


async def export(request: web.Request) -> web.StreamResponse:
    """GET /staff/export.csv?days=: the log as CSV (UTF-8 with BOM for spreadsheets), streamed."""
    store = ctx.service(request).store
    since = ctx.since(ctx.days(request, default=None))
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
