"""The WeChat Official Account API: the access token (cached, refreshed before expiry, one refresh at a time),
customer-service text messages and the custom menu."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from bot.channels.wechat.render import MAX_BYTES
from bot.core.render_text import split_text
from bot.errors import VocbotError
from bot.log.addresses import REPLY_TO
from bot.log.sealing import Sealer

log = logging.getLogger(__name__)

TIMEOUT = 10.0                 # seconds for one API call
REFRESH_MARGIN = 300.0         # refresh the token this long before WeChat says it expires
TOKEN_ERRORS = {40001, 40014, 42001}   # invalid or expired access token: refresh once and retry
SEALED_PURPOSES = (REPLY_TO, "notify")   # handoff reply addresses, opt-in notices


class WeChatApiError(VocbotError):
    """An API call that failed: WeChat's error code and message, or the network."""

    def __init__(self, sentence: str, errcode: int | None = None) -> None:
        super().__init__(sentence)
        self.errcode = errcode


class WeChatApi:
    """An async client of one account's API root (WECHAT_API_URL), opened and closed with the app."""

    def __init__(self, api_url: str, app_id: str, app_secret: str, sealer: Sealer | None = None,
                 clock: Callable[[], float] = time.monotonic, timeout: float = TIMEOUT) -> None:
        self.api_url, self.app_id, self._secret = api_url.rstrip("/"), app_id, app_secret
        self.sealer = sealer
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()
        self.refreshes = 0

    async def __aenter__(self) -> WeChatApi:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Open the HTTP session."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ---- the access token ---------------------------------------------------------------------------
    async def token(self, stale: str | None = None) -> str:
        """A valid access token; one refresh at a time, however many callers wait for it.

        `stale` is a token the API just refused: it is replaced unless another caller replaced it already.
        """
        if self._token and self._token != stale and self._clock() < self._expires:
            return self._token
        async with self._lock:
            if self._token and self._token != stale and self._clock() < self._expires:
                return self._token
            data = await self._request("GET", "/cgi-bin/token", params={
                "grant_type": "client_credential", "appid": self.app_id, "secret": self._secret})
            token, expires_in = data.get("access_token"), data.get("expires_in")
            if not isinstance(token, str) or not token or not isinstance(expires_in, int):
                raise WeChatApiError("WeChat answered the token request without a token.")
            self._token = token
            self._expires = self._clock() + max(expires_in - REFRESH_MARGIN, expires_in / 2)
            self.refreshes += 1
            log.info("wechat: new access token, valid for %ds", expires_in)
            return token

    async def call(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST a JSON API call with the access token; an expired token is refreshed once and the call retried."""
        token = await self.token()
        try:
            return await self._request("POST", path, params={"access_token": token}, payload=payload)
        except WeChatApiError as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
            log.info("wechat: the access token was refused (%s); refreshing", exc.errcode)
        token = await self.token(stale=token)
        return await self._request("POST", path, params={"access_token": token}, payload=payload)

    # ---- messages and menu --------------------------------------------------------------------------
    async def send_text(self, to: str, text: str) -> int:
        """Send text to a user (an openid, or one sealed for a handoff or notice) as customer-service
        messages, cut into parts WeChat accepts; returns how many were sent."""
        openid = self.address(to)
        parts = split_text(text, MAX_BYTES)
        for part in parts:
            await self.call("/cgi-bin/message/custom/send",
                            {"touser": openid, "msgtype": "text", "text": {"content": part}})
        return len(parts)

    async def send_parts(self, openid: str, parts: list[str]) -> None:
        """Send already-cut parts in order, stopping at the first failure (logged)."""
        for n, part in enumerate(parts, 1):
            try:
                await self.call("/cgi-bin/message/custom/send",
                                {"touser": openid, "msgtype": "text", "text": {"content": part}})
            except WeChatApiError as exc:
                log.error("wechat: part %d of %d not sent: %s", n, len(parts), exc)
                return

    async def create_menu(self, menu: dict[str, Any]) -> None:
        """Replace the account's custom menu."""
        await self.call("/cgi-bin/menu/create", menu)

    def address(self, to: str) -> str:
        """The openid behind a reply address, opening it when it is sealed."""
        if not Sealer.is_sealed(to):
            return to
        if self.sealer is None:
            raise WeChatApiError("A sealed reply address needs the store's key to open.")
        error: Exception | None = None
        for purpose in SEALED_PURPOSES:
            try:
                return self.sealer.open(to, purpose)
            except VocbotError as exc:
                error = exc
        raise WeChatApiError(str(error))

    # ---- HTTP ---------------------------------------------------------------------------------------
    async def _request(self, method: str, path: str, params: dict[str, str],
                       payload: dict[str, Any] | None = None) -> dict[str, Any]:
        if self._session is None:
            await self.start()
        assert self._session is not None  # noqa: S101 - start() just opened it
        body = None if payload is None else json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"} if body is not None else None
        try:
            async with self._session.request(method, self.api_url + path, params=params, data=body,
                                             headers=headers) as response:
                raw = await response.read()
                status = response.status
        except TimeoutError:
            raise WeChatApiError(f"WeChat did not answer {path} within {self._timeout.total:.0f}s.") from None
        except aiohttp.ClientError as exc:
            raise WeChatApiError(f"Cannot reach WeChat for {path}: {exc}.") from None
        try:
            data = json.loads(raw)
        except ValueError:
            raise WeChatApiError(f"WeChat answered {path} with HTTP {status} and no JSON.") from None
        if not isinstance(data, dict):
            raise WeChatApiError(f"WeChat answered {path} with unexpected JSON.")
        errcode = data.get("errcode", 0)
        if errcode:
            raise WeChatApiError(f"WeChat refused {path}: {errcode} {data.get('errmsg', '')}".strip(),
                                 errcode if isinstance(errcode, int) else None)
        return data
