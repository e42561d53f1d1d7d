"""The event outbox and its webhooks: events, subscriptions, and one delivery per pair.

`approval_bot.events` emits into the outbox inside the change's transaction,
`approval_bot.webhooks` manages the subscriptions, `approval_bot.event_delivery` claims
and records the deliveries.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from .base import Reads, Row, Tx
from .sql import Query, sql

WILDCARD = "*"  # a subscription's event types: every type

# events


@dataclass(frozen=True)
class OutboxEvent:
    """One event as stored: its data is the JSON text."""

    id: str
    type: str
    schema_version: int
    occurred_at: str
    thread_id: str | None
    correlation_id: str | None
    data: str

    @classmethod
    def from_row(cls, row: Row) -> OutboxEvent:
        return cls(
            id=row["id"],
            type=row["type"],
            schema_version=int(row["schema_version"]),
            occurred_at=row["occurred_at"],
            thread_id=row["thread_id"],
            correlation_id=row["correlation_id"],
            data=row["data"],
        )


_INSERT_EVENT = sql(
    """
    INSERT INTO event_outbox
        (id, type, schema_version, occurred_at, thread_id, correlation_id, data)
    VALUES (:id, :type, :schema_version, :occurred_at, :thread_id, :correlation_id, :data)
    """
)
_EVENT = sql(
    """
    SELECT id, type, schema_version, occurred_at, thread_id, correlation_id, data
    FROM event_outbox WHERE id = :id
    """
)
_WANTING = sql("SELECT id, event_types FROM webhook_subscriptions WHERE active = 1")
_INSERT_DELIVERY = sql(
    """
    INSERT INTO webhook_deliveries (event_id, subscription_id, thread_id, next_attempt_at)
    VALUES (:event_id, :subscription_id, :thread_id, :next_attempt_at)
    """
)


def insert_event(tx: Tx, event: OutboxEvent) -> None:
    tx.run(
        _INSERT_EVENT,
        id=event.id,
        type=event.type,
        schema_version=event.schema_version,
        occurred_at=event.occurred_at,
        thread_id=event.thread_id,
        correlation_id=event.correlation_id,
        data=event.data,
    )


def event(tx: Tx, event_id: str) -> OutboxEvent:
    row = tx.one(_EVENT, id=event_id)
    assert row is not None, event_id  # a delivery's event is deleted with its deliveries
    return OutboxEvent.from_row(row)


def subscribers(tx: Tx, event_type: str) -> list[int]:
    """The active subscriptions that want events of `event_type`, by id."""
    wanted = []
    for row in tx.all(_WANTING):
        types = json.loads(row["event_types"])
        if types == WILDCARD or event_type in types:
            wanted.append(int(row["id"]))
    return wanted


def insert_deliveries(
    tx: Tx, event_id: str, subscription_ids: Iterable[int], thread_id: str | None, now: str
) -> None:
    """A pending delivery of the event to each subscription, due `now`."""
    tx.many(
        _INSERT_DELIVERY,
        (
            {
                "event_id": event_id,
                "subscription_id": subscription_id,
                "thread_id": thread_id,
                "next_attempt_at": now,
            }
            for subscription_id in subscription_ids
        ),
    )


# subscriptions


@dataclass(frozen=True)
class Subscription:
    id: int
    url: str
    events: list[str]  # ["*"] for every type
    active: bool
    created_by: int | None
    created_at: str

    def public(self) -> dict[str, Any]:
        """As the API and CLI show it: everything but the secret."""
        return {
            "id": self.id,
            "url": self.url,
            "events": self.events,
            "active": self.active,
            "created_by": self.created_by,
            "created_at": self.created_at,
        }

    @classmethod
    def from_row(cls, row: Row) -> Subscription:
        wanted = json.loads(row["event_types"])
        return cls(
            id=int(row["id"]),
            url=row["url"],
            events=[WILDCARD] if wanted == WILDCARD else list(wanted),
            active=bool(row["active"]),
            created_by=row["created_by"],
            created_at=row["created_at"],
        )


_COLUMNS = "id, url, event_types, active, created_by, created_at"  # never the secret
_INSERT_SUBSCRIPTION = sql(
    f"""
    INSERT INTO webhook_subscriptions (url, secret, event_types, created_by, created_at)
    VALUES (:url, :secret, :event_types, :created_by, :created_at)
    RETURNING {_COLUMNS}
    """
)
_SUBSCRIPTION = sql(f"SELECT {_COLUMNS} FROM webhook_subscriptions WHERE id = :id")
_SUBSCRIPTIONS = sql(f"SELECT {_COLUMNS} FROM webhook_subscriptions ORDER BY id")
_DEACTIVATE = sql("UPDATE webhook_subscriptions SET active = 0 WHERE id = :id")
_FAIL_PENDING = sql(
    """
    UPDATE webhook_deliveries SET status = 'failed', claimed_at = NULL,
           last_error = :error
    WHERE subscription_id = :id AND status = 'pending'
    """
)
_SET_SECRET = sql(
    """
    UPDATE webhook_subscriptions
    SET previous_secret = secret, previous_secret_until = :until, secret = :secret
    WHERE id = :id
    """
)
_DELETE_SUBSCRIPTION = sql("DELETE FROM webhook_subscriptions WHERE id = :id")


def insert_subscription(
    tx: Tx,
    *,
    url: str,
    secret: str,
    event_types: str | list[str],
    created_by: int | None,
    created_at: str,
) -> Subscription:
    """A new active subscription (`event_types` a list of types, or "*")."""
    row = tx.one(
        _INSERT_SUBSCRIPTION,
        url=url,
        secret=secret,
        event_types=json.dumps(event_types),
        created_by=created_by,
        created_at=created_at,
    )
    assert row is not None
    return Subscription.from_row(row)


def subscription(tx: Tx, subscription_id: int) -> Subscription | None:
    row = tx.one(_SUBSCRIPTION, id=subscription_id)
    return None if row is None else Subscription.from_row(row)


async def subscriptions(db: Reads) -> list[Subscription]:
    """Every subscription, oldest first."""
    return [Subscription.from_row(row) for row in await db.all(_SUBSCRIPTIONS)]


def deactivate(tx: Tx, subscription_id: int, error: str) -> None:
    """No new deliveries for the subscription; those still pending fail with `error`."""
    tx.run(_DEACTIVATE, id=subscription_id)
    tx.run(_FAIL_PENDING, id=subscription_id, error=error)


def set_secret(tx: Tx, subscription_id: int, secret: str, *, previous_until: str) -> None:
    """Sign with `secret` from now on, and with the one it replaces until `previous_until`."""
    tx.run(_SET_SECRET, secret=secret, until=previous_until, id=subscription_id)


def delete_subscription(tx: Tx, subscription_id: int) -> None:
    """Delete a subscription; its deliveries go with it (ON DELETE CASCADE)."""
    tx.run(_DELETE_SUBSCRIPTION, id=subscription_id)


# deliveries

# the earliest pending delivery of each (subscription, conversation), due, not held
DUE = sql(
    """
    SELECT webhook_deliveries.id, webhook_deliveries.event_id, webhook_deliveries.attempts,
           webhook_subscriptions.url, webhook_subscriptions.secret,
           webhook_subscriptions.previous_secret, webhook_subscriptions.previous_secret_until
    FROM webhook_deliveries INDEXED BY webhook_deliveries_due
    JOIN webhook_subscriptions ON webhook_subscriptions.id = webhook_deliveries.subscription_id
    WHERE webhook_deliveries.status = 'pending'
      AND ((webhook_deliveries.claimed_at IS NULL AND webhook_deliveries.next_attempt_at <= :now)
           OR webhook_deliveries.claimed_at <= :stale_before)
      AND NOT EXISTS (
          SELECT 1 FROM webhook_deliveries AS earlier INDEXED BY webhook_deliveries_queue
          WHERE earlier.subscription_id = webhook_deliveries.subscription_id
            AND earlier.thread_id IS webhook_deliveries.thread_id
            AND earlier.status = 'pending' AND earlier.id < webhook_deliveries.id)
    ORDER BY webhook_deliveries.next_attempt_at LIMIT :room
    """,
    postgres="""
    SELECT webhook_deliveries.id, webhook_deliveries.event_id, webhook_deliveries.attempts,
           webhook_subscriptions.url, webhook_subscriptions.secret,
           webhook_subscriptions.previous_secret, webhook_subscriptions.previous_secret_until
    FROM webhook_deliveries
    JOIN webhook_subscriptions ON webhook_subscriptions.id = webhook_deliveries.subscription_id
    WHERE webhook_deliveries.status = 'pending'
      AND ((webhook_deliveries.claimed_at IS NULL AND webhook_deliveries.next_attempt_at <= :now)
           OR webhook_deliveries.claimed_at <= :stale_before)
      AND NOT EXISTS (
          SELECT 1 FROM webhook_deliveries AS earlier
          WHERE earlier.subscription_id = webhook_deliveries.subscription_id
            AND (earlier.thread_id = webhook_deliveries.thread_id
                 OR (earlier.thread_id IS NULL AND webhook_deliveries.thread_id IS NULL))
            AND earlier.status = 'pending' AND earlier.id < webhook_deliveries.id)
    ORDER BY webhook_deliveries.next_attempt_at LIMIT :room
    """,
)
_CLAIM = sql("UPDATE webhook_deliveries SET claimed_at = :now WHERE id = :id")
_RELEASE_CLAIMS = sql(
    """
    UPDATE webhook_deliveries SET claimed_at = NULL
    WHERE status = 'pending' AND claimed_at IS NOT NULL
    """
)


@dataclass(frozen=True)
class Due:
    """A due delivery, with where it goes and the secrets it may be signed with."""

    id: int
    event_id: str
    attempts: int
    url: str
    secret: str
    previous_secret: str | None  # the one `secret` replaced, signing until the time given
    previous_secret_until: str | None


def due(tx: Tx, *, now: str, stale_before: str, room: int) -> list[Due]:
    """Up to `room` due deliveries, the earliest pending of each subscription and thread:
    unclaimed and due by `now`, or claimed before `stale_before`."""
    return [
        Due(
            int(row["id"]),
            row["event_id"],
            int(row["attempts"]),
            row["url"],
            row["secret"],
            row["previous_secret"],
            row["previous_secret_until"],
        )
        for row in tx.all(DUE, now=now, stale_before=stale_before, room=room)
    ]


def mark_claimed(tx: Tx, delivery_id: int, now: str) -> None:
    tx.run(_CLAIM, now=now, id=delivery_id)


def release_claims(tx: Tx) -> int:
    """Free every claim on a pending delivery; how many."""
    return tx.run(_RELEASE_CLAIMS)


@cache
def _record(fields: tuple[str, ...]) -> Query:
    # the field names come from event_delivery.record, never from a value
    assignments = "".join(f", {name} = :{name}" for name in fields)
    return sql(
        f"""
        UPDATE webhook_deliveries SET claimed_at = NULL, attempts = :attempts,
               last_status = :last_status, last_error = :last_error{assignments}
        WHERE id = :id AND status = 'pending' AND claimed_at = :claimed_at
        """
    )


def record_attempt(
    tx: Tx,
    delivery_id: int,
    *,
    claimed_at: str,
    attempts: int,
    last_status: int | None,
    last_error: str | None,
    fields: dict[str, str | None],
) -> bool:
    """Record an attempt, setting `fields` too, if the claim made at `claimed_at` still
    holds; whether it did."""
    changed = tx.run(
        _record(tuple(fields)),
        attempts=attempts,
        last_status=last_status,
        last_error=last_error,
        id=delivery_id,
        claimed_at=claimed_at,
        **fields,
    )
    return changed == 1


_FOR_RESEND = sql(
    """
    SELECT webhook_deliveries.status, webhook_subscriptions.active
    FROM webhook_deliveries JOIN webhook_subscriptions
         ON webhook_subscriptions.id = webhook_deliveries.subscription_id
    WHERE webhook_deliveries.id = :id
    """
)
_RESTART = sql(
    """
    UPDATE webhook_deliveries SET status = 'pending', attempts = 0, claimed_at = NULL,
           next_attempt_at = :now, last_error = NULL, last_status = NULL,
           delivered_at = NULL
    WHERE id = :id
    """
)


def delivery_standing(tx: Tx, delivery_id: int) -> tuple[str, bool] | None:
    """A delivery's status and whether its subscription is active; None for no delivery."""
    row = tx.one(_FOR_RESEND, id=delivery_id)
    return None if row is None else (str(row["status"]), bool(row["active"]))


def restart_delivery(tx: Tx, delivery_id: int, now: str) -> None:
    """Deliver again from a first attempt, due `now`."""
    tx.run(_RESTART, now=now, id=delivery_id)


_PRUNE = sql(
    """
    DELETE FROM event_outbox WHERE seq IN (
        SELECT seq FROM event_outbox
        WHERE occurred_at < :before
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries
                          WHERE webhook_deliveries.event_id = event_outbox.id
                            AND webhook_deliveries.status != 'delivered')
        ORDER BY occurred_at LIMIT :limit)
    """
)


def prune(tx: Tx, before: str, limit: int) -> int:
    """Delete up to `limit` events older than `before` that every subscription got; how many."""
    return tx.run(_PRUNE, before=before, limit=limit)


# the Webhooks page

_RECENT = sql(
    """
    SELECT webhook_deliveries.*, event_outbox.type, event_outbox.occurred_at
    FROM webhook_deliveries JOIN event_outbox
         ON event_outbox.id = webhook_deliveries.event_id
    WHERE webhook_deliveries.subscription_id = :id
    ORDER BY webhook_deliveries.id DESC LIMIT :limit
    """
)
_FAILED = sql(
    """
    SELECT count(*) AS n FROM webhook_deliveries INDEXED BY webhook_deliveries_failed
    WHERE subscription_id = :id AND status = 'failed'
    """,
    postgres="""
    SELECT count(*) AS n FROM webhook_deliveries
    WHERE subscription_id = :id AND status = 'failed'
    """,
)


async def recent_deliveries(db: Reads, subscription_id: int, limit: int) -> list[dict[str, Any]]:
    """A subscription's latest deliveries, newest first, each with its event's type and time."""
    rows = await db.all(_RECENT, id=subscription_id, limit=limit)
    return [{key: row[key] for key in row.keys()} for row in rows]


async def failed_count(db: Reads, subscription_id: int) -> int:
    row = await db.one(_FAILED, id=subscription_id)
    return 0 if row is None else int(row["n"])
