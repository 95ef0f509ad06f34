"""What the server believes about a request's origin: trusted reverse proxies, the Host allow-list, HSTS and
a Server header without versions.

Without VOCBOT_TRUSTED_PROXY, X-Forwarded-For and X-Forwarded-Proto are ignored (anyone can send them).
From a trusted proxy, the client address is the last one in X-Forwarded-For that is not itself a trusted
proxy, and X-Forwarded-Proto: https makes the request secure (Secure cookies, HSTS). A Host header outside
VOCBOT_ALLOWED_HOSTS gets a 400, so a DNS-rebinding page cannot talk to a server bound to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from aiohttp import web

from bot.channels.web.http import Handler
from bot.config import Settings

log = logging.getLogger("bot.channels.web.chat")
SERVER = "vocbot"
HSTS = "max-age=31536000"
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
WILDCARDS = ("", "0.0.0.0", "::")  # noqa: S104 - names compared with, not bound to

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def host_name(host: str) -> str:
    """The name of a Host header without its port, lower case, IPv6 in brackets."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    elif host.count(":") > 1:              # a bare IPv6 address
        host = f"[{host}]"
    return host.rstrip(".")


def allowed_hosts(settings: Settings) -> frozenset[str] | None:
    """The Host names answered; None answers every host (never the default)."""
    if settings.allowed_hosts:
        names = set(settings.allowed_hosts)
        return None if "*" in names else frozenset(host_name(h) for h in names)
    names = {*LOOPBACK}
    if settings.host in WILDCARDS:
        # Bound to every interface: also this machine's own names and addresses.
        hostname = socket.gethostname()
        names.add(hostname)
        with contextlib.suppress(OSError):
            names |= set(socket.gethostbyname_ex(hostname)[2])
        log.info("listening on every interface: answering Host %s; set VOCBOT_ALLOWED_HOSTS to the names "
                 "people type", ", ".join(sorted(names)))
    else:
        names.add(settings.host)
    if settings.webhook_url:
        names.add(urlsplit(settings.webhook_url).hostname or "")
    return frozenset(host_name(n) for n in names if n)


def networks(addresses: Iterable[str]) -> tuple[Network, ...]:
    """The trusted proxies as networks (a bare address is a network of one)."""
    return tuple(ipaddress.ip_network(a, strict=False) for a in addresses)


def _trusted(address: str | None, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def client_of(request: web.BaseRequest, trusted: tuple[Network, ...]) -> tuple[str | None, str]:
    """The client address and scheme, believing forwarded headers only from a trusted proxy."""
    if not trusted or not _trusted(request.remote, trusted):
        return request.remote, request.scheme
    remote = request.remote
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
    for hop in reversed(hops):
        remote = hop
        if not _trusted(hop, trusted):
            break
    protos = [p.strip().lower() for p in request.headers.get("X-Forwarded-Proto", "").split(",") if p.strip()]
    scheme = protos[-1] if protos and protos[-1] in ("http", "https") else request.scheme
    return remote, scheme


def middleware(settings: Settings) -> web.middleware:
    """The edge middleware for these settings (first in the chain: everything after sees the real client)."""
    hosts = allowed_hosts(settings)
    trusted = networks(settings.trusted_proxies)

    @web.middleware
    async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Host")
        if hosts is not None and given is not None and host_name(given) not in hosts:
            return web.Response(status=400, text="This server does not answer for that host name; the operator "
                                                 "can add it to VOCBOT_ALLOWED_HOSTS.\n",
                                headers={"Cache-Control": "no-store"})
        remote, scheme = client_of(request, trusted)
        if (remote, scheme) != (request.remote, request.scheme):
            request = request.clone(remote=remote, scheme=scheme)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if scheme == "https":
                exc.headers.setdefault("Strict-Transport-Security", HSTS)
            raise
        if scheme == "https" and not response.prepared:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response

    return edge


async def server_header(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """on_response_prepare: name the server without versions; HSTS on streamed responses over TLS."""
    response.headers["Server"] = SERVER
    if request.scheme == "https":
        response.headers.setdefault("Strict-Transport-Security", HSTS)
