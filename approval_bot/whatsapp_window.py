"""WhatsApp's customer service window: free-form replies only within 24 hours of the
customer's last message; after it closes only an approved Content template may go (63016).

Pure, but for `last_inbound`, one index lookup on (thread_id, type, timestamp).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import message_templates
from . import profile as business
from .retry import WHATSAPP_WINDOW_CODE as CODE
from .store import Store, Tx, conversations
from .store import messages as message_rows

WINDOW = timedelta(hours=24)


def closes_at(last_inbound: str | None) -> datetime | None:
    """When the window of a customer whose last message was at `last_inbound` closes."""
    if last_inbound is None:
        return None
    return datetime.fromisoformat(last_inbound) + WINDOW


def is_open(last_inbound: str | None, now: datetime) -> bool:
    """True while a free-form reply may go: strictly less than 24 hours after their message."""
    closing = closes_at(last_inbound)
    return closing is not None and now < closing


def last_inbound(conn: Tx, thread_id: str) -> str | None:
    """The time of the customer's latest message on the thread."""
    last = message_rows.last_inbound(conn, thread_id)
    return None if last is None else last.timestamp


@dataclass(frozen=True)
class Offer:
    """What a reviewer sees for a WhatsApp thread: when the window closes and, once it
    has, the Content templates they may send instead, with variables filled (editable)."""

    closes_at: datetime | None
    is_open: bool
    templates: list[dict[str, Any]]


async def offer(db: Store, thread_id: str, channel: str, now: datetime) -> Offer | None:
    """The window and template offer of a thread; None for SMS. This is a read-only operation."""
    if channel != "whatsapp":
        return None
    row = await message_rows.read_last_inbound(db, thread_id)
    last = None if row is None else row.timestamp
    if is_open(last, now):
        return Offer(closes_at(last), True, [])
    thread = await conversations.read_thread(db, thread_id)
    values = message_templates.variable_values(
        business_phone=None if row is None else row.receiver,
        profile=await business.get(db),
        facts=None if thread is None else json.loads(thread.facts),
    )
    templates = [
        {
            "key": t.key,
            "body": t.body,
            "content_sid": t.content_sid,
            "fields": [(name, values.get(name, "")) for name in t.variables],
        }
        for t in await message_templates.list_all(db)
        if t.content_sid is not None
    ]
    return Offer(closes_at(last), False, templates)


async def closes_at_for(db: Store, thread_id: str, channel: str) -> datetime | None:
    """When a thread's window closes (None for SMS, or a customer who never wrote)."""
    if channel != "whatsapp":
        return None
    row = await message_rows.read_last_inbound(db, thread_id)
    return closes_at(None if row is None else row.timestamp)


def closed_message(closing: datetime | None) -> str:
    """What a reviewer is told when a free-form reply is refused."""
    when = (
        f"closed at {closing.strftime('%Y-%m-%d %H:%M')} UTC, 24 hours after their last message"
        if closing is not None
        else "is not open: they have not written"
    )
    return (
        f"This customer's WhatsApp window {when}. WhatsApp refuses free-form replies "
        f"outside it (Twilio {CODE}): send one of the WhatsApp templates instead"
    )
