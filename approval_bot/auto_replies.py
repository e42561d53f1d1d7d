"""Automatic replies: a pre-approved template sent for its trigger, at most once per window.

The one way a text reaches a customer without a decision on that very message, and so a
human decision made in advance: the reply is an OUTBOUND message created APPROVED_TO_SEND
through the workflow funnel, its audit row naming the admin who pre-approved the template
and when, with the hash of the exact body. It then waits for the sender like any approved
reply, and so passes every send-time check there (pause, opt-out, and the sending gate).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from . import message_templates, review, workflow
from . import profile as business
from .message_templates import Trigger
from .models import Channel, Event, MessageType
from .store import Tx, conversations
from .store import messages as message_rows

WINDOW = timedelta(hours=24)  # at most one automatic reply per thread and trigger in this


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def recently_sent(conn: Tx, thread_id: str, trigger: Trigger, now: datetime) -> bool:
    """Whether this thread got this trigger's automatic reply within WINDOW (one index lookup)."""
    return message_rows.auto_reply_since(conn, thread_id, trigger, _iso(now - WINDOW))


def queue_in(
    conn: Tx,
    trigger: Trigger,
    *,
    thread_id: str,
    in_reply_to_id: str | None,
    sender: str,
    channel: Channel,
    now: datetime | None = None,
) -> str | None:
    """Queue the trigger's pre-approved template as the thread's reply; its id, or None.

    None when the template is not pre-approved (for this body and channel), the thread is
    paused or opted out, or it already had this automatic reply within WINDOW. Other open
    replies are superseded, but for the holding reply, which leaves the draft pending. Runs
    inside the caller's write transaction.
    """
    now = now or datetime.now(UTC)
    approval = message_templates.pre_approval(conn, trigger, channel)
    if approval is None:
        return None
    controls = conversations.thread(conn, thread_id)
    if controls is None or controls.opted_out or controls.paused:
        return None
    if recently_sent(conn, thread_id, trigger, now):
        return None
    values = message_templates.variable_values(
        business_phone=sender, profile=business.load_now(conn), facts=json.loads(controls.facts)
    )
    reply_id = workflow.create_message(
        conn,
        type=MessageType.OUTBOUND,
        event=Event.AUTO_REPLY,
        thread_id=thread_id,
        sender=sender,
        receiver=thread_id,
        body=message_templates.render(approval.body, values),
        channel=channel,
        in_reply_to_id=in_reply_to_id,
        metadata={
            "trigger": trigger,
            "template": approval.key,
            "pre_approved_by": approval.admin_id,
            "pre_approved_by_name": approval.admin_name,
            "pre_approved_at": approval.approved_at,
            "body_hash": approval.body_hash,
        },
    )
    if trigger is not Trigger.HOLDING:
        # the holding reply only says a person will answer: the draft it waits for stays
        review.supersede_open_replies(
            conn, thread_id, reply_id, f"the automatic {trigger} reply", actor_id=None
        )
    message_rows.insert_auto_reply(conn, thread_id, trigger, reply_id, _iso(now))
    return reply_id
