"""Webhook dedupe: each (provider, event id) Twilio posts is taken once (webhook_events)."""

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
