"""HTTP plumbing of the web side: security headers everywhere, errors as one JSON sentence, strict fields."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import aiohttp.web
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.channels.web import http as web_http
from bot.channels.web.http import ApiError, json_error, lang_field, text_field


async def test_a_sub_app_gets_the_security_headers_too() -> None:
    async def hello(request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(text="hi", headers={"Content-Security-Policy": "default-src 'none'"})

    sub = aiohttp.web.Application(middlewares=[web_http.security_headers])
    sub.router.add_get("/", hello)
    outer = aiohttp.web.Application(middlewares=[web_http.security_headers])
    outer.add_subapp("/sub", sub)
    async with TestClient(TestServer(outer)) as c:
        response = await c.get("/sub/")
        assert response.headers["Content-Security-Policy"] == "default-src 'none'"   # a handler's own wins
        assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(("data", "kwargs", "expected"), [
    ({"text": "3加2"}, {}, "3加2"),
    ({}, {}, None),
    ({"text": None}, {}, None),
    ({"text": ""}, {"required": True}, ""),
    ({"text": "x" * 10}, {"max_len": 10}, "x" * 10),
])
def test_text_fields_accepted(data: dict[str, Any], kwargs: dict[str, Any], expected: str | None) -> None:
    assert text_field(data, "text", **kwargs) == expected


@pytest.mark.parametrize(("data", "kwargs", "sentence"), [
    ({}, {"required": True}, 'The field "text" is required and must be a string.'),
    ({"text": 3}, {}, 'The field "text" must be a string.'),
    ({"text": ["a"]}, {}, 'The field "text" must be a string.'),
    ({"text": {"a": 1}}, {"required": True}, 'The field "text" must be a string.'),
    ({"text": "x" * 11}, {"max_len": 10}, 'The field "text" is longer than 10 characters.'),
])
def test_text_fields_refused_with_one_sentence(data: dict[str, Any], kwargs: dict[str, Any], sentence: str) -> None:
    with pytest.raises(ApiError) as caught:
        text_field(data, "text", **kwargs)
    assert (caught.value.status, caught.value.error) == (422, sentence)


@pytest.mark.parametrize(("value", "expected"), [("zh", "zh"), ("en", "en"), (None, None), ("", None)])
def test_languages_accepted(value: Any, expected: str | None) -> None:
    assert lang_field(value) == expected


@pytest.mark.parametrize("value", ["fr", "ZH", "zh-CN", 1, ["zh"], True])
def test_other_languages_refused(value: Any) -> None:
    with pytest.raises(ApiError) as caught:
        lang_field(value)
    assert (caught.value.status, caught.value.error) == (422, 'The field "lang" must be "zh" or "en".')


def test_an_error_is_one_uncached_json_sentence_with_readable_chinese() -> None:
    response = json_error(429, "Too many requests.", headers={"Retry-After": "60"}, message="请稍后再试")
    assert response.status == 429
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Retry-After"] == "60"
    assert response.text is not None and "请稍后再试" in response.text
    assert json.loads(response.text) == {"error": "Too many requests.", "message": "请稍后再试"}


async def test_an_unexpected_exception_is_a_500_sentence_without_a_traceback() -> None:
    async def broken(request: aiohttp.web.Request) -> aiohttp.web.Response:
        raise RuntimeError("secret detail")

    app = aiohttp.web.Application(middlewares=[web_http.security_headers, web_http.api_errors])
    app.router.add_get("/api/broken", broken)
    app.router.add_get("/page", broken)
    async with TestClient(TestServer(app)) as c:
        api = await c.get("/api/broken")
        assert api.status == 500 and await api.json() == {"error": web_http.INTERNAL}
        page = await c.get("/page")
        assert page.status == 500 and await page.text() == web_http.INTERNAL + "\n"
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        assert "secret detail" not in await api.text() + await page.text()



# ---- issue 12 row 9: deeply nested JSON ----------------------------------------------------------------
@pytest.mark.parametrize("body", [b"[" * 20000 + b"]" * 20000, b'{"a": ' * 33 + b"1" + b"}" * 33])
async def test_json_body_refuses_deep_nesting_with_400(body: bytes) -> None:
    async def echo(request: aiohttp.web.Request) -> aiohttp.web.Response:
        return web_http.json_ok(await web_http.json_body(request))

    app = aiohttp.web.Application(middlewares=[web_http.api_errors])
    app.router.add_post("/api/echo", echo)
    async with TestClient(TestServer(app)) as c:
        response = await c.post("/api/echo", data=body, headers={"Content-Type": "application/json"})
        assert response.status == 400
        assert await response.json() == {"error": "The request body nests arrays or objects more than 32 levels "
                                                  "deep."}
        nested = b'{"a": ' * 31 + b"1" + b"}" * 31
        assert (await c.post("/api/echo", data=nested, headers={"Content-Type": "application/json"})).status == 200
