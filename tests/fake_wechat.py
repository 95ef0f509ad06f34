"""A strict fake WeChat platform on 127.0.0.1, for end-to-end tests of the /wechat channel.

Two sides, as on the real platform:

- **Pushing messages** to the bot's /wechat URL (`FakeWeChat.deliver`): it builds the XML WeChat sends
  (text, voice with `Recognition`, events, images), signs the URL (sha1 of the sorted token, timestamp and
  nonce) and, in safe mode, encrypts the message (AES-256-CBC, key = base64(EncodingAESKey + "="), IV = the
  key's first 16 bytes, plaintext = 16 random bytes + 4-byte big-endian length + XML + AppID, PKCS#7 padded
  to 32 bytes) and signs it (`msg_signature`). This is written here with `cryptography` alone, not with the
  bot's code or wechatpy. It waits 5 seconds for a passive reply and, like WeChat, retries a message it got
  no answer to three times; it decrypts and checks every reply (addressed back to the sender, from the
  account, `MsgType` text, `Content` of at most 2,048 bytes, or `success`).
- **The API** (`/cgi-bin/token`, `/cgi-bin/message/custom/send`, `/cgi-bin/menu/create`): it issues access
  tokens that expire, refuses expired or unknown ones (42001, 40001), checks every call's shape and limits
  (JSON in UTF-8, text of 1-2,048 bytes, at most 20 customer-service messages per user since the user last
  wrote, menus of 1-3 buttons of at most 5 items with names and keys within their byte limits) and can
  make a call hang (timeouts) or expire every token at once.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import os
import secrets
import struct
import time
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

import aiohttp
import defusedxml.ElementTree as SafeET
from aiohttp import web
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

TOKEN = "t0ken"
APP_ID = "wx1234567890abcdef"
APP_SECRET = "s3cret-of-the-test-account"
ACCOUNT = "gh_0123456789ab"
AES_KEY = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode().rstrip("=")   # 43 characters
MAX_CONTENT = 2048
MAX_CS_PER_USER = 20
REPLY_WAIT = 5.0
RETRIES = 3


def sign(*values: str) -> str:
    """WeChat's signature: sha1 of the sorted values concatenated."""
    return hashlib.sha1("".join(sorted(values)).encode("utf-8")).hexdigest()  # noqa: S324 - WeChat's protocol


def _cipher(aes_key: str) -> Cipher:
    key = base64.b64decode(aes_key + "=")
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def encrypt(xml: str, aes_key: str = AES_KEY, app_id: str = APP_ID) -> str:
    """A message encrypted as WeChat's safe mode does."""
    body = xml.encode("utf-8")
    plain = os.urandom(16) + struct.pack(">I", len(body)) + body + app_id.encode("utf-8")
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    encryptor = _cipher(aes_key).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")


def decrypt(encrypted: str, aes_key: str = AES_KEY, app_id: str = APP_ID) -> str:
    """The XML inside a safe-mode envelope; AssertionError when its padding or AppID is wrong."""
    decryptor = _cipher(aes_key).decryptor()
    plain = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
    pad = plain[-1]
    assert 1 <= pad <= 32 and plain[-pad:] == bytes([pad]) * pad, "bad PKCS#7 padding"
    plain = plain[16:-pad]
    (length,) = struct.unpack(">I", plain[:4])
    assert plain[4 + length:].decode() == app_id, "the reply is encrypted for another AppID"
    return plain[4:4 + length].decode("utf-8")


def message_xml(fields: dict[str, Any]) -> str:
    """An XML message as WeChat writes it: strings in CDATA, numbers bare."""
    nodes = []
    for name, value in fields.items():
        text = str(value) if isinstance(value, int) else f"<![CDATA[{value}]]>"
        nodes.append(f"<{name}>{text}</{name}>")
    return "<xml>" + "".join(nodes) + "</xml>"


@dataclass
class Delivery:
    """What happened to one pushed message: every attempt's status and the reply the platform accepted."""

    attempts: list[int] = field(default_factory=list)     # HTTP status per attempt (0: no answer in time)
    reply: dict[str, str] | None = None                   # the decrypted, parsed passive reply
    raw: str = ""
    seconds: float = 0.0                                  # time to the accepted answer


class FakeWeChat:
    """The platform: pushes messages to the bot and serves the API on 127.0.0.1."""

    def __init__(self, token: str = TOKEN, aes_key: str | None = None, app_id: str = APP_ID,
                 token_ttl: int = 7200, reply_wait: float = REPLY_WAIT) -> None:
        self.token, self.aes_key, self.app_id = token, aes_key, app_id
        self.token_ttl, self.reply_wait = token_ttl, reply_wait
        self.bot_url = ""
        self.url = ""
        self.tokens: dict[str, float] = {}        # access token -> expiry (time.time())
        self.token_requests = 0
        self.token_in_flight = 0
        self.max_token_in_flight = 0
        self.sent: list[dict[str, Any]] = []      # accepted customer-service messages
        self.menus: list[dict[str, Any]] = []
        self.errors: list[str] = []               # every refused call, with the reason
        self.hang: set[str] = set()               # API paths that never answer (the client times out)
        self.token_delay = 0.0
        self._msg_ids = itertools.count(24_000_000_000_000_000)
        self._cs_count: dict[str, int] = {}
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    # ---- lifecycle ----------------------------------------------------------------------------------
    async def __aenter__(self) -> FakeWeChat:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._custom_send)
        app.router.add_post("/cgi-bin/menu/create", self._menu_create)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- messages to the bot ------------------------------------------------------------------------
    def text(self, openid: str, content: str, msg_id: int | None = None) -> dict[str, Any]:
        """A text message's fields."""
        return self._message(openid, "text", Content=content, MsgId=msg_id or next(self._msg_ids))

    def voice(self, openid: str, recognition: str) -> dict[str, Any]:
        """A voice message with WeChat's speech recognition result."""
        return self._message(openid, "voice", MediaId="media-" + secrets.token_hex(8), Format="amr",
                             Recognition=recognition, MsgId=next(self._msg_ids))

    def image(self, openid: str) -> dict[str, Any]:
        """An image message."""
        return self._message(openid, "image", PicUrl="http://mmbiz.qpic.cn/x.jpg", MediaId="m1",
                             MsgId=next(self._msg_ids))

    def event(self, openid: str, event: str, key: str | None = None) -> dict[str, Any]:
        """An event (subscribe, click ...), which has no MsgId."""
        extra = {"EventKey": key} if key is not None else {}
        return self._message(openid, "event", Event=event, **extra)

    def _message(self, openid: str, kind: str, **fields: Any) -> dict[str, Any]:
        self._cs_count[openid] = 0      # the user wrote: the customer-service allowance starts again
        return {"ToUserName": ACCOUNT, "FromUserName": openid, "CreateTime": int(time.time()), "MsgType": kind,
                **fields}

    def signed_query(self, body_encrypt: str | None = None, timestamp: int | None = None,
                     nonce: str | None = None, openid: str = "") -> dict[str, str]:
        """The query string WeChat adds to the bot's URL."""
        ts, nonce = str(timestamp or int(time.time())), nonce or secrets.token_hex(5)
        query = {"signature": sign(self.token, ts, nonce), "timestamp": ts, "nonce": nonce}
        if openid:
            query["openid"] = openid
        if body_encrypt is not None:
            query.update(encrypt_type="aes", msg_signature=sign(self.token, ts, nonce, body_encrypt))
        return query

    def envelope(self, fields: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """The body and query of one delivery, encrypted in safe mode."""
        xml = message_xml(fields)
        if self.aes_key is None:
            return xml.encode("utf-8"), self.signed_query(openid=fields["FromUserName"])
        encrypted = encrypt(xml, self.aes_key, self.app_id)
        body = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        return body.encode("utf-8"), self.signed_query(encrypted, openid=fields["FromUserName"])

    async def post(self, body: bytes, query: dict[str, str], timeout: float | None = None) -> tuple[int, str]:
        """One POST to the bot's /wechat; status 0 when no answer came in time."""
        assert self._session is not None
        try:
            async with self._session.post(self.bot_url, params=query, data=body,
                                          timeout=aiohttp.ClientTimeout(total=timeout or self.reply_wait)) as resp:
                return resp.status, await resp.text()
        except TimeoutError:
            return 0, ""

    async def deliver(self, fields: dict[str, Any], duplicates: int = 0) -> Delivery:
        """Push a message as WeChat does: retry (up to three times) while no answer comes within 5 seconds.

        `duplicates` extra copies are sent at once, as when WeChat's retry crosses a slow first answer.
        """
        delivery = Delivery()
        started = time.perf_counter()
        for _attempt in range(1 + RETRIES):
            body, query = self.envelope(fields)
            results = await asyncio.gather(*(self.post(body, query) for _ in range(1 + duplicates)))
            duplicates = 0
            delivery.attempts.extend(status for status, _ in results)
            answered = [(status, text) for status, text in results if status]
            if answered:
                status, text = answered[0]
                delivery.seconds = time.perf_counter() - started
                if status == 200:
                    delivery.raw = text
                    delivery.reply = self.check_reply(text, fields)
                    others = [self.check_reply(t, fields) for s, t in answered[1:]]
                    assert all(o == delivery.reply or (o and delivery.reply and o["Content"] ==
                               delivery.reply["Content"]) for o in others), "deliveries answered differently"
                return delivery
        return delivery

    def check_reply(self, text: str, fields: dict[str, Any]) -> dict[str, str] | None:
        """The passive reply as WeChat reads it (None for "success"); AssertionError when it is not valid."""
        if text in ("", "success"):
            return None
        root = SafeET.fromstring(text.encode("utf-8"))
        if self.aes_key is not None:
            parts = {child.tag: child.text or "" for child in root}
            assert parts.keys() >= {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}, parts.keys()
            assert parts["MsgSignature"] == sign(self.token, parts["TimeStamp"], parts["Nonce"], parts["Encrypt"])
            root = SafeET.fromstring(decrypt(parts["Encrypt"], self.aes_key, self.app_id).encode("utf-8"))
        reply = {child.tag: child.text or "" for child in root}
        assert reply.get("ToUserName") == fields["FromUserName"], "a reply goes back to the sender"
        assert reply.get("FromUserName") == fields["ToUserName"], "a reply comes from the account"
        assert reply.get("MsgType") == "text"
        assert reply.get("CreateTime", "").isdigit()
        assert 0 < len(reply["Content"].encode("utf-8")) <= MAX_CONTENT, len(reply["Content"].encode("utf-8"))
        return reply

    # ---- the API ------------------------------------------------------------------------------------
    def expire_tokens(self) -> None:
        """Every access token issued so far stops working (as when it expires or another server refreshes)."""
        self.tokens = {token: 0.0 for token in self.tokens}

    def _refuse(self, errcode: int, errmsg: str) -> web.Response:
        self.errors.append(f"{errcode} {errmsg}")
        return web.json_response({"errcode": errcode, "errmsg": errmsg})

    async def _maybe_hang(self, request: web.Request) -> None:
        if request.path in self.hang:
            await asyncio.sleep(3600)

    async def _token(self, request: web.Request) -> web.Response:
        await self._maybe_hang(request)
        self.token_requests += 1
        self.token_in_flight += 1
        self.max_token_in_flight = max(self.max_token_in_flight, self.token_in_flight)
        try:
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
            q = request.query
            if q.get("grant_type") != "client_credential":
                return self._refuse(40002, "invalid grant_type")
            if q.get("appid") != self.app_id:
                return self._refuse(40013, "invalid appid")
            if q.get("secret") != APP_SECRET:
                return self._refuse(40001, "invalid credential, access_token is invalid or not latest")
            token = secrets.token_urlsafe(48)
            self.tokens[token] = time.time() + self.token_ttl
            return web.json_response({"access_token": token, "expires_in": self.token_ttl})
        finally:
            self.token_in_flight -= 1

    async def _json(self, request: web.Request) -> tuple[dict[str, Any] | None, web.Response | None]:
        """The JSON body of an API call after the token check; or the error answer."""
        await self._maybe_hang(request)
        token = request.query.get("access_token", "")
        if token not in self.tokens:
            return None, self._refuse(40001, "invalid credential, access_token is invalid or not latest")
        if self.tokens[token] < time.time():
            return None, self._refuse(42001, "access_token expired")
        raw = await request.read()
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None, self._refuse(47001, "data format error")
        if "\\u" in raw.decode("utf-8"):
            # WeChat shows \\uXXXX escapes literally in menus and messages: Chinese must be sent as UTF-8.
            return None, self._refuse(47001, "data format error: send UTF-8, not \\u escapes")
        if not isinstance(data, dict):
            return None, self._refuse(47001, "data format error")
        return data, None

    async def _custom_send(self, request: web.Request) -> web.Response:
        data, error = await self._json(request)
        if error is not None:
            return error
        assert data is not None
        touser, content = data.get("touser"), (data.get("text") or {}).get("content")
        if not isinstance(touser, str) or not touser:
            return self._refuse(40003, "invalid openid")
        if data.get("msgtype") != "text" or set(data) - {"touser", "msgtype", "text", "customservice"}:
            return self._refuse(40008, "invalid message type")
        if not isinstance(content, str) or not 0 < len(content.encode("utf-8")) <= MAX_CONTENT:
            return self._refuse(45002, "content size out of limit")
        if self._cs_count.get(touser, 0) >= MAX_CS_PER_USER:
            return self._refuse(45047, "out of response count limit")
        self._cs_count[touser] = self._cs_count.get(touser, 0) + 1
        self.sent.append({"touser": touser, "content": content})
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _menu_create(self, request: web.Request) -> web.Response:
        data, error = await self._json(request)
        if error is not None:
            return error
        assert data is not None
        buttons = data.get("button")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            return self._refuse(40016, "invalid button size")
        for button in buttons:
            if not 0 < len(str(button.get("name", "")).encode()) <= 16:
                return self._refuse(40018, "invalid button name size")
            subs = button.get("sub_button")
            if subs is None:
                problem = _item_problem(button, 16)
                if problem:
                    return self._refuse(*problem)
                continue
            if not isinstance(subs, list) or not 1 <= len(subs) <= 5:
                return self._refuse(40023, "invalid sub button size")
            for sub in subs:
                problem = _item_problem(sub, 60)
                if problem:
                    return self._refuse(*problem)
        self.menus.append(data)
        return web.json_response({"errcode": 0, "errmsg": "ok"})


def _item_problem(item: dict[str, Any], name_limit: int) -> tuple[int, str] | None:
    if not 0 < len(str(item.get("name", "")).encode()) <= name_limit:
        return 40025, "invalid sub button name size"
    if item.get("type") not in ("click", "view", "miniprogram"):
        return 40017, "invalid button type"
    if item["type"] == "click" and not 0 < len(str(item.get("key", "")).encode()) <= 128:
        return 40019, "invalid button key size"
    return None


def billion_laughs() -> bytes:
    """The classic entity-expansion bomb, wrapped as a WeChat message."""
    lol = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    return (f'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY lol0 "lol">{lol}]>'
            "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>"
            "<MsgType>text</MsgType><Content>&lol9;</Content><MsgId>1</MsgId></xml>").encode()


def external_entity() -> bytes:
    """An external entity that would read a local file."""
    return (b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            b"<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>"
            b"<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>2</MsgId></xml>")


def oversized(size: int = 1024 * 1024) -> bytes:
    """A well-formed message of `size` bytes."""
    head = "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>" \
           "<MsgType>text</MsgType><Content>"
    tail = "</Content><MsgId>3</MsgId></xml>"
    return (head + escape("a" * (size - len(head) - len(tail))) + tail).encode()
