"""Webhook dedupe: each (provider, event id) Twilio posts is taken once (webhook_events),
and the sender's read of the delivery callbacks taken so far."""

from __future__ import annotations

from .base import Tx
from .sql import sql

_FIRST_TIME = sql(
    """
    INSERT INTO webhook_events (provider, event_id, received_at)
    VALUES (:provider, :event_id, :received_at)
    ON CONFLICT (provider, event_id) DO NOTHING
    """
)


def first_time(tx: Tx, provider: str, event_id: str, received_at: str) -> bool:
    """Record the event; True the first time, False for a replay (which changes nothing)."""
    return tx.run(_FIRST_TIME, provider=provider, event_id=event_id, received_at=received_at) == 1


# a delivery callback that came before the create response: `event_id` is "<sid>:<status>",
# so the range (sid + ":", sid + ";") holds a sid's; compared byte by byte on PostgreSQL too
_EARLY_STATUSES = sql(
    """
    SELECT event_id FROM webhook_events
    WHERE provider = :provider AND event_id > :low AND event_id < :high
    """,
    postgres="""
    SELECT event_id FROM webhook_events
    WHERE provider = :provider AND event_id COLLATE "C" > :low AND event_id COLLATE "C" < :high
    """,
)


def early_statuses(tx: Tx, provider: str, sid: str) -> list[str]:
    """The statuses delivery callbacks already told of this sid."""
    rows = tx.all(_EARLY_STATUSES, provider=provider, low=sid + ":", high=sid + ";")
    return [row["event_id"].split(":", 1)[1] for row in rows]
