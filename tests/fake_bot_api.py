"""A strict fake Telegram Bot API server on 127.0.0.1, for end-to-end tests of the real python-telegram-bot.

It speaks the Bot API's HTTP protocol (`/bot<token>/<method>`, form, multipart or JSON parameters, the
`{"ok": ..., "result"/"description"}` envelope) and is strict where Telegram is: text must be 1-4,096
characters after entity parsing, HTML must use Telegram's tags, balanced and escaped, callback data must be
1-64 bytes, callback and inline queries must be answered once, replies must point at existing messages,
`getUpdates` conflicts with an active webhook. Tests inject updates (messages, button presses, inline
queries), which the server serves by long polling (`getUpdates` offsets confirm them, as on Telegram) or
POSTs to the registered webhook with its secret header. Faults can be scripted per method: 429 with
`retry_after`, 500, a request that hangs until the client times out, or a connection dropped unanswered.
Every request is recorded, and tests wait on conditions over the recorded requests instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

TOKEN = "123456:TEST-token_for-the-fake-server"
BOT_ID = 123456
BOT_USERNAME = "vocbot_test_bot"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
UPDATE_TYPES = ("message", "edited_message", "channel_post", "edited_channel_post", "inline_query",
                "chosen_inline_result", "callback_query", "my_chat_member", "chat_member")

# Telegram's HTML subset: tag -> (required attributes, allowed attributes).
HTML_TAGS: dict[str, tuple[set[str], set[str]]] = {
    "b": (set(), set()), "strong": (set(), set()), "i": (set(), set()), "em": (set(), set()),
    "u": (set(), set()), "ins": (set(), set()), "s": (set(), set()), "strike": (set(), set()),
    "del": (set(), set()), "tg-spoiler": (set(), set()), "span": ({"class"}, {"class"}),
    "a": ({"href"}, {"href"}), "tg-emoji": ({"emoji-id"}, {"emoji-id"}), "code": (set(), {"class"}),
    "pre": (set(), set()), "blockquote": (set(), {"expandable"}),
}
HTML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class ApiError(Exception):
    """A Bot API error answer."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after


def bad_request(description: str) -> ApiError:
    """A 400 answer with Telegram's wording."""
    return ApiError(400, f"Bad Request: {description}")


class _TelegramHTML(HTMLParser):
    """Parses Telegram's HTML subset the way the Bot API does; raises ApiError on anything it would reject."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.text: list[str] = []
        self.stack: list[str] = []

    def fail(self, what: str) -> None:
        raise bad_request(f"can't parse entities: {what}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS:
            self.fail(f'unsupported start tag "{tag}"')
        required, allowed = HTML_TAGS[tag]
        names = {name for name, _ in attrs}
        if not required <= names or not names <= allowed:
            self.fail(f'bad attributes {sorted(names)} of tag "{tag}"')
        if tag == "span" and dict(attrs).get("class") != "tg-spoiler":
            self.fail('tag "span" must have class "tg-spoiler"')
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.fail(f'self-closing tag "{tag}"')

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.fail(f'unmatched end tag "{tag}"')
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        for char in "<>&":
            if char in data:
                self.fail(f'unescaped "{char}" in text')
        self.text.append(data)

    def handle_entityref(self, name: str) -> None:
        if name not in HTML_ENTITIES:
            self.fail(f'unsupported HTML entity "&{name};"')
        self.text.append(HTML_ENTITIES[name])

    def handle_charref(self, name: str) -> None:
        try:
            self.text.append(chr(int(name[1:], 16) if name[:1] in "xX" else int(name)))
        except ValueError:
            self.fail(f'bad character reference "&#{name};"')

    def handle_comment(self, data: str) -> None:
        self.fail("comments are not supported")

    def handle_decl(self, decl: str) -> None:
        self.fail("declarations are not supported")

    def handle_pi(self, data: str) -> None:
        self.fail("processing instructions are not supported")

    def unknown_decl(self, data: str) -> None:
        self.fail("declarations are not supported")


def parse_html(text: str) -> str:
    """The visible text of a Telegram HTML message; raises ApiError(400) where the Bot API would."""
    parser = _TelegramHTML()
    parser.feed(text)
    if parser.rawdata:          # an unterminated tag or entity left in the buffer
        parser.fail(f'unfinished markup "{parser.rawdata[:20]}"')
    parser.close()
    if parser.stack:
        parser.fail(f'unclosed start tag "{parser.stack[-1]}"')
    return "".join(parser.text)


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def entities_for(text: str) -> list[dict[str, Any]]:
    """The bot_command and mention entities Telegram attaches to a typed text."""
    found = []
    for kind, pattern in (("bot_command", r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?"),
                          ("mention", r"(?<![\w@])@[A-Za-z0-9_]{5,32}")):
        for match in re.finditer(pattern, text):
            found.append({"type": kind, "offset": utf16_len(text[:match.start()]),
                          "length": utf16_len(match.group())})
    return sorted(found, key=lambda e: e["offset"])


@dataclass
class Call:
    """One request the server received and what it answered."""

    method: str
    params: dict[str, Any]
    status: int = 0              # 0 while pending or when the client went away
    result: Any = None
    description: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    answered_at: float = 0.0     # time.monotonic() when it was answered with 200

    @property
    def ok(self) -> bool:
        """True for a 200 answer."""
        return self.status == 200

    def chat(self) -> int | str | None:
        """The chat_id parameter as an int when numeric."""
        return _chat_id(self.params.get("chat_id"))


@dataclass
class Fault:
    """A scripted failure for the next `times` calls of a method."""

    status: int = 500
    retry_after: int | None = None
    hang: bool = False
    drop: bool = False           # close the connection without answering
    times: int = 1
    description: str | None = None


def _chat_id(value: Any) -> int | str | None:
    if value is None:
        return None
    text = str(value)
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def _json_param(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse JSON parameter {value[:30]!r}") from None
    return value


class FakeBotAPI:
    """The server; start() it, point the bot at `.url`, inject updates and wait on recorded calls."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.me = {"id": BOT_ID, "is_bot": True, "first_name": "Vocbot Test", "username": BOT_USERNAME,
                   "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": True}
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []          # not yet confirmed, in update_id order
        self.delivered: list[int] = []                    # update ids handed to the bot (polling or webhook)
        self.chats: dict[int, dict[str, Any]] = {}
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.callback_queries: dict[str, dict[str, Any]] = {}   # id -> {"answered": bool, ...}
        self.inline_queries: dict[str, dict[str, Any]] = {}
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.webhook: dict[str, Any] = {}
        self.webhook_deliveries: list[tuple[int, int]] = []     # (update_id, HTTP status)
        self.faults: dict[str, list[Fault]] = {}
        self.allowed_updates: list[str] | None = None
        self._update_ids = itertools.count(1)
        self.last_update_id = 0
        self._message_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._changed: asyncio.Condition | None = None
        self._closing: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._delivery: asyncio.Task | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task] = set()
        self.url = ""

    # ---- lifecycle -------------------------------------------------------------------------------------
    async def start(self) -> str:
        """Listen on a random port of 127.0.0.1; returns the root URL (TELEGRAM_API_URL)."""
        self._changed = asyncio.Condition()
        self._closing = asyncio.Event()
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._session = aiohttp.ClientSession()
        self._delivery = asyncio.create_task(self._deliver_webhooks())
        return self.url

    async def close(self) -> None:
        """Release hanging requests and stop."""
        assert self._closing is not None
        self._closing.set()
        await self._notify()
        if self._delivery:
            self._delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery
        if self._session:
            await self._session.close()
        if self._runner:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeBotAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- chats and updates the tests inject ------------------------------------------------------------
    def user(self, user_id: int, first_name: str = "Tester", language_code: str | None = "zh",
             username: str | None = None) -> dict[str, Any]:
        """A user object (and their private chat, whose id equals the user id)."""
        user = {"id": user_id, "is_bot": False, "first_name": first_name}
        if language_code:
            user["language_code"] = language_code
        if username:
            user["username"] = username
        self.chats[user_id] = {"id": user_id, "type": "private", "first_name": first_name}
        return user

    def group(self, chat_id: int, title: str = "Test group", kind: str = "supergroup") -> dict[str, Any]:
        """A group chat the bot is a member of."""
        chat = {"id": chat_id, "type": kind, "title": title}
        self.chats[chat_id] = chat
        return chat

    def _new_message(self, chat: dict[str, Any], sender: dict[str, Any], **content: Any) -> dict[str, Any]:
        message = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": chat,
                   "from": sender, **content}
        self.messages[(chat["id"], message["message_id"])] = message
        return message

    def inject(self, kind: str, payload: dict[str, Any]) -> int:
        """Queue an update of a kind (message, callback_query, ...); returns its update_id."""
        assert kind in UPDATE_TYPES, kind
        update_id = self.last_update_id = next(self._update_ids)
        self.updates.append({"update_id": update_id, kind: payload})
        self._notify_soon()
        return update_id

    def say(self, user: dict[str, Any], text: str, chat: dict[str, Any] | None = None,
            reply_to: dict[str, Any] | None = None) -> dict[str, Any]:
        """The user sends a text message (in their private chat unless a group is given)."""
        chat = chat or self.chats[user["id"]]
        content: dict[str, Any] = {"text": text}
        entities = entities_for(text)
        if entities:
            content["entities"] = entities
        if reply_to is not None:
            content["reply_to_message"] = _shallow(reply_to)
        message = self._new_message(chat, user, **content)
        self.inject("message", message)
        return message

    def edit(self, message: dict[str, Any], text: str) -> dict[str, Any]:
        """The user edits one of their messages."""
        edited = {**message, "text": text, "edit_date": int(time.time())}
        edited.pop("entities", None)
        if entities_for(text):
            edited["entities"] = entities_for(text)
        self.messages[(message["chat"]["id"], message["message_id"])] = edited
        self.inject("edited_message", edited)
        return edited

    def send_media(self, user: dict[str, Any], kind: str, chat: dict[str, Any] | None = None) -> dict[str, Any]:
        """The user sends a sticker, photo, voice note, document, location, ... (no text)."""
        file = {"file_id": f"file-{kind}", "file_unique_id": f"u-{kind}"}
        content = {
            "sticker": {"sticker": {**file, "type": "regular", "width": 512, "height": 512, "is_animated": False,
                                    "is_video": False, "emoji": "👍"}},
            "photo": {"photo": [{**file, "width": 90, "height": 90}]},
            "voice": {"voice": {**file, "duration": 3}},
            "document": {"document": {**file, "file_name": "a.pdf"}},
            "location": {"location": {"latitude": 29.82, "longitude": 106.43}},
            "contact": {"contact": {"phone_number": "+86 0", "first_name": "X"}},
        }[kind]
        message = self._new_message(chat or self.chats[user["id"]], user, **content)
        self.inject("message", message)
        return message

    def press(self, user: dict[str, Any], message: dict[str, Any], button: str) -> str:
        """The user presses the inline button whose text or callback data is `button`; returns the query id."""
        current = self.messages[(message["chat"]["id"], message["message_id"])]
        buttons = [b for row in (current.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]
        match = [b for b in buttons if button in (b.get("text"), b.get("callback_data"))]
        assert match, f"no button {button!r} on message {current.get('text', '')[:40]!r}: " \
                      f"{[(b.get('text'), b.get('callback_data')) for b in buttons]}"
        query_id = f"cq{next(self._query_ids)}"
        self.callback_queries[query_id] = {"answered": False, "user": user["id"]}
        self.inject("callback_query", {"id": query_id, "from": user, "message": current,
                                       "chat_instance": f"ci{current['chat']['id']}",
                                       "data": match[0]["callback_data"]})
        return query_id

    def inline(self, user: dict[str, Any], query: str) -> str:
        """The user types `@bot query` in some chat; returns the inline query id."""
        query_id = f"iq{next(self._query_ids)}"
        self.inline_queries[query_id] = {"answered": False, "results": None}
        self.inject("inline_query", {"id": query_id, "from": user, "query": query, "offset": "",
                                     "chat_type": "sender"})
        return query_id

    def restart_update_ids(self, start: int) -> None:
        """Start update ids afresh at `start`, as Telegram does after a week without updates."""
        self._update_ids = itertools.count(start)
        self.last_update_id = start - 1

    def fail(self, method: str, status: int = 500, retry_after: int | None = None, hang: bool = False,
             times: int = 1, description: str | None = None, drop: bool = False) -> None:
        """Make the next `times` calls of `method` fail (429 with retry_after, 500, ...), hang or drop."""
        self.faults.setdefault(method, []).append(Fault(status, retry_after, hang, drop, times, description))

    # ---- what tests read and wait on -------------------------------------------------------------------
    def mark(self) -> int:
        """A position in the call log; pass it as `since` to look only at later calls."""
        return len(self.calls)

    def find(self, method: str | None = None, since: int = 0, ok: bool | None = True,
             **params: Any) -> list[Call]:
        """Recorded calls of a method with these parameter values (chat_id compared as int)."""
        found = []
        for call in self.calls[since:]:
            if method and call.method != method:
                continue
            if ok is not None and call.ok != ok:
                continue
            if all((call.chat() if k == "chat_id" else call.params.get(k)) == v for k, v in params.items()):
                found.append(call)
        return found

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until predicate() is truthy (re-checked on every request); returns its value."""
        assert self._changed is not None
        async with asyncio.timeout(timeout):
            async with self._changed:
                while not (value := predicate()):
                    await self._changed.wait()
        return value

    async def wait_call(self, method: str, since: int = 0, count: int = 1, timeout: float = 10.0,
                        **params: Any) -> Call:
        """Wait for the count-th successful call of method with these parameters after `since`."""
        found = await self.wait_for(lambda: len(hits := self.find(method, since, **params)) >= count and hits,
                                    timeout)
        return found[count - 1]

    async def reply_to(self, message: dict[str, Any], since: int | None = None, timeout: float = 10.0) -> Call:
        """Wait for the bot's next sendMessage into the chat of `message`."""
        return await self.wait_call("sendMessage", since=self.mark() if since is None else since,
                                    chat_id=message["chat"]["id"], timeout=timeout)

    def sent_message(self, call: Call) -> dict[str, Any]:
        """The stored message a successful send call created (follows later edits)."""
        result = call.result
        return self.messages[(result["chat"]["id"], result["message_id"])]

    def client_errors(self, since: int = 0) -> list[Call]:
        """Every 4xx answer, except the faults a test scripted."""
        return [c for c in self.calls[since:] if 400 <= c.status < 500 and not c.params.get("_fault")]

    def unanswered_queries(self) -> list[str]:
        """Callback and inline query ids the bot never answered."""
        return [q for q, s in {**self.callback_queries, **self.inline_queries}.items() if not s["answered"]]

    # ---- HTTP ------------------------------------------------------------------------------------------
    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, bytes] = {}
        if request.content_type == "application/json":
            body = await request.json()
            params.update(body if isinstance(body, dict) else {})
        elif request.method == "POST" and request.content_type in ("multipart/form-data",
                                                                   "application/x-www-form-urlencoded"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = value.file.read()
                    params[key] = f"attach://{key}"
                    params[f"{key}_filename"] = value.filename
                else:
                    params[key] = value
        return params, files

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params, files = await self._params(request)
        call = Call(method, params, files=files)
        self.calls.append(call)
        await self._notify()
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            await self._maybe_fault(method, call, request)
            handler = getattr(self, f"_api_{method}", None)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            result = await handler(params, files)
        except ApiError as exc:
            call.status, call.description = exc.code, exc.description
            body: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
            if exc.retry_after is not None:
                body["parameters"] = {"retry_after": exc.retry_after}
            await self._notify()
            return web.json_response(body, status=exc.code)
        except asyncio.CancelledError:
            call.description = call.description or "client went away"
            self._notify_soon()
            raise
        call.status, call.result, call.answered_at = 200, result, time.monotonic()
        await self._notify()
        return web.json_response({"ok": True, "result": result})

    async def _maybe_fault(self, method: str, call: Call, request: web.Request) -> None:
        queue = self.faults.get(method)
        if not queue:
            return
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        call.params["_fault"] = True
        if fault.drop and request.transport is not None:
            call.description = "connection dropped"
            request.transport.abort()
            raise asyncio.CancelledError    # nothing more to answer on a dropped connection
        if fault.hang:
            assert self._closing is not None
            await self._closing.wait()
            raise ApiError(502, "Bad Gateway")
        description = fault.description or (f"Too Many Requests: retry after {fault.retry_after}"
                                             if fault.status == 429 else "Internal Server Error")
        raise ApiError(fault.status, description, fault.retry_after)

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            raise web.HTTPUnauthorized()
        return web.Response(body=b"file " + request.match_info["path"].encode())

    async def _notify(self) -> None:
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    def _notify_soon(self) -> None:
        with contextlib.suppress(RuntimeError):       # no running loop: nobody can be waiting
            task = asyncio.get_running_loop().create_task(self._notify())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # ---- validation helpers ----------------------------------------------------------------------------
    def _chat(self, params: dict[str, Any], key: str = "chat_id") -> dict[str, Any]:
        if params.get(key) in (None, ""):
            raise bad_request(f"{key} is empty")
        chat = self.chats.get(_chat_id(params[key]))  # type: ignore[arg-type]
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def _text(self, params: dict[str, Any], key: str = "text", limit: int = MAX_TEXT, required: bool = True) -> str:
        raw = params.get(key)
        if raw is None or raw == "":
            if required:
                raise bad_request(f"message {key} is empty")
            return ""
        mode = params.get("parse_mode")
        if mode not in (None, "", "HTML", "MarkdownV2", "Markdown"):
            raise bad_request(f"unsupported parse_mode {mode!r}")
        visible = parse_html(raw) if mode == "HTML" else raw
        if not visible.strip():
            raise bad_request(f"message {key} is empty")
        if utf16_len(visible) > limit:
            raise bad_request("message is too long" if key == "text" else f"{key} is too long")
        return visible

    def _markup(self, params: dict[str, Any]) -> dict[str, Any] | None:
        if params.get("reply_markup") in (None, ""):
            return None
        markup = _json_param(params["reply_markup"])
        if "inline_keyboard" not in markup:
            return markup
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or sum(len(r) for r in rows) > 100:
            raise bad_request("too many inline keyboard buttons")
        for row in rows:
            if len(row) > 8:
                raise bad_request("too many buttons in a row")
            for button in row:
                if not str(button.get("text", "")).strip():
                    raise bad_request("button text is empty")
                kinds = [k for k in ("callback_data", "url", "switch_inline_query", "switch_inline_query_current_chat",
                                     "web_app", "login_url", "pay", "copy_text") if k in button]
                if len(kinds) != 1:
                    raise bad_request("BUTTON_TYPE_INVALID")
                if "callback_data" in button:
                    size = len(str(button["callback_data"]).encode("utf-8"))
                    if not 1 <= size <= MAX_CALLBACK_DATA:
                        raise bad_request("BUTTON_DATA_INVALID")
                if "url" in button and not str(button["url"]).startswith(("http://", "https://", "tg://")):
                    raise bad_request("BUTTON_URL_INVALID")
        return markup

    def _reply_target(self, params: dict[str, Any], chat: dict[str, Any]) -> dict[str, Any] | None:
        reply = _json_param(params["reply_parameters"]) if params.get("reply_parameters") else None
        if reply is None and params.get("reply_to_message_id"):
            reply = {"message_id": int(params["reply_to_message_id"])}
        if reply is None:
            return None
        target = self.messages.get((chat["id"], int(reply["message_id"])))
        if target is None and not reply.get("allow_sending_without_reply"):
            raise bad_request("message to be replied not found")
        return _shallow(target) if target else None

    def _bot_message(self, chat: dict[str, Any], params: dict[str, Any], **content: Any) -> dict[str, Any]:
        markup = self._markup(params)
        if markup is not None:
            content["reply_markup"] = markup
        target = self._reply_target(params, chat)
        if target is not None:
            content["reply_to_message"] = target
        return self._new_message(chat, self.me, **content)

    def _editable(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("inline_message_id"):
            raise bad_request("inline messages are not supported by this fake")
        chat = self._chat(params)
        message = self.messages.get((chat["id"], int(params.get("message_id") or 0)))
        if message is None:
            raise bad_request("message to edit not found")
        if message["from"]["id"] != self.me["id"]:
            raise bad_request("message can't be edited")
        return message

    # ---- methods ---------------------------------------------------------------------------------------
    async def _api_getMe(self, params: dict, files: dict) -> Any:
        return self.me

    async def _api_logOut(self, params: dict, files: dict) -> Any:
        return True

    async def _api_close(self, params: dict, files: dict) -> Any:
        return True

    async def _api_getUpdates(self, params: dict, files: dict) -> Any:
        if self.webhook.get("url"):
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = float(params.get("timeout") or 0)
        if params.get("allowed_updates") not in (None, ""):
            self.allowed_updates = list(_json_param(params["allowed_updates"])) or None
        self._confirm(offset)
        assert self._changed is not None and self._closing is not None
        deadline = asyncio.get_running_loop().time() + timeout
        async with self._changed:
            while not self._pending() and not self._closing.is_set():
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), left)
        batch = self._pending()[:limit]
        self.delivered.extend(u["update_id"] for u in batch)
        return batch

    def _confirm(self, offset: int) -> None:
        # An offset past every update issued names none and is ignored: after Telegram starts its ids afresh
        # (a week without updates), a bot still asking with its old offset gets the new, lower ids.
        if 0 < offset <= self.last_update_id + 1:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]

    def _pending(self) -> list[dict[str, Any]]:
        allowed = set(self.allowed_updates or UPDATE_TYPES) - ({"chat_member"} if not self.allowed_updates else set())
        kept = [u for u in self.updates if next(k for k in u if k != "update_id") in allowed]
        self.updates = kept          # Telegram never delivers updates of types the bot did not allow
        return kept

    async def _api_setWebhook(self, params: dict, files: dict) -> Any:
        url = str(params.get("url") or "")
        if url:
            parts = urlsplit(url)
            local_http = parts.scheme == "http" and parts.hostname == "127.0.0.1"   # stands in for HTTPS
            if parts.scheme != "https" and not local_http:
                raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise bad_request("secret token contains unallowed characters")
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self.updates.clear()
        if params.get("allowed_updates") not in (None, ""):
            self.allowed_updates = list(_json_param(params["allowed_updates"])) or None
        self.webhook = {"url": url, "secret_token": secret} if url else {}
        await self._notify()
        return True

    async def _api_deleteWebhook(self, params: dict, files: dict) -> Any:
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self.updates.clear()
        self.webhook = {}
        return True

    async def _api_getWebhookInfo(self, params: dict, files: dict) -> Any:
        return {"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self.updates)}

    async def _api_setMyCommands(self, params: dict, files: dict) -> Any:
        commands = _json_param(params.get("commands") or "[]")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("commands must be a list of at most 100 commands")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        language = str(params.get("language_code") or "")
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise bad_request("LANG_CODE_INVALID")
        scope = json.dumps(_json_param(params.get("scope") or '{"type": "default"}'), sort_keys=True)
        self.commands[(scope, language)] = commands
        return True

    async def _api_getMyCommands(self, params: dict, files: dict) -> Any:
        scope = json.dumps(_json_param(params.get("scope") or '{"type": "default"}'), sort_keys=True)
        return self.commands.get((scope, str(params.get("language_code") or "")), [])

    async def _api_sendMessage(self, params: dict, files: dict) -> Any:
        chat = self._chat(params)
        text = self._text(params)
        return self._bot_message(chat, params, text=text)

    async def _api_sendChatAction(self, params: dict, files: dict) -> Any:
        self._chat(params)
        return True

    async def _api_editMessageText(self, params: dict, files: dict) -> Any:
        message = self._editable(params)
        text = self._text(params)
        markup = self._markup(params)
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        if text == message["text"] and markup == message.get("reply_markup"):
            raise bad_request("message is not modified: specified new message content and reply markup are "
                              "exactly the same as a current content and reply markup of the message")
        message["text"] = text
        message.pop("reply_markup", None)
        if markup is not None:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        return message

    async def _api_editMessageReplyMarkup(self, params: dict, files: dict) -> Any:
        message = self._editable(params)
        markup = self._markup(params)
        if markup == message.get("reply_markup") or (markup in (None, {"inline_keyboard": []})
                                                     and not message.get("reply_markup")):
            raise bad_request("message is not modified: specified new message content and reply markup are "
                              "exactly the same as a current content and reply markup of the message")
        message.pop("reply_markup", None)
        if markup and markup.get("inline_keyboard"):
            message["reply_markup"] = markup
        return message

    async def _api_deleteMessage(self, params: dict, files: dict) -> Any:
        chat = self._chat(params)
        if self.messages.pop((chat["id"], int(params.get("message_id") or 0)), None) is None:
            raise bad_request("message to delete not found")
        return True

    async def _api_sendDocument(self, params: dict, files: dict) -> Any:
        chat = self._chat(params)
        if "document" not in files and not params.get("document"):
            raise bad_request("there is no document in the request")
        caption = self._text(params, "caption", MAX_CAPTION, required=False)
        name = params.get("document_filename") or "document"
        content: dict[str, Any] = {"document": {"file_id": f"doc{len(self.calls)}", "file_unique_id": "d",
                                                "file_name": name, "file_size": len(files.get("document", b""))}}
        if caption:
            content["caption"] = caption
        return self._bot_message(chat, params, **content)

    async def _api_forwardMessage(self, params: dict, files: dict) -> Any:
        chat = self._chat(params)
        source = self._chat(params, "from_chat_id")
        original = self.messages.get((source["id"], int(params.get("message_id") or 0)))
        if original is None:
            raise bad_request("message to forward not found")
        content = {k: v for k, v in original.items() if k not in ("message_id", "date", "chat", "from")}
        return self._new_message(chat, self.me, forward_origin={"type": "user", "date": original["date"],
                                                                 "sender_user": original["from"]}, **content)

    async def _api_copyMessage(self, params: dict, files: dict) -> Any:
        chat = self._chat(params)
        source = self._chat(params, "from_chat_id")
        original = self.messages.get((source["id"], int(params.get("message_id") or 0)))
        if original is None:
            raise bad_request("message to copy not found")
        content = {k: v for k, v in original.items() if k not in ("message_id", "date", "chat", "from")}
        return {"message_id": self._new_message(chat, self.me, **content)["message_id"]}

    async def _api_answerCallbackQuery(self, params: dict, files: dict) -> Any:
        query = self.callback_queries.get(str(params.get("callback_query_id")))
        if query is None or query["answered"]:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        if len(str(params.get("text") or "")) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        query["answered"] = True
        query["text"] = params.get("text")
        return True

    async def _api_answerInlineQuery(self, params: dict, files: dict) -> Any:
        query = self.inline_queries.get(str(params.get("inline_query_id")))
        if query is None or query["answered"]:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        results = _json_param(params.get("results") or "[]")
        if len(results) > 50:
            raise bad_request("RESULTS_TOO_MUCH")
        ids = [str(r.get("id", "")) for r in results]
        if len(set(ids)) != len(ids) or not all(1 <= len(i.encode()) <= 64 for i in ids):
            raise bad_request("RESULT_ID_INVALID")
        for result in results:
            if result.get("type") == "article" and not str(result.get("title", "")).strip():
                raise bad_request("RESULT_TITLE_EMPTY")
            content = result.get("input_message_content") or {}
            self._text({"text": content.get("message_text"), "parse_mode": content.get("parse_mode")})
            if result.get("reply_markup"):
                self._markup({"reply_markup": result["reply_markup"]})
        query.update(answered=True, results=results, cache_time=params.get("cache_time"))
        return True

    async def _api_getFile(self, params: dict, files: dict) -> Any:
        file_id = str(params.get("file_id") or "")
        if not file_id:
            raise bad_request("file_id is empty")
        return {"file_id": file_id, "file_unique_id": "u", "file_size": 5, "file_path": f"files/{file_id}"}

    # ---- webhook delivery ------------------------------------------------------------------------------
    async def _deliver_webhooks(self) -> None:
        assert self._changed is not None and self._session is not None
        while True:
            async with self._changed:
                await self._changed.wait_for(lambda: bool(self.webhook.get("url") and self._pending()))
            update = self._pending()[0]
            headers = {}
            if self.webhook.get("secret_token"):
                headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
            try:
                async with self._session.post(self.webhook["url"], json=update, headers=headers,
                                              timeout=aiohttp.ClientTimeout(total=10)) as response:
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            self.webhook_deliveries.append((update["update_id"], status))
            if status == 200:
                self.delivered.append(update["update_id"])
                self.updates = [u for u in self.updates if u["update_id"] != update["update_id"]]
            else:       # Telegram retries later; a short pause keeps the test's log small
                await asyncio.sleep(0.2)
            await self._notify()


def _shallow(message: dict[str, Any]) -> dict[str, Any]:
    """A message as it appears inside another (Telegram nests reply_to_message only one level)."""
    return {k: v for k, v in message.items() if k != "reply_to_message"}
