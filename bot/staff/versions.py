"""Versions of intents (/staff/versions): the list, one version's diff, restore (itself a new version), publish."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from bot.core import editing
from bot.errors import VocbotError
from bot.log import optins
from bot.log import versions as rows
from bot.staff import context as ctx
from bot.staff import editor

log = logging.getLogger(__name__)


async def listing(request: web.Request) -> web.Response:
    """GET /staff/versions: publish, the opt-in notices per question, and every saved version."""
    service = ctx.service(request)
    intent = request.query.get("intent", "")[:128] or None
    found = await service.store.aread(rows.list_versions, intent)
    notices = await service.store.aread(optins.by_question)
    v = ctx.view(request, "versions")
    return ctx.render(request, "versions.html", v, v.t("nav_versions"), versions=found, notices=notices,
                      intent=intent or "", engine_version=service.engine.version,
                      intents=len(service.engine.intents), last_error=service.last_reload_error,
                      sent=service.notifier.sent)


async def _version(request: web.Request) -> dict:
    found = await ctx.service(request).store.aread(rows.get_version, int(request.match_info["id"]))
    if found is None:
        raise web.HTTPNotFound
    return found


async def show(request: web.Request) -> web.Response:
    """GET /staff/versions/{id}: the version's YAML and its diff."""
    version = await _version(request)
    v = ctx.view(request, "versions")
    return ctx.render(request, "version.html", v, v.t("version_title", id=version["id"], intent=version["intent"]),
                      version=version)


async def restore(request: web.Request) -> web.Response:
    """POST /staff/versions/{id}/restore: write that version's intent back, recorded as a new version."""
    service = ctx.service(request)
    version = await _version(request)
    settings = service.settings
    author = ctx.session(request).user
    try:
        draft = editing.draft_from_text(version["body"])
        path, old, new = await asyncio.to_thread(editing.render_change, settings.intents_dir, draft, version["file"])
        await asyncio.to_thread(editing.write, settings.intents_dir, settings.content_dir, path, old, new,
                                settings.model_dir)
    except VocbotError as exc:
        ctx.flash(request, "error", "dash_restore_failed", error=str(exc))
        raise web.HTTPSeeOther(ctx.url(request, "versions")) from None
    await service.store.achange(rows.add_version, author, draft.id, path.name, "restore",
                                editing.entry_text(new, draft.id), editing.diff(old, new, path.name))
    log.info("staff dashboard: %s restored version %s of %s", author, version["id"], draft.id)
    ctx.flash(request, "info", "dash_restored", id=version["id"], intent=draft.id)
    raise web.HTTPSeeOther(ctx.url(request, "versions"))


async def publish(request: web.Request) -> web.Response:
    """POST /staff/publish: make what is saved live without a restart (or say why not, changing nothing)."""
    await editor.publish_now(request)
    raise web.HTTPSeeOther(ctx.url(request, "versions"))
