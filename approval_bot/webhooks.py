"""Webhook subscriptions: who receives events, with which secret; and which URLs may be one.

A subscription URL must be http(s). In production (live Twilio credentials, not the
sandbox) it must not resolve to a loopback, private, link-local or otherwise internal
address unless WEBHOOK_ALLOW_PRIVATE is true: a reviewer with an admin's rights could
otherwise make the bot probe the internal network, and read the answers' status on the
Webhooks page. The check runs when a subscription is added and again at each delivery,
on the address the request is then sent to.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import secrets
import socket
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from . import audit, events
from .models import Actor, iso, now_iso, utcnow
from .store import Priority, Store, Tx, call_after_commit
from .store import webhook_events as outbox
from .store.webhook_events import Subscription

SECRET_BYTES = 32
# after a rotation the replaced secret signs too, beside the new one, for this long: a day
# for the receiver to switch to the new secret without refusing a delivery
SECRET_OVERLAP = timedelta(hours=24)
MAX_URL = 2000


class BadSubscription(ValueError):
    """A subscription that cannot be made: the message says why."""


class UnknownSubscription(LookupError):
    """No subscription with that id."""


@dataclass(frozen=True)
class Target:
    """Where a URL points: its scheme, host (as written), port, and the request's path."""

    scheme: str
    host: str
    port: int
    path: str


def parse_url(url: str) -> Target:
    """The parts of a subscription URL; BadSubscription unless it is a plain http(s) URL."""
    if len(url) > MAX_URL:
        raise BadSubscription(f"the URL is over {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise BadSubscription(f"not a URL: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise BadSubscription(f"the URL must start with http:// or https://, not {url!r}")
    if not parts.hostname:
        raise BadSubscription(f"the URL has no host: {url!r}")
    if parts.username is not None or parts.password is not None:
        raise BadSubscription("the URL must not carry a user name or password")
    if any(ch.isspace() for ch in url):
        raise BadSubscription("the URL must not contain spaces")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, parts.hostname, port or default, path)


def refusal(address: str) -> str | None:
    """Why a request must not go to `address` in production; None when it may."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        # an IPv4 address inside an IPv6 one (mapped, or 6to4) is judged as itself
        ip = ip.ipv4_mapped or ip.sixtofour or ip
    for kind, flag in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("private", ip.is_private),
        ("unspecified", ip.is_unspecified),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
    ):
        if flag:
            return f"{address} is a {kind} address"
    if not ip.is_global:
        return f"{address} is not a public address"
    return None


async def resolve(target: Target) -> list[str]:
    """The addresses the target's host resolves to, in the resolver's order."""
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise BadSubscription(f"{target.host} does not resolve: {error}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in found))


async def allowed_address(target: Target, *, check: bool) -> str:
    """The address to connect to; when `check`, every address must be a public one."""
    addresses = await resolve(target)
    if check:
        refused = [reason for reason in map(refusal, addresses) if reason is not None]
        if refused:
            raise BadSubscription(
                f"{target.host} resolves to an internal address ({refused[0]}); "
                "set WEBHOOK_ALLOW_PRIVATE=true to allow it"
            )
    if not addresses:
        raise BadSubscription(f"{target.host} resolves to no address")
    return addresses[0]


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _audit(conn: Tx, event: str, by: int | None, **metadata: Any) -> None:
    audit.record(
        conn,
        audit.AuditEvent(
            event=event,
            actor=Actor.SYSTEM if by is None else Actor.HUMAN,
            actor_id=by,
            metadata=metadata,
        ),
    )


async def add(
    db: Store,
    url: str,
    event_types: list[str],
    *,
    by: int | None,
    check_address: bool,
) -> tuple[Subscription, str]:
    """Add an active subscription; returns it and its secret (shown only this once).

    `check_address`: refuse a URL whose host resolves to an internal address.
    """
    target = parse_url(url)
    try:
        wanted = events.check_types(event_types)
    except events.UnknownEventType as error:
        raise BadSubscription(str(error)) from None
    if check_address:  # otherwise the host is resolved at each delivery only
        await allowed_address(target, check=True)
    secret = new_secret()

    def insert(conn: Tx) -> Subscription:
        added = outbox.insert_subscription(
            conn, url=url, secret=secret, event_types=wanted, created_by=by, created_at=now_iso()
        )
        _audit(conn, "Webhook Added", by, subscription_id=added.id, url=url, events=wanted)
        return added

    return await db.write(insert, priority=Priority.BULK), secret


async def list_all(db: Store) -> list[Subscription]:
    return await outbox.subscriptions(db)


def _existing(conn: Tx, subscription_id: int) -> Subscription:
    found = outbox.subscription(conn, subscription_id)
    if found is None:
        raise UnknownSubscription(f"no webhook subscription {subscription_id}")
    return found


async def disable(db: Store, subscription_id: int, *, by: int | None) -> Subscription:
    """Stop a subscription: no new deliveries; those still pending are marked failed."""

    def change(conn: Tx) -> Subscription:
        _existing(conn, subscription_id)
        outbox.deactivate(conn, subscription_id, "the subscription was disabled")
        _audit(conn, "Webhook Disabled", by, subscription_id=subscription_id)
        return _existing(conn, subscription_id)

    return await db.write(change, priority=Priority.BULK)


async def rotate_secret(db: Store, subscription_id: int, *, by: int | None) -> str:
    """A new secret for a subscription, used from the next delivery on; returns it (once).

    For SECRET_OVERLAP the replaced secret signs each delivery too (Standard Webhooks'
    several signatures); a secret replaced before that stops signing at once.
    """
    secret = new_secret()

    def change(conn: Tx) -> None:
        _existing(conn, subscription_id)
        until = iso(utcnow() + SECRET_OVERLAP)
        outbox.set_secret(conn, subscription_id, secret, previous_until=until)
        _audit(conn, "Webhook Secret Rotated", by, subscription_id=subscription_id)

    await db.write(change, priority=Priority.BULK)
    return secret


async def remove(db: Store, subscription_id: int, *, by: int | None) -> None:
    """Delete a subscription and its deliveries; the events they held may then be pruned."""

    def change(conn: Tx) -> None:
        removed = _existing(conn, subscription_id)
        outbox.delete_subscription(conn, subscription_id)
        _audit(conn, "Webhook Removed", by, subscription_id=subscription_id, url=removed.url)

    await db.write(change, priority=Priority.BULK)


async def resend(db: Store, delivery_id: int, *, by: int | None) -> None:
    """Deliver one event to its subscription again, from a first attempt, now."""

    def change(conn: Tx) -> None:
        standing = outbox.delivery_standing(conn, delivery_id)
        if standing is None:
            raise UnknownSubscription(f"no webhook delivery {delivery_id}")
        status, active = standing
        if not active:
            raise BadSubscription("the subscription is disabled; nothing is delivered to it")
        if status == "pending":
            raise BadSubscription(f"delivery {delivery_id} is still being delivered")
        outbox.restart_delivery(conn, delivery_id, now_iso())
        _audit(conn, "Webhook Resent", by, delivery_id=delivery_id)
        call_after_commit(events.notify)

    await db.write(change, priority=Priority.BULK)
