"""The fake Bot API server is as strict as Telegram where the bot could go wrong (tested over raw HTTP)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from fake_bot_api import TOKEN, ApiError, FakeBotAPI, entities_for, parse_html

CHAT = 777


@pytest.fixture
async def api() -> AsyncIterator[tuple[FakeBotAPI, aiohttp.ClientSession]]:
    """The server with one known private chat, and an HTTP client."""
    async with FakeBotAPI() as server, aiohttp.ClientSession() as http:
        server.user(CHAT)
        yield server, http


async def call(api: tuple[FakeBotAPI, aiohttp.ClientSession], method: str, token: str = TOKEN,
               **params: Any) -> tuple[int, dict[str, Any]]:
    """POST a method as python-telegram-bot does (form fields, JSON-encoded objects)."""
    server, http = api
    form = {k: json.dumps(v) if isinstance(v, dict | list) else str(v) for k, v in params.items()}
    async with http.post(f"{server.url}/bot{token}/{method}", data=form) as response:
        return response.status, await response.json()


@pytest.mark.parametrize("markup", [
    "<b>bold</b> <i>it</i> <u>u</u> <s>s</s> <code>c</code>",
    "&lt;tag&gt; &amp; &quot;q&quot; &#60; &#x3E;",
    '<a href="https://example.org/?a=1&amp;b=2">link</a>',
    '<span class="tg-spoiler">s</span> <tg-spoiler>s</tg-spoiler>',
    '<pre><code class="language-python">x = 1</code></pre>',
    "<blockquote expandable>quote</blockquote>",
    "<b>nested <i>fine</i></b>",
])
def test_valid_telegram_html(markup: str) -> None:
    assert parse_html(markup)


@pytest.mark.parametrize(("markup", "error"), [
    ("<b>unclosed", "unclosed start tag"),
    ("stray</b>", "unmatched end tag"),
    ("<b><i>crossed</b></i>", "unmatched end tag"),
    ("<script>x</script>", "unsupported start tag"),
    ("<div>x</div>", "unsupported start tag"),
    ("a < b", "unescaped"),
    ("a > b", "unescaped"),
    ("a & b", "unescaped"),
    ("&nbsp;", "unsupported HTML entity"),
    ("<span>x</span>", "bad attributes"),
    ("<a>x</a>", "bad attributes"),
    ('<b class="x">x</b>', "bad attributes"),
    ("line<br/>break", "self-closing"),
    ("<!-- comment -->", "comments"),
    ("<b", "unfinished markup"),
])
def test_invalid_telegram_html(markup: str, error: str) -> None:
    with pytest.raises(ApiError, match=error) as raised:
        parse_html(markup)
    assert raised.value.code == 400


@pytest.mark.parametrize(("text", "parse_mode", "status", "description"), [
    ("x" * 4096, None, 200, None),
    ("x" * 4097, None, 400, "Bad Request: message is too long"),
    ("😀" * 2048, None, 200, None),
    ("😀" * 2049, None, 400, "Bad Request: message is too long"),
    ("<b>" + "x" * 4096 + "</b>", "HTML", 200, None),          # the limit counts what is shown
    ("&amp;" * 4097, "HTML", 400, "Bad Request: message is too long"),
    ("", None, 400, "Bad Request: message text is empty"),
    ("<b> </b>", "HTML", 400, "Bad Request: message text is empty"),
    ("<b>oops", "HTML", 400, 'Bad Request: can\'t parse entities: unclosed start tag "b"'),
    ("<b>oops", None, 200, None),                               # without parse_mode it is plain text
])
async def test_send_message_text_rules(api: tuple[FakeBotAPI, aiohttp.ClientSession], text: str,
                                       parse_mode: str | None, status: int, description: str | None) -> None:
    params: dict[str, Any] = {"chat_id": CHAT, "text": text}
    if parse_mode:
        params["parse_mode"] = parse_mode
    got, body = await call(api, "sendMessage", **params)
    assert (got, body["ok"], body.get("description")) == (status, status == 200, description)


@pytest.mark.parametrize(("data", "status"), [("x" * 64, 200), ("x" * 65, 400), ("数" * 21, 200), ("数" * 22, 400),
                                              ("", 400)])
async def test_callback_data_is_1_to_64_bytes(api: tuple[FakeBotAPI, aiohttp.ClientSession], data: str,
                                              status: int) -> None:
    markup = {"inline_keyboard": [[{"text": "b", "callback_data": data}]]}
    got, body = await call(api, "sendMessage", chat_id=CHAT, text="t", reply_markup=markup)
    assert got == status
    if status == 400:
        assert body["description"] == "Bad Request: BUTTON_DATA_INVALID"


@pytest.mark.parametrize(("method", "token", "params", "status", "description"), [
    ("getMe", "1:wrong", {}, 401, "Unauthorized"),
    ("noSuchMethod", TOKEN, {}, 404, "Not Found: method not found"),
    ("sendMessage", TOKEN, {"chat_id": 999, "text": "x"}, 400, "Bad Request: chat not found"),
    ("sendMessage", TOKEN, {"chat_id": CHAT, "text": "x", "reply_parameters": {"message_id": 12345}}, 400,
     "Bad Request: message to be replied not found"),
    ("answerCallbackQuery", TOKEN, {"callback_query_id": "nope"}, 400,
     "Bad Request: query is too old and response timeout expired or query ID is invalid"),
    ("setMyCommands", TOKEN, {"commands": [{"command": "Bad-Name", "description": "d"}]}, 400,
     "Bad Request: BOT_COMMAND_INVALID"),
    ("setWebhook", TOKEN, {"url": "http://example.org/hook"}, 400,
     "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"),
])
async def test_errors_are_telegrams(api: tuple[FakeBotAPI, aiohttp.ClientSession], method: str, token: str,
                                    params: dict[str, Any], status: int, description: str) -> None:
    got, body = await call(api, method, token=token, **params)
    assert (got, body) == (status, {"ok": False, "error_code": status, "description": description})


async def test_scripted_faults(api: tuple[FakeBotAPI, aiohttp.ClientSession]) -> None:
    server, _ = api
    server.fail("getMe", status=429, retry_after=3)
    server.fail("getMe", status=500)
    assert await call(api, "getMe") == (429, {"ok": False, "error_code": 429, "parameters": {"retry_after": 3},
                                              "description": "Too Many Requests: retry after 3"})
    assert (await call(api, "getMe"))[0] == 500
    assert (await call(api, "getMe"))[0] == 200
    assert server.client_errors() == []          # scripted faults are not the bot's mistakes


async def test_a_hanging_request_is_released_when_the_client_gives_up(api: tuple[FakeBotAPI, aiohttp.ClientSession]
                                                                     ) -> None:
    server, _ = api
    server.fail("getMe", hang=True)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(call(api, "getMe"), 0.3)
    await server.wait_for(lambda: server.calls[0].description == "client went away")
    assert server.calls[0].status == 0


async def test_a_dropped_connection_gets_no_answer(api: tuple[FakeBotAPI, aiohttp.ClientSession]) -> None:
    server, _ = api
    server.fail("getMe", drop=True)
    with pytest.raises(aiohttp.ClientConnectionError):
        await call(api, "getMe")
    assert (server.calls[0].status, server.calls[0].description) == (0, "connection dropped")
    assert (await call(api, "getMe"))[0] == 200


async def test_get_updates_offsets_confirm_updates(api: tuple[FakeBotAPI, aiohttp.ClientSession]) -> None:
    server, _ = api
    user = server.user(CHAT)
    for text in ("one", "two", "three"):
        server.say(user, text)
    _, body = await call(api, "getUpdates")
    assert [u["update_id"] for u in body["result"]] == [1, 2, 3]
    _, body = await call(api, "getUpdates", offset=3)
    assert [u["message"]["text"] for u in body["result"]] == ["three"]
    _, body = await call(api, "getUpdates", offset=4)
    assert body["result"] == []
    _, body = await call(api, "getUpdates", offset=1)             # confirmed updates never come back
    assert body["result"] == []


async def test_update_ids_started_afresh_come_despite_an_old_offset(
        api: tuple[FakeBotAPI, aiohttp.ClientSession]) -> None:
    server, _ = api
    user = server.user(CHAT)
    server.restart_update_ids(900)
    server.say(user, "before")
    _, body = await call(api, "getUpdates", offset=901)
    assert body["result"] == []
    server.restart_update_ids(40)                                  # a week without updates
    server.say(user, "after")
    _, body = await call(api, "getUpdates", offset=901)            # past every id issued: ignored
    assert [(u["update_id"], u["message"]["text"]) for u in body["result"]] == [(40, "after")]
    _, body = await call(api, "getUpdates", offset=41)
    assert body["result"] == []


async def test_get_updates_long_polls_until_an_update_arrives(api: tuple[FakeBotAPI, aiohttp.ClientSession]) -> None:
    server, _ = api
    poll = asyncio.create_task(call(api, "getUpdates", timeout=60))
    await server.wait_for(lambda: server.find("getUpdates", ok=None))
    assert not poll.done()
    server.say(server.user(CHAT), "hello")
    _, body = await asyncio.wait_for(poll, 5)                     # answered long before the 60 s timeout
    assert body["result"][0]["message"]["text"] == "hello"


async def test_allowed_updates_filter_what_is_delivered(api: tuple[FakeBotAPI, aiohttp.ClientSession]) -> None:
    server, _ = api
    user = server.user(CHAT)
    server.inline(user, "3+2")
    server.say(user, "hi")
    _, body = await call(api, "getUpdates", allowed_updates=["message"])
    assert [next(k for k in u if k != "update_id") for u in body["result"]] == ["message"]


async def test_get_updates_conflicts_with_a_webhook(api: tuple[FakeBotAPI, aiohttp.ClientSession]) -> None:
    assert (await call(api, "setWebhook", url="https://bot.example.org/telegram/webhook"))[0] == 200
    status, body = await call(api, "getUpdates")
    assert status == 409 and body["description"].startswith("Conflict")
    assert (await call(api, "deleteWebhook"))[0] == 200
    assert (await call(api, "getUpdates"))[0] == 200


async def test_callback_queries_are_answered_once_and_edits_must_change(
        api: tuple[FakeBotAPI, aiohttp.ClientSession]) -> None:
    server, _ = api
    user = server.user(CHAT)
    markup = {"inline_keyboard": [[{"text": "b", "callback_data": "x"}]]}
    _, sent = await call(api, "sendMessage", chat_id=CHAT, text="menu", reply_markup=markup)
    query = server.press(user, sent["result"], "x")
    assert server.unanswered_queries() == [query]
    assert (await call(api, "answerCallbackQuery", callback_query_id=query))[0] == 200
    assert (await call(api, "answerCallbackQuery", callback_query_id=query))[0] == 400
    same = {"chat_id": CHAT, "message_id": sent["result"]["message_id"], "text": "menu", "reply_markup": markup}
    status, body = await call(api, "editMessageText", **same)
    assert status == 400 and body["description"].startswith("Bad Request: message is not modified")
    assert (await call(api, "editMessageText", **{**same, "text": "new"}))[0] == 200
    assert server.messages[(CHAT, sent["result"]["message_id"])]["text"] == "new"


@pytest.mark.parametrize(("text", "kinds"), [
    ("/start", [("bot_command", 0, 6)]),
    ("/help@vocbot_test_bot hi", [("bot_command", 0, 21)]),
    ("hi @vocbot_test_bot 😀 /menu", [("mention", 3, 16), ("bot_command", 23, 5)]),
    ("a/b and mail@x.org", []),
])
def test_entities_like_telegram(text: str, kinds: list[tuple[str, int, int]]) -> None:
    assert [(e["type"], e["offset"], e["length"]) for e in entities_for(text)] == kinds
