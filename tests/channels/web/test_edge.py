"""Issue 12 row 8: trusted proxies, the Host allow-list, Secure cookies and HSTS behind TLS, no versions."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.channels.web import chat as web
from bot.channels.web import edge
from bot.config import Settings
from bot.core.engine import Engine
from bot.errors import ConfigError
from bot.log.store import Store
from bot.service import Service
from bot.staff import app as staff

PASSWORD = "correct horse battery staple"


@contextlib.asynccontextmanager
async def serving(settings: Settings, engine: Engine) -> AsyncIterator[TestClient]:
    """The web app with the dashboard, as `vocbot serve` builds it, on 127.0.0.1."""
    service = Service(settings, engine, Store(settings))
    app = web.create_app(service)
    app.add_subapp("/staff", staff.create_staff_app(service))
    async with TestClient(TestServer(app)) as client:
        yield client


async def sign_in_cookie(client: TestClient, headers: dict[str, str]) -> str:
    """The Set-Cookie header of the sign-in form."""
    response = await client.get("/staff/login", headers=headers)
    assert response.status == 200
    return response.headers["Set-Cookie"]


@pytest.fixture
def staffed(settings: Settings) -> Settings:
    return dataclasses.replace(settings, staff_password=PASSWORD)


# ---- forwarded headers -------------------------------------------------------------------------------
async def test_forwarded_headers_are_ignored_without_a_trusted_proxy(staffed: Settings, engine: Engine) -> None:
    """The review's case: X-Forwarded-Proto: https was ignored, and it must stay ignored from anyone."""
    limited = dataclasses.replace(staffed, address_rate_per_minute=2)
    async with serving(limited, engine) as c:
        tls = {"X-Forwarded-Proto": "https"}
        assert "Secure" not in await sign_in_cookie(c, tls)
        assert "Strict-Transport-Security" not in (await c.get("/healthz", headers=tls)).headers
        statuses = [(await c.post("/api/chat", json={"text": "hi"},
                                  headers={"X-Forwarded-For": f"203.0.113.{n}"})).status for n in range(3)]
        assert statuses == [200, 200, 429]                  # a made-up client address is not a new budget


async def test_behind_a_trusted_proxy_cookies_are_secure_and_limits_use_the_client(staffed: Settings,
                                                                                    engine: Engine) -> None:
    behind = dataclasses.replace(staffed, trusted_proxies=("127.0.0.1",), address_rate_per_minute=2)
    async with serving(behind, engine) as c:
        tls = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
        cookie = await sign_in_cookie(c, tls)
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert "Secure" not in await sign_in_cookie(c, {"X-Forwarded-Proto": "http"})
        response = await c.get("/healthz", headers=tls)
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert "Strict-Transport-Security" not in (await c.get("/healthz")).headers

        async def chat(client_address: str) -> int:
            # A spoofed hop in front of the client is skipped: the proxy appends the address it saw.
            headers = {"X-Forwarded-For": f"10.9.9.9, {client_address}"}
            return (await c.post("/api/chat", json={"text": "hi"}, headers=headers)).status

        assert [await chat("198.51.100.1") for _ in range(3)] == [200, 200, 429]
        assert await chat("198.51.100.2") == 200            # another client behind the same proxy


@pytest.mark.parametrize(("remote", "forwarded", "trusted", "expected"), [
    ("127.0.0.1", "1.2.3.4", (), "127.0.0.1"),
    ("127.0.0.1", "1.2.3.4", ("127.0.0.1",), "1.2.3.4"),
    ("127.0.0.1", "1.2.3.4, 10.0.0.5", ("127.0.0.1", "10.0.0.0/8"), "1.2.3.4"),
    ("192.0.2.9", "1.2.3.4", ("127.0.0.1",), "192.0.2.9"),
    ("127.0.0.1", "not-an-address", ("127.0.0.1",), "not-an-address"),
])
def test_the_client_is_the_last_untrusted_hop(remote: str, forwarded: str, trusted: tuple[str, ...],
                                              expected: str) -> None:
    from aiohttp.test_utils import make_mocked_request

    request = make_mocked_request("GET", "/", headers={"X-Forwarded-For": forwarded})
    request = request.clone(remote=remote)
    assert edge.client_of(request, edge.networks(trusted))[0] == expected


def test_a_bad_trusted_proxy_is_refused_at_start_up() -> None:
    with pytest.raises(ConfigError, match="VOCBOT_TRUSTED_PROXY must be comma-separated IP addresses"):
        Settings.from_env({"VOCBOT_TRUSTED_PROXY": "127.0.0.1, proxy.local"})


# ---- Host allow-list ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("host", "status"), [
    ("evil.example", 400), ("127.0.0.1.nip.io:8080", 400), ("attacker.test:80", 400),
    ("127.0.0.1", 200), ("localhost:8080", 200), ("LOCALHOST", 200), ("[::1]:8080", 200),
])
async def test_other_host_headers_get_400(settings: Settings, engine: Engine, host: str, status: int) -> None:
    """The review's case: a DNS-rebinding page reached 127.0.0.1 under its own host name."""
    async with serving(settings, engine) as c:
        response = await c.get("/healthz", headers={"Host": host})
        assert response.status == status
        if status == 400:
            assert "VOCBOT_ALLOWED_HOSTS" in await response.text()


async def test_allowed_hosts_replace_the_default(settings: Settings, engine: Engine) -> None:
    listed = Settings.from_env({"VOCBOT_ALLOWED_HOSTS": "bot.example.org, Chat.Example.org"})
    configured = dataclasses.replace(settings, allowed_hosts=listed.allowed_hosts)
    async with serving(configured, engine) as c:
        assert (await c.get("/healthz", headers={"Host": "chat.example.org"})).status == 200
        assert (await c.get("/healthz", headers={"Host": "bot.example.org:443"})).status == 200
        assert (await c.get("/healthz", headers={"Host": "127.0.0.1"})).status == 400


def test_the_default_list_has_loopback_the_bound_host_and_the_webhook_host(settings: Settings) -> None:
    bound = dataclasses.replace(settings, host="10.1.2.3", webhook_url="https://bot.example.org/telegram/webhook",
                                webhook_secret="s")
    assert edge.allowed_hosts(bound) == {"127.0.0.1", "localhost", "[::1]", "10.1.2.3", "bot.example.org"}
    wildcard = edge.allowed_hosts(dataclasses.replace(settings, host="0.0.0.0"))  # noqa: S104 - a setting only
    assert wildcard is not None and {"127.0.0.1", "localhost", "[::1]"} <= wildcard


# ---- headers -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/healthz", "/api/menu", "/static/app.js", "/no/such/page", "/staff/login"])
async def test_the_server_header_has_no_versions(staffed: Settings, engine: Engine, path: str) -> None:
    async with serving(staffed, engine) as c:
        response = await c.get(path)
        assert response.headers["Server"] == "vocbot"
        assert not re.search(r"\d", response.headers["Server"])


@pytest.mark.slow
def test_serve_on_every_interface_still_answers_on_loopback(tmp_path: Path) -> None:
    env = {**os.environ, "VOCBOT_DB": str(tmp_path / "e.db"), "VOCBOT_HASH_KEY": "k"}
    env.pop("VOCBOT_ALLOWED_HOSTS", None)
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "0.0.0.0", "--port", "0"],  # noqa: S104
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        match = re.search(r"open (http://127\.0\.0\.1:\d+/)", line)
        assert match, line
        with urllib.request.urlopen(match.group(1) + "healthz", timeout=10) as response:  # noqa: S310 - loopback
            assert response.status == 200 and response.headers["Server"] == "vocbot"
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
