"""The sandbox simulator's phone view: the texts one number sent to the bot or received."""

from __future__ import annotations

from ..base import Reads, Row
from ..sql import sql

_RECEIVED = sql(
    """
    SELECT body, created_at AS timestamp FROM sandbox_messages
    WHERE to_address = :number ORDER BY created_at DESC LIMIT :limit
    """
)
_AS_CUSTOMER = sql(
    """
    SELECT body, timestamp FROM messages
    WHERE thread_id = :number AND type = 'INBOUND' AND sender = :number
    ORDER BY timestamp DESC LIMIT :limit
    """
)
# a reviewer's texts are commands, never messages: the audit log holds them
_AS_REVIEWER = sql(
    """
    SELECT json_extract(metadata, '$.body') AS body, timestamp FROM audit_log
    WHERE event = 'Reviewer Text Received' AND json_extract(metadata, '$.from') = :number
    ORDER BY id DESC LIMIT :limit
    """,
    postgres="""
    SELECT CAST(metadata AS json) ->> 'body' AS body, timestamp FROM audit_log
    WHERE event = 'Reviewer Text Received' AND CAST(metadata AS json) ->> 'from' = :number
    ORDER BY id DESC LIMIT :limit
    """,
)


async def received_by(db: Reads, number: str, limit: int) -> list[Row]:
    """The latest texts the bot sent `number` in the sandbox (body, timestamp), newest first."""
    return await db.all(_RECEIVED, number=number, limit=limit)


async def sent_as_customer(db: Reads, number: str, limit: int) -> list[Row]:
    """The latest texts `number` sent as a customer (body, timestamp), newest first."""
    return await db.all(_AS_CUSTOMER, number=number, limit=limit)


async def sent_as_reviewer(db: Reads, number: str, limit: int) -> list[Row]:
    """The latest commands `number` texted as a reviewer (body, timestamp), newest first."""
    return await db.all(_AS_REVIEWER, number=number, limit=limit)
