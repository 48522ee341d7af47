"""Calling webhook endpoints safely: names are resolved here, every resolved address is checked
against the target policy (domain.webhooks), and the connection goes to an address that was checked.

The check happens when a subscription is made (the API answers 422) and again on every connection
the relay opens: a name that resolved to a public address then and to 127.0.0.1 now (DNS
rebinding) is refused, because the socket is opened to the vetted address itself — TLS still
verifies the certificate against the URL's host name (httpcore passes it as the server name).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from domain.webhooks import Address, TargetPolicy


class TargetRefused(httpx.ConnectError):
    """The endpoint's host resolves to an address the target policy refuses."""


def resolve(host: str, port: int | None = None) -> list[Address]:
    """Every address a host name (or literal) resolves to; [] when it does not resolve."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
        return [literal]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    found: list[Address] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def url_problem(url: str) -> str | None:
    """What is wrong with an endpoint URL itself (before any name is resolved), or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as err:
        return f"not a valid URL: {err}"
    if parts.scheme not in ("http", "https"):
        return "must be an http or https URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials (the signature authenticates the sender)"
    if parts.fragment:
        return "must not have a fragment"
    return None


def url_refusal(policy: TargetPolicy, url: str) -> str | None:
    """Why an endpoint URL may not be called (its form, or where its host resolves), or None."""
    problem = url_problem(url)
    if problem is not None:
        return problem
    parts = httpx.URL(url)
    return policy.address_problem(parts.host, resolve(parts.host, parts.port))


class _GuardedBackend(httpcore.SyncBackend):
    """Opens TCP connections only to addresses the policy allows, resolved at connect time."""

    def __init__(self, policy: TargetPolicy) -> None:
        self.policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = resolve(host, port)
        problem = self.policy.address_problem(host, addresses)
        if problem is not None:
            raise TargetRefused(problem)
        last: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(str(address), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as err:
                last = err
        raise last or httpcore.ConnectError(f"cannot connect to {host}")


def guarded_client(policy: TargetPolicy, timeout: float, max_connections: int = 64) -> httpx.Client:
    """An httpx client for webhook endpoints: every connection checked (no proxies from the
    environment, no redirects followed), `timeout` seconds for each of connect, write and read."""
    transport = httpx.HTTPTransport(
        trust_env=False, limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=32)
    )
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=max_connections,
        max_keepalive_connections=32,
        keepalive_expiry=5.0,
        network_backend=_GuardedBackend(policy),
    )
    return httpx.Client(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False)
