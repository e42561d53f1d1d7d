"""Builders for test data, each going through the same code paths the app uses."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from approval_bot import accounts, review, sending_gate, workflow
from approval_bot.models import Channel, Event, MessageStatus, MessageType, Role
from approval_bot.store import Priority, Store, Tx
from approval_bot.store.sql import sql

BUSINESS = "+14155550199"


async def make_reviewer(
    db: Store, name: str = "Ana", *, phone: str | None = None, role: Role = Role.REVIEWER
) -> accounts.Reviewer:
    return await accounts.add_reviewer(
        db, name, phone=phone, password="correct horse battery", role=role
    )


async def make_inbound(
    db: Store, thread_id: str = "+14155550100", body: str = "Are you open today?"
) -> str:
    """A customer's message on `thread_id`, opening the conversation when it is new."""
    return await db.write(partial(_store_inbound, thread_id, body))


def _store_inbound(thread_id: str, body: str, conn: Tx) -> str:
    known = conn.one(sql("SELECT 1 FROM conversations WHERE thread_id = :t"), t=thread_id)
    if known is None:
        workflow.open_conversation(conn, thread_id, Channel.SMS)
    return workflow.create_message(
        conn,
        type=MessageType.INBOUND,
        event=Event.STORED,
        thread_id=thread_id,
        sender=thread_id,
        receiver=BUSINESS,
        body=body,
    )


async def make_draft(db: Store, inbound_id: str, body: str = "Yes, 9 to 5.") -> str:
    """A machine draft answering `inbound_id`, pending approval; it replaces open replies."""
    return await db.write(partial(_store_draft, inbound_id, body), priority=Priority.DRAFT)


async def make_drafted_inbound(
    db: Store, thread_id: str, text: str, draft: str = "Yes, 9 to 5."
) -> str:
    """A customer's message and its pending draft in one write; returns the draft's id.

    For a running server: between two writes its recovery job would find the message
    waiting (RECEIVED) and draft it too.
    """

    def store(conn: Tx) -> str:
        return _store_draft(_store_inbound(thread_id, text, conn), draft, conn)

    return await db.write(store, priority=Priority.DRAFT)


def _store_draft(inbound_id: str, body: str, conn: Tx) -> str:
    inbound = conn.one(
        sql("SELECT thread_id, sender, receiver, status FROM messages WHERE id = :id"),
        id=inbound_id,
    )
    assert inbound is not None
    draft_id = workflow.create_message(
        conn,
        type=MessageType.DRAFT,
        event=Event.DRAFT_CREATED,
        thread_id=inbound["thread_id"],
        sender=inbound["receiver"],
        receiver=inbound["sender"],
        body=body,
        in_reply_to_id=inbound_id,
        draft_meta={"drafter": "test"},
    )
    review.supersede_open_replies(conn, inbound["thread_id"], draft_id, "a newer draft", None)
    workflow.change_status(
        conn,
        inbound_id,
        expected=MessageStatus(inbound["status"]),
        target=MessageStatus.DRAFT_PENDING_APPROVAL,
        event=Event.DRAFT_CREATED,
        metadata={"draft_id": draft_id},
    )
    return draft_id


async def status_of(db: Store, message_id: str) -> MessageStatus:
    row = await db.one(sql("SELECT status FROM messages WHERE id = :id"), id=message_id)
    assert row is not None
    return MessageStatus(row["status"])


def _approve_sending(conn: Tx) -> None:
    sending_gate.set_up(conn, sandbox=False)  # what a first start with credentials writes
    sending_gate.change(
        conn,
        actor_id=None,
        via=sending_gate.ChangedVia.CLI,
        stale_after=timedelta(hours=1),
        status=sending_gate.ComplianceStatus.APPROVED,
    )


async def approve_sending(db: Store) -> None:
    """Open the sending gate as `approval-bot sending approve` does (credentials mode)."""
    await db.write(_approve_sending)


async def first_start(db: Store) -> None:
    """What the app's first start writes besides migrations: the gate, in sandbox mode."""
    await sending_gate.ensure(db, sandbox=True)
