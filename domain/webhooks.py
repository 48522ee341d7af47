"""Webhooks (DESIGN §11), the pure part: what a delivery's body is, how it is signed, when a failed one
is tried again, and which endpoint addresses may be called.

Signatures follow Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature:
v1,<base64 HMAC-SHA256 of "id.timestamp.body">`), made with the `standardwebhooks` package; during a
secret's rotation overlap both secrets sign, space-separated, and a receiver accepts either.
"""

from __future__ import annotations

import base64
import ipaddress
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
# Standard Webhooks' / Svix's schedule after the first attempt, extended with 10 h steps to run past
# three days: 5 s, 5 min, 30 min, 2 h, 5 h, then 10 h seven times (77 h 35 min in all).
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    *(timedelta(hours=10),) * 7,
)
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def secret_of(random_bytes: bytes) -> str:
    """A signing secret in the Standard Webhooks form: `whsec_` and the base64 of random bytes
    (the caller draws them: this module stays pure, as all of domain/ is)."""
    return SECRET_PREFIX + base64.b64encode(random_bytes).decode()


def webhook_id(event_id: int) -> str:
    """The `webhook-id` of an event: the same on every attempt and every redelivery (receivers dedupe)."""
    return f"msg_{event_id}"


def retry_delay(failures: int, scale: float = 1.0) -> timedelta | None:
    """The wait after the n-th failed attempt, or None when the schedule is spent (give up)."""
    if failures < 1 or failures > len(RETRY_SCHEDULE):
        return None
    return RETRY_SCHEDULE[failures - 1] * scale


def body_of(event: dict[str, Any]) -> bytes:
    """The body sent for one feed event: `{"type", "timestamp", "data"}` (Standard Webhooks), as
    compact JSON bytes. The bytes are what is signed: they are sent exactly as made here."""
    document = {"type": f"case.{event['kind']}", "timestamp": event["at"], "data": event}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def signed_headers(msg_id: str, at: datetime, body: bytes, secrets: Sequence[str]) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt, signed with each secret (current first)."""
    signatures = " ".join(Webhook(secret).sign(msg_id, at, body) for secret in secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
    }


@dataclass(frozen=True)
class TargetPolicy:
    """Which endpoint addresses the service may call: public ones, and private, loopback or
    link-local ones only when their host or network is allow-listed (against SSRF)."""

    allow_hosts: frozenset[str] = frozenset()
    allow_networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, hosts: str, cidrs: str) -> TargetPolicy:
        """From comma-separated lists (settings); raises ValueError for a malformed CIDR."""
        return cls(
            frozenset(h.strip().lower() for h in hosts.split(",") if h.strip()),
            tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs.split(",") if c.strip()),
        )

    def address_problem(self, host: str, addresses: Iterable[Address]) -> str | None:
        """Why the host's resolved addresses may not be called, or None when all of them may."""
        found = list(addresses)
        if not found:
            return f"host {host} does not resolve"
        if host.lower().rstrip(".") in self.allow_hosts:
            return None
        for address in found:
            if internal(address) and not any(address in net for net in self.allow_networks):
                return (
                    f"host {host} resolves to {address}, a private, loopback or link-local address "
                    "(allow-list it with AFTERSALES_WEBHOOK_ALLOW_HOSTS or _CIDRS)"
                )
        return None


def internal(address: Address) -> bool:
    """Not a public address: private, loopback, link-local, multicast, reserved or unspecified
    (an IPv4-mapped IPv6 address counts as the IPv4 one it maps)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )
