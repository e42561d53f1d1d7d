"""The workflow funnel: the transition tables, optimistic concurrency, audit in the same tx."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from functools import partial
from typing import Any

import pytest

from approval_bot import review, workflow
from approval_bot.models import (
    Channel,
    ConversationEvent,
    ConversationState,
    DecisionChannel,
    Event,
    MessageStatus,
    MessageType,
    now_iso,
)
from approval_bot.store import Store, Tx, open_store
from approval_bot.store import messages as message_rows
from approval_bot.store.sql import sql
from tests.builders import make_draft, make_inbound, make_reviewer, status_of

pytestmark = [pytest.mark.anyio, pytest.mark.both_backends]

THREAD = "+14155550100"


async def _place(db: Store, type_: MessageType, status: MessageStatus) -> str:
    """A message put straight into `status`, as test set-up (not through the funnel)."""
    message_id = str(uuid.uuid4())

    def place(conn: Tx) -> None:
        known = conn.one(sql("SELECT 1 FROM conversations WHERE thread_id = :t"), t=THREAD)
        if known is None:
            workflow.open_conversation(conn, THREAD, Channel.SMS)
        conn.run(
            sql(
                """
                INSERT INTO messages (id, thread_id, sender, receiver, body, status, type,
                                      timestamp, updated_at)
                VALUES (:id, :t, :t, :business, 'hello', :status, :type, :now, :now)
                """
            ),
            id=message_id,
            t=THREAD,
            business="+14155550199",
            status=status,
            type=type_,
            now=now_iso(),
        )

    await db.write(place)
    return message_id


async def _audit_count(db: Store) -> int:
    row = await db.one(sql("SELECT count(*) AS n FROM audit_log"))
    assert row is not None
    return int(row["n"])


def _table_moves() -> list[workflow.Transition]:
    return sorted(
        (t for t in workflow.MESSAGE_TRANSITIONS if t.source is not None),
        key=lambda t: (t.type, t.source or "", t.event, t.target),
    )


@pytest.mark.parametrize(
    "move", _table_moves(), ids=lambda t: f"{t.type}:{t.source}-{t.event}->{t.target}"
)
async def test_every_row_of_the_table_is_allowed_and_audited(db, move):
    message_id = await _place(db, move.type, move.source)
    before = await _audit_count(db)

    await db.write(
        lambda conn: workflow.change_status(
            conn, message_id, expected=move.source, target=move.target, event=move.event
        )
    )

    assert await status_of(db, message_id) == move.target
    rows = await db.all(sql("SELECT * FROM audit_log WHERE id > :id"), id=before)
    assert len(rows) == 1
    assert rows[0]["event"] == move.event
    assert rows[0]["message_id"] == message_id
    assert json.loads(rows[0]["metadata"])["to"] == move.target


async def test_every_move_not_in_the_table_is_refused_and_changes_nothing(db):
    placed = {
        (t, s): await _place(db, t, s) for t, s in itertools.product(MessageType, MessageStatus)
    }
    allowed = {(t.type, t.source, t.event, t.target) for t in workflow.MESSAGE_TRANSITIONS}
    before = await _audit_count(db)
    refused = 0
    for type_, source, event, target in itertools.product(
        MessageType, MessageStatus, Event, MessageStatus
    ):
        if (type_, source, event, target) in allowed:
            continue
        move = partial(
            workflow.change_status,
            message_id=placed[(type_, source)],
            expected=source,
            target=target,
            event=event,
        )
        with pytest.raises(workflow.TransitionRefused) as error:
            await db.write(move)
        assert str(source) in str(error.value) and str(target) in str(error.value)
        assert str(event) in str(error.value)
        refused += 1
    assert refused == len(MessageType) * len(MessageStatus) ** 2 * len(Event) - len(
        [t for t in workflow.MESSAGE_TRANSITIONS if t.source is not None]
    )
    assert await _audit_count(db) == before
    for (_, source), message_id in placed.items():
        assert await status_of(db, message_id) == source


async def test_messages_are_created_only_by_creating_events(db):
    await make_inbound(db, THREAD)
    creations = {(t.type, t.event) for t in workflow.MESSAGE_TRANSITIONS if t.source is None}
    for type_, event in itertools.product(MessageType, Event):
        create = partial(
            workflow.create_message,
            type=type_,
            event=event,
            thread_id=THREAD,
            sender="a",
            receiver="b",
            body="x",
        )

        if (type_, event) in creations:
            await db.write(create)
        else:
            with pytest.raises(workflow.TransitionRefused):
                await db.write(create)
    count = await db.one(sql("SELECT count(*) AS n FROM messages"))
    assert count is not None and count["n"] == len(creations) + 1


async def test_every_conversation_move_outside_the_table_is_refused(db):
    await make_inbound(db, THREAD)
    for source, event, target in itertools.product(
        ConversationState, ConversationEvent, ConversationState
    ):
        allowed = (source, event, target) in workflow.CONVERSATION_TRANSITIONS

        def move(
            conn: Tx,
            source: ConversationState = source,
            event: ConversationEvent = event,
            target: ConversationState = target,
            allowed: bool = allowed,
        ) -> None:
            conn.run(  # test set-up: put the conversation in `source`
                sql("UPDATE conversations SET state = :s WHERE thread_id = :t"), s=source, t=THREAD
            )
            if allowed:
                workflow.change_conversation_state(
                    conn, THREAD, expected=source, target=target, event=event, reason="why"
                )
            else:
                with pytest.raises(workflow.TransitionRefused):
                    workflow.change_conversation_state(
                        conn, THREAD, expected=source, target=target, event=event
                    )

        await db.write(move)
        row = await db.one(sql("SELECT state FROM conversations WHERE thread_id = :t"), t=THREAD)
        assert row is not None and row["state"] == (target if allowed else source)


async def test_a_lost_race_names_who_changed_the_row_and_when(db):
    ana = await make_reviewer(db, "Ana")
    draft = await make_draft(db, await make_inbound(db, THREAD))
    await review.approve(db, draft, review.Decision(ana.id, DecisionChannel.WEB))

    with pytest.raises(workflow.Conflict) as error:
        await db.write(
            lambda conn: workflow.change_status(
                conn,
                draft,
                expected=MessageStatus.DRAFT_PENDING_APPROVAL,
                target=MessageStatus.REJECTED,
                event=Event.REJECT,
            )
        )
    message = str(error.value)
    assert "APPROVED_TO_SEND" in message and "Ana" in message
    assert error.value.changed_at is not None and error.value.changed_at.startswith("20")


async def test_unknown_message_is_reported(db):
    with pytest.raises(workflow.UnknownRecord):
        await db.write(
            lambda conn: workflow.change_status(
                conn,
                "no-such-id",
                expected=MessageStatus.RECEIVED,
                target=MessageStatus.NEEDS_REVIEW,
                event=Event.DRAFT_FAILED,
            )
        )


async def test_a_failing_transaction_leaves_neither_the_change_nor_its_audit_row(db):
    inbound = await make_inbound(db, THREAD)
    before = await _audit_count(db)

    def crash(conn: Tx) -> None:
        workflow.change_status(
            conn,
            inbound,
            expected=MessageStatus.RECEIVED,
            target=MessageStatus.NEEDS_REVIEW,
            event=Event.DRAFT_FAILED,
        )
        raise RuntimeError("crash between the change and the commit")

    with pytest.raises(RuntimeError):
        await db.write(crash)

    assert await status_of(db, inbound) == MessageStatus.RECEIVED
    assert await _audit_count(db) == before


@pytest.mark.parametrize("separate_connections", [False, True])
async def test_two_concurrent_approvals_one_wins_one_conflicts(
    db, database_target, separate_connections
):
    ana = await make_reviewer(db, "Ana")
    bob = await make_reviewer(db, "Bob")
    draft = await make_draft(db, await make_inbound(db, THREAD))
    other = await open_store(database_target) if separate_connections else db
    try:
        results = await asyncio.gather(
            review.approve(db, draft, review.Decision(ana.id, DecisionChannel.WEB)),
            review.approve(other, draft, review.Decision(bob.id, DecisionChannel.SMS)),
            return_exceptions=True,
        )
    finally:
        if separate_connections:
            await other.close()

    conflicts = [r for r in results if isinstance(r, workflow.Conflict)]
    assert results.count(None) == 1 and len(conflicts) == 1
    winner = "Ana" if results[0] is None else "Bob"
    assert winner in str(conflicts[0])
    approvals = await db.all(sql("SELECT * FROM approvals WHERE draft_id = :d"), d=draft)
    assert len(approvals) == 1
    audit = await db.all(
        sql("SELECT * FROM audit_log WHERE message_id = :d AND event = :e"),
        d=draft,
        e=Event.APPROVE,
    )
    assert len(audit) == 1
    assert await status_of(db, draft) == MessageStatus.APPROVED_TO_SEND


async def test_a_row_moved_between_the_read_and_the_update_is_a_conflict(db, monkeypatch):
    # what a second writer does on PostgreSQL, where write transactions run side by side:
    # it moves the row after change_status read it, and the guarded UPDATE matches nothing
    ana = await make_reviewer(db, "Ana")
    draft = await make_draft(db, await make_inbound(db, THREAD))
    real = message_rows.set_status

    def raced(conn: Tx, message_id: str, **kwargs: Any) -> int:
        conn.run(sql("UPDATE messages SET status = 'REJECTED' WHERE id = :id"), id=message_id)
        return real(conn, message_id, **kwargs)

    monkeypatch.setattr(message_rows, "set_status", raced)
    before = await _audit_count(db)
    with pytest.raises(workflow.Conflict, match="REJECTED"):
        await review.approve(db, draft, review.Decision(ana.id, DecisionChannel.WEB))
    assert await status_of(db, draft) == MessageStatus.DRAFT_PENDING_APPROVAL  # rolled back
    assert await _audit_count(db) == before
    assert await db.all(sql("SELECT 1 FROM approvals WHERE draft_id = :d"), d=draft) == []


async def test_a_transition_cannot_smuggle_a_status_column(db):
    inbound = await make_inbound(db, THREAD)
    with pytest.raises(ValueError, match="status"):
        await db.write(
            lambda conn: workflow.change_status(
                conn,
                inbound,
                expected=MessageStatus.RECEIVED,
                target=MessageStatus.NEEDS_REVIEW,
                event=Event.DRAFT_FAILED,
                status="SENT",
            )
        )
    assert await status_of(db, inbound) == MessageStatus.RECEIVED


async def test_pausing_twice_is_a_conflict_and_audit_rows_follow_pause_and_resume(db):
    reviewer = await make_reviewer(db, "Ana")
    await make_inbound(db, THREAD)
    await review.pause_thread(db, THREAD, "taking over", reviewer.id)
    with pytest.raises(workflow.Conflict, match="Ana"):
        await review.pause_thread(db, THREAD, "again", reviewer.id)
    await review.resume_thread(db, THREAD, reviewer.id)
    events = [
        row["event"]
        for row in await db.all(
            sql(
                "SELECT event FROM audit_log WHERE thread_id = :t AND message_id IS NULL"
                " ORDER BY id"
            ),
            t=THREAD,
        )
    ]
    assert events == ["Conversation Opened", "Thread Paused", "Thread Resumed"]


S = MessageStatus


def test_nothing_leaves_a_final_status_and_nothing_is_sent_unapproved():
    final = {S.SENT, S.FAILED_SEND, S.REJECTED, S.SUPERSEDED}
    assert not [t for t in workflow.MESSAGE_TRANSITIONS if t.source in final]
    into_sending = {
        t.source for t in workflow.MESSAGE_TRANSITIONS if t.target == S.APPROVED_TO_SEND
    }
    assert into_sending == {S.DRAFT_PENDING_APPROVAL, None}
    assert {t.event for t in workflow.MESSAGE_TRANSITIONS if t.target == S.APPROVED_TO_SEND} == {
        Event.APPROVE,
        Event.HUMAN_REPLY,
        # a human's decision too: made in advance (the pre-approval) or choosing the template
        Event.AUTO_REPLY,
        Event.TEMPLATE_REPLY,
    }
