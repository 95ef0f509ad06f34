"""HTTP plumbing shared by the web chat and the staff pages: security headers, errors as JSON in one
sentence, and reading and checking JSON request bodies."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.channels import guards

log = logging.getLogger("bot.channels.web.chat")
MAX_BODY = 64 * 1024          # bytes; larger bodies get 413
LANGS = ("zh", "en")

SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                                "frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

# One sentence for the errors aiohttp raises itself on /api/ paths.
STATUS_SENTENCES = {
    400: "The request is malformed.",
    404: "There is no such API endpoint.",
    405: "This endpoint does not accept that HTTP method.",
    413: "The request body is over 64 KiB; send a shorter request.",
    415: "Send the request as JSON with Content-Type: application/json.",
}
INTERNAL = "Something went wrong on our side; please try again in a moment."

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """A bad request, answered with its status and one sentence as JSON."""

    def __init__(self, status: int, error: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(error)
        self.status, self.error, self.headers, self.extra = status, error, headers, extra


# ---- middlewares ---------------------------------------------------------------------------------------
@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Add the CSP, nosniff, frame and referrer headers to every response, errors included."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        add_security_headers(exc)
        raise
    add_security_headers(response)
    return response


def add_security_headers(response: web.StreamResponse) -> None:
    """Set the security headers a response does not set itself (unless its headers went out already)."""
    if response.prepared:      # a streamed response has sent its headers already
        return
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn bad requests into JSON errors and unexpected exceptions into a 500 without a traceback."""
    is_api = request.path.startswith("/api/") or request.path == "/healthz"
    try:
        return await handler(request)
    except ApiError as exc:
        return json_error(exc.status, exc.error, headers=exc.headers, **exc.extra)
    except web.HTTPException as exc:
        if is_api and exc.status >= 400:
            return json_error(exc.status, STATUS_SENTENCES.get(exc.status) or f"{exc.reason}.",
                              headers={k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")})
        raise
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unexpected error answering %s %s", request.method, request.path)
        if is_api:
            return json_error(500, INTERNAL)
        return web.Response(status=500, text=INTERNAL + "\n")


def json_error(status: int, error: str, headers: dict[str, str] | None = None, **extra: Any) -> web.Response:
    """An error answer: {"error": one sentence, ...extra}, never cached."""
    response = web.json_response({"error": error, **extra}, status=status, headers=headers,
                                 dumps=dumps)
    response.headers["Cache-Control"] = "no-store"
    return response


def dumps(value: Any) -> str:
    """JSON with Chinese kept readable (not \\u-escaped)."""
    return json.dumps(value, ensure_ascii=False)


def json_ok(data: dict[str, Any], status: int = 200) -> web.Response:
    """A JSON answer, never cached."""
    response = web.json_response(data, status=status, dumps=dumps)
    response.headers["Cache-Control"] = "no-store"
    return response


# ---- request parsing ------------------------------------------------------------------------------------
async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; ApiError 413, 415 or 400 for a body too big, not JSON, or not an object."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError(413, STATUS_SENTENCES[413])
    if request.content_type != "application/json":
        raise ApiError(415, STATUS_SENTENCES[415])
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, STATUS_SENTENCES[413]) from None
    try:
        data = guards.loads(raw)
    except guards.TooDeep:
        raise ApiError(400, f"The request body nests arrays or objects more than {guards.MAX_DEPTH} levels deep.") \
            from None
    except ValueError:         # JSONDecodeError and undecodable bytes
        raise ApiError(400, "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return data


def text_field(data: dict[str, Any], name: str, *, required: bool = False, max_len: int | None = None) -> str | None:
    """A string field of the body (None when absent and optional); ApiError 422 otherwise."""
    value = data.get(name)
    if value is None:
        if required:
            raise ApiError(422, f"The field \"{name}\" is required and must be a string.")
        return None
    if not isinstance(value, str):
        raise ApiError(422, f"The field \"{name}\" must be a string.")
    if max_len is not None and len(value) > max_len:
        raise ApiError(422, f"The field \"{name}\" is longer than {max_len} characters.")
    return value


def lang_field(value: Any, name: str = "lang") -> str | None:
    """"zh", "en" or None (absent or empty); ApiError 422 for anything else."""
    if value in (None, ""):
        return None
    if value not in LANGS:
        raise ApiError(422, f"The field \"{name}\" must be \"zh\" or \"en\".")
    return value
