"""What each workflow function writes besides the status: every column, and its audit row.

Expected values are the arguments given and DESIGN §6.5 ("every state change has its
audit row, written in the same transaction"), never read back from the module.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from approval_bot import workflow
from approval_bot.models import (
    Channel,
    ConversationEvent,
    ConversationState,
    Event,
    MessageStatus,
    MessageType,
    PauseKind,
    now_iso,
)
from approval_bot.store import Store, Tx
from approval_bot.store.sql import sql
from tests.builders import BUSINESS, make_inbound, make_reviewer, status_of

pytestmark = [pytest.mark.anyio, pytest.mark.both_backends]
REVIEWER = PauseKind.REVIEWER  # the kind of pause these tests make and lift

THREAD, OTHER = "+14155550100", "+14155550101"
C, S = ConversationState, MessageStatus


async def audit_rows(db: Store, after: int = 0) -> list[dict[str, Any]]:
    rows = await db.all(sql("SELECT * FROM audit_log WHERE id > :id ORDER BY id"), id=after)
    return [{**dict(row), "metadata": json.loads(row["metadata"])} for row in rows]


async def last_audit_id(db: Store) -> int:
    row = await db.one(sql("SELECT coalesce(max(id), 0) AS id FROM audit_log"))
    assert row is not None
    return int(row["id"])


def who(row: dict[str, Any]) -> tuple[Any, ...]:
    return row["event"], row["actor"], row["actor_id"], row["thread_id"], row["message_id"]


async def conversation(db: Store, thread_id: str = THREAD) -> dict[str, Any]:
    row = await db.one(
        sql(
            """
            SELECT * FROM conversations JOIN thread_controls USING (thread_id)
            WHERE thread_id = :t
            """
        ),
        t=thread_id,
    )
    assert row is not None
    return dict(row)


# ---- create_message


async def test_a_created_message_holds_what_it_was_given_and_a_human_audit_row(db):
    ana = await make_reviewer(db, "Ana")
    inbound = await make_inbound(db, THREAD)
    before = await last_audit_id(db)
    media = [{"url": "https://example.com/a.jpg", "content_type": "image/jpeg"}]
    message_id = await db.write(
        lambda conn: workflow.create_message(
            conn,
            type=MessageType.DRAFT,
            event=Event.EDIT,
            thread_id=THREAD,
            sender=BUSINESS,
            receiver=THREAD,
            body="We open at 9.",
            channel=Channel.WHATSAPP,
            media=media,
            actor_id=ana.id,
            metadata={"edited_from": inbound},
            draft_meta={"drafter": "human"},
            in_reply_to_id=inbound,
            draft_version=2,
        ),
    )
    row = await db.one(sql("SELECT * FROM messages WHERE id = :id"), id=message_id)
    assert row is not None
    assert (row["thread_id"], row["sender"], row["receiver"], row["body"]) == (
        THREAD,
        BUSINESS,
        THREAD,
        "We open at 9.",
    )
    assert (row["status"], row["type"], row["channel"]) == (
        "DRAFT_PENDING_APPROVAL",
        "DRAFT",
        "whatsapp",
    )
    assert json.loads(row["media"]) == media
    assert json.loads(row["draft_meta"]) == {"drafter": "human"}
    assert (row["in_reply_to_id"], row["draft_version"]) == (inbound, 2)
    assert row["timestamp"] == row["updated_at"] and row["timestamp"].startswith("20")
    [audit] = await audit_rows(db, before)
    assert who(audit) == ("Edited", "Human", ana.id, THREAD, message_id)
    assert audit["metadata"] == {
        "from": None,
        "to": "DRAFT_PENDING_APPROVAL",
        "type": "DRAFT",
        "edited_from": inbound,
    }


async def test_a_message_created_by_the_system_has_the_defaults_and_a_system_audit_row(db):
    await make_inbound(db, THREAD)
    before = await last_audit_id(db)
    message_id = await db.write(
        lambda conn: workflow.create_message(
            conn,
            type=MessageType.INBOUND,
            event=Event.HELD,
            thread_id=THREAD,
            sender=THREAD,
            receiver=BUSINESS,
            body="still there?",
        ),
    )
    row = await db.one(sql("SELECT * FROM messages WHERE id = :id"), id=message_id)
    assert row is not None
    assert (row["status"], row["channel"], row["media"], row["draft_meta"]) == (
        "PAUSED_THREAD",
        "sms",
        "[]",
        None,
    )
    [audit] = await audit_rows(db, before)
    assert who(audit) == ("Held By Pause", "System", None, THREAD, message_id)
    assert audit["metadata"] == {"from": None, "to": "PAUSED_THREAD", "type": "INBOUND"}


async def test_create_message_refuses_a_column_it_may_not_set_and_writes_nothing(db):
    await make_inbound(db, THREAD)
    before = await last_audit_id(db)
    with pytest.raises(ValueError) as refused:
        await db.write(
            lambda conn: workflow.create_message(
                conn,
                type=MessageType.INBOUND,
                event=Event.STORED,
                thread_id=THREAD,
                sender=THREAD,
                receiver=BUSINESS,
                body="hi",
                status="SENT",
                id="chosen",
            ),
        )
    assert str(refused.value) == "create_message cannot set ['id', 'status']"
    count = await db.one(sql("SELECT count(*) AS n FROM messages"))
    assert count is not None and count["n"] == 1
    assert await audit_rows(db, before) == []


async def test_a_message_no_event_creates_is_refused_with_its_type_and_event(db):
    await make_inbound(db, THREAD)
    with pytest.raises(workflow.TransitionRefused) as refused:
        await db.write(
            lambda conn: workflow.create_message(
                conn,
                type=MessageType.DRAFT,
                event=Event.APPROVE,
                thread_id=THREAD,
                sender=BUSINESS,
                receiver=THREAD,
                body="x",
            ),
        )
    assert str(refused.value).startswith("DRAFT message cannot go from (new) to (any) on event")
    assert "Approved" in str(refused.value)
    assert (refused.value.source, refused.value.target) == (None, "(any)")


# ---- change_status


async def test_a_status_change_writes_its_fields_and_audits_the_messages_own_thread(db):
    ana = await make_reviewer(db, "Ana")
    await make_inbound(db, OTHER)  # a second thread: the audit row must name the right one
    inbound = await make_inbound(db, THREAD)
    old = await db.one(sql("SELECT updated_at FROM messages WHERE id = :id"), id=inbound)
    assert old is not None
    before = await last_audit_id(db)
    await db.write(
        lambda conn: workflow.change_status(
            conn,
            inbound,
            expected=S.RECEIVED,
            target=S.NEEDS_REVIEW,
            event=Event.DRAFT_FAILED,
            actor_id=ana.id,
            metadata={"why": "timeout"},
            error_message="drafter timed out",
            send_attempts=2,
        ),
    )
    row = await db.one(sql("SELECT * FROM messages WHERE id = :id"), id=inbound)
    assert row is not None
    assert (row["status"], row["error_message"], row["send_attempts"]) == (
        "NEEDS_REVIEW",
        "drafter timed out",
        2,
    )
    assert row["updated_at"] > old["updated_at"]
    [audit] = await audit_rows(db, before)
    assert who(audit) == ("Draft Failed", "Human", ana.id, THREAD, inbound)
    assert audit["metadata"] == {"from": "RECEIVED", "to": "NEEDS_REVIEW", "why": "timeout"}


async def test_a_status_change_by_the_system_is_audited_as_the_system(db):
    inbound = await make_inbound(db, THREAD)
    before = await last_audit_id(db)
    await db.write(
        lambda conn: workflow.change_status(
            conn, inbound, expected=S.RECEIVED, target=S.PAUSED_THREAD, event=Event.HELD
        ),
    )
    [audit] = await audit_rows(db, before)
    assert who(audit) == ("Held By Pause", "System", None, THREAD, inbound)
    assert audit["metadata"] == {"from": "RECEIVED", "to": "PAUSED_THREAD"}


async def test_a_message_changed_by_the_system_names_the_system_in_the_conflict(db):
    inbound = await make_inbound(db, THREAD)
    await db.write(
        lambda conn: workflow.change_status(
            conn, inbound, expected=S.RECEIVED, target=S.NEEDS_REVIEW, event=Event.DRAFT_FAILED
        ),
    )
    [last] = (await audit_rows(db))[-1:]
    with pytest.raises(workflow.Conflict) as conflict:
        await db.write(
            lambda conn: workflow.change_status(
                conn, inbound, expected=S.RECEIVED, target=S.PAUSED_THREAD, event=Event.HELD
            ),
        )
    assert str(conflict.value) == (
        f"message {inbound} is NEEDS_REVIEW, not RECEIVED: "
        f"changed by the system at {last['timestamp']}"
    )
    assert await status_of(db, inbound) == S.NEEDS_REVIEW


# ---- conversations


async def test_opening_a_conversation_writes_it_its_controls_and_an_audit_row(db):
    before = await last_audit_id(db)
    await db.write(lambda conn: workflow.open_conversation(conn, THREAD, Channel.WHATSAPP))
    row = await conversation(db)
    assert (row["state"], row["channel"], row["opted_out"], row["attention_reason"]) == (
        "ACTIVE",
        "whatsapp",
        0,
        None,
    )
    assert (row["paused"], row["paused_reason"]) == (0, None)
    assert row["created_at"] == row["last_activity_at"] == row["last_updated"]
    [audit] = await audit_rows(db, before)
    assert who(audit) == ("Conversation Opened", "System", None, THREAD, None)
    assert audit["metadata"] == {"from": None, "to": "ACTIVE", "channel": "whatsapp"}


async def test_flagging_keeps_the_reason_and_resolving_clears_it(db):
    ana = await make_reviewer(db, "Ana")
    await make_inbound(db, THREAD)
    before = await last_audit_id(db)
    await db.write(lambda conn: workflow.flag_conversation(conn, THREAD, "negative sentiment"))
    assert (await conversation(db))["attention_reason"] == "negative sentiment"
    # flagged again while it needs attention: the newer reason wins
    await db.write(
        lambda conn: workflow.flag_conversation(conn, THREAD, "escalated", actor_id=ana.id),
    )
    row = await conversation(db)
    assert (row["state"], row["attention_reason"]) == ("NEEDS_ATTENTION", "escalated")
    await db.write(
        lambda conn: workflow.change_conversation_state(
            conn,
            THREAD,
            expected=C.NEEDS_ATTENTION,
            target=C.ACTIVE,
            event=ConversationEvent.RESOLVED,
            reason="answered",
            actor_id=ana.id,
        ),
    )
    row = await conversation(db)
    assert (row["state"], row["attention_reason"]) == ("ACTIVE", None)
    flagged, again, resolved = await audit_rows(db, before)
    assert who(flagged) == ("Conversation Needs Attention", "System", None, THREAD, None)
    assert flagged["metadata"] == {
        "from": "ACTIVE",
        "to": "NEEDS_ATTENTION",
        "reason": "negative sentiment",
    }
    assert who(again) == ("Conversation Needs Attention", "Human", ana.id, THREAD, None)
    assert again["metadata"]["from"] == "NEEDS_ATTENTION"
    assert who(resolved) == ("Conversation Resolved", "Human", ana.id, THREAD, None)
    assert resolved["metadata"] == {"from": "NEEDS_ATTENTION", "to": "ACTIVE", "reason": "answered"}


async def test_archiving_keeps_no_attention_reason_and_an_archived_thread_can_be_flagged(db):
    await make_inbound(db, THREAD)
    await db.write(
        lambda conn: workflow.change_conversation_state(
            conn,
            THREAD,
            expected=C.ACTIVE,
            target=C.ARCHIVED,
            event=ConversationEvent.ARCHIVED,
            reason="72 hours quiet",
        ),
    )
    row = await conversation(db)
    assert (row["state"], row["attention_reason"]) == ("ARCHIVED", None)
    await db.write(lambda conn: workflow.flag_conversation(conn, THREAD, "a draft failed"))
    row = await conversation(db)
    assert (row["state"], row["attention_reason"]) == ("NEEDS_ATTENTION", "a draft failed")


async def test_a_conversation_someone_else_moved_is_a_conflict_naming_them(db):
    ana = await make_reviewer(db, "Ana")
    await make_inbound(db, THREAD)
    await db.write(
        lambda conn: workflow.flag_conversation(conn, THREAD, "escalated", actor_id=ana.id)
    )
    [flagged] = (await audit_rows(db))[-1:]
    before = await last_audit_id(db)
    with pytest.raises(workflow.Conflict) as conflict:
        await db.write(
            lambda conn: workflow.change_conversation_state(
                conn,
                THREAD,
                expected=C.ACTIVE,
                target=C.ARCHIVED,
                event=ConversationEvent.ARCHIVED,
            ),
        )
    error = conflict.value
    assert str(error) == (
        f"conversation {THREAD} is NEEDS_ATTENTION, not ACTIVE: "
        f"changed by Ana at {flagged['timestamp']}"
    )
    assert (error.subject, error.expected, error.actual) == (
        f"conversation {THREAD}",
        "ACTIVE",
        "NEEDS_ATTENTION",
    )
    assert (error.changed_by, error.changed_at) == ("Ana", flagged["timestamp"])
    row = await conversation(db)
    assert (row["state"], row["attention_reason"]) == ("NEEDS_ATTENTION", "escalated")
    assert await audit_rows(db, before) == []


async def test_a_conflict_with_no_audited_change_says_nobody_is_on_record(db):
    def unaudited(conn: Tx) -> None:  # set-up: a thread outside the funnel
        now = now_iso()
        conn.run(
            sql(
                "INSERT INTO conversations (thread_id, state, last_activity_at, created_at)"
                " VALUES (:t, 'ARCHIVED', :now, :now)"
            ),
            t=THREAD,
            now=now,
        )
        conn.run(
            sql("INSERT INTO thread_controls (thread_id, last_updated) VALUES (:t, :now)"),
            t=THREAD,
            now=now,
        )

    await db.write(unaudited)
    with pytest.raises(workflow.Conflict) as conflict:
        await db.write(
            lambda conn: workflow.change_conversation_state(
                conn,
                THREAD,
                expected=C.ACTIVE,
                target=C.ARCHIVED,
                event=ConversationEvent.ARCHIVED,
            ),
        )
    assert str(conflict.value) == (
        f"conversation {THREAD} is ARCHIVED, not ACTIVE: changed by nobody on record"
    )
    assert conflict.value.changed_at is None


async def test_a_refused_conversation_move_names_both_states_and_the_event(db):
    await make_inbound(db, THREAD)
    with pytest.raises(workflow.TransitionRefused) as refused:
        await db.write(
            lambda conn: workflow.change_conversation_state(
                conn,
                THREAD,
                expected=C.NEEDS_ATTENTION,
                target=C.ARCHIVED,
                event=ConversationEvent.ARCHIVED,
            ),
        )
    assert str(refused.value).startswith(
        "conversation cannot go from NEEDS_ATTENTION to ARCHIVED on event"
    )
    assert (refused.value.source, refused.value.target) == ("NEEDS_ATTENTION", "ARCHIVED")
    assert refused.value.event == "Conversation Archived"


@pytest.mark.parametrize(
    "change",
    [
        lambda conn: workflow.set_paused(conn, "+19995550000", paused=True, kind=REVIEWER),
        lambda conn: workflow.set_opted_out(conn, "+19995550000", opted_out=True, source="x"),
        lambda conn: workflow.flag_conversation(conn, "+19995550000", "why"),
    ],
)
async def test_an_unknown_thread_is_reported(db, change):
    with pytest.raises(workflow.UnknownRecord, match=r"^no conversation \+19995550000$"):
        await db.write(change)


# ---- pause, resume, opt-out, opt-in


async def test_pausing_keeps_the_reason_and_resuming_clears_it(db):
    ana = await make_reviewer(db, "Ana")
    await make_inbound(db, THREAD)
    opened = (await conversation(db))["last_updated"]
    before = await last_audit_id(db)
    await db.write(
        lambda conn: workflow.set_paused(
            conn,
            THREAD,
            paused=True,
            kind=REVIEWER,
            reason="taking over",
            actor_id=ana.id,
        ),
    )
    paused = await conversation(db)
    assert (paused["paused"], paused["paused_reason"]) == (1, "taking over")
    assert paused["last_updated"] > opened
    await db.write(lambda conn: workflow.set_paused(conn, THREAD, paused=False, kind=REVIEWER))
    resumed = await conversation(db)
    assert (resumed["paused"], resumed["paused_reason"]) == (0, None)
    assert resumed["last_updated"] > paused["last_updated"]
    pause, resume = await audit_rows(db, before)
    assert who(pause) == ("Thread Paused", "Human", ana.id, THREAD, None)
    assert pause["metadata"] == {"reason": "taking over", "kind": "reviewer"}
    assert who(resume) == ("Thread Resumed", "System", None, THREAD, None)
    assert resume["metadata"] == {"reason": None, "kind": "reviewer"}


async def test_resuming_a_thread_that_is_not_paused_is_a_conflict(db):
    await make_inbound(db, THREAD)
    with pytest.raises(workflow.Conflict) as conflict:
        await db.write(lambda conn: workflow.set_paused(conn, THREAD, paused=False, kind=REVIEWER))
    assert (conflict.value.subject, conflict.value.actual) == (f"thread {THREAD}", "not paused")
    assert conflict.value.changed_by == "the system"  # it opened the conversation


async def test_opting_out_and_in_is_recorded_with_its_source(db):
    ana = await make_reviewer(db, "Ana")
    await make_inbound(db, THREAD)
    before = await last_audit_id(db)
    await db.write(
        lambda conn: workflow.set_opted_out(conn, THREAD, opted_out=True, source="keyword")
    )
    assert (await conversation(db))["opted_out"] == 1
    with pytest.raises(workflow.Conflict) as twice:
        await db.write(
            lambda conn: workflow.set_opted_out(conn, THREAD, opted_out=True, source="21610"),
        )
    assert (twice.value.subject, twice.value.actual) == (f"thread {THREAD}", "opted out")
    await db.write(
        lambda conn: workflow.set_opted_out(
            conn, THREAD, opted_out=False, source="reviewer", actor_id=ana.id
        ),
    )
    assert (await conversation(db))["opted_out"] == 0
    with pytest.raises(workflow.Conflict) as again:
        await db.write(
            lambda conn: workflow.set_opted_out(conn, THREAD, opted_out=False, source="keyword"),
        )
    assert (again.value.actual, again.value.changed_by) == ("opted in", "Ana")
    out, back = await audit_rows(db, before)
    assert who(out) == ("Opted Out", "System", None, THREAD, None)
    assert out["metadata"] == {"source": "keyword"}
    assert who(back) == ("Opted In", "Human", ana.id, THREAD, None)
    assert back["metadata"] == {"source": "reviewer"}


async def test_a_conversation_opened_by_a_reviewer_is_audited_as_theirs(db):
    ana = await make_reviewer(db, "Ana")
    before = await last_audit_id(db)
    await db.write(
        lambda conn: workflow.open_conversation(conn, THREAD, Channel.SMS, actor_id=ana.id)
    )
    [audit] = await audit_rows(db, before)
    assert who(audit) == ("Conversation Opened", "Human", ana.id, THREAD, None)


async def test_a_refused_status_change_names_the_type_both_statuses_and_the_event(db):
    inbound = await make_inbound(db, THREAD)
    with pytest.raises(workflow.TransitionRefused) as refused:
        await db.write(
            lambda conn: workflow.change_status(
                conn, inbound, expected=S.RECEIVED, target=S.SENT, event=Event.SEND_ACCEPTED
            )
        )
    assert str(refused.value).startswith("INBOUND message cannot go from RECEIVED to SENT on")
    assert "Send Accepted" in str(refused.value)


async def test_an_unknown_message_is_reported_by_its_id(db):
    with pytest.raises(workflow.UnknownRecord, match="^no message no-such-id$"):
        await db.write(
            lambda conn: workflow.change_status(
                conn,
                "no-such-id",
                expected=S.RECEIVED,
                target=S.NEEDS_REVIEW,
                event=Event.DRAFT_FAILED,
            )
        )


async def test_pausing_a_paused_thread_is_a_conflict_naming_who_paused_it_and_when(db):
    ana = await make_reviewer(db, "Ana")
    await make_inbound(db, THREAD)
    await db.write(
        lambda conn: workflow.set_paused(
            conn, THREAD, paused=True, kind=REVIEWER, reason="mine", actor_id=ana.id
        )
    )
    [paused] = (await audit_rows(db))[-1:]
    with pytest.raises(workflow.Conflict) as conflict:
        await db.write(
            lambda conn: workflow.set_paused(conn, THREAD, paused=True, kind=REVIEWER, reason="x")
        )
    error = conflict.value
    assert (error.subject, error.expected, error.actual) == (
        f"thread {THREAD}",
        "not paused",
        "paused",
    )
    assert (error.changed_by, error.changed_at) == ("Ana", paused["timestamp"])
    assert (await conversation(db))["paused_reason"] == "mine"


async def test_a_reason_given_on_resume_is_audited_but_not_kept_as_a_pause_reason(db):
    await make_inbound(db, THREAD)
    await db.write(
        lambda conn: workflow.set_paused(conn, THREAD, paused=True, kind=REVIEWER, reason="hold")
    )
    before = await last_audit_id(db)
    await db.write(
        lambda conn: workflow.set_paused(conn, THREAD, paused=False, kind=REVIEWER, reason="done")
    )
    row = await conversation(db)
    assert (row["paused"], row["paused_reason"]) == (0, None)
    [resume] = await audit_rows(db, before)
    assert resume["metadata"] == {"reason": "done", "kind": "reviewer"}


async def test_opting_out_twice_is_a_conflict_naming_when_it_happened(db):
    await make_inbound(db, THREAD)
    await db.write(
        lambda conn: workflow.set_opted_out(conn, THREAD, opted_out=True, source="keyword")
    )
    [opted_out] = (await audit_rows(db))[-1:]
    with pytest.raises(workflow.Conflict) as conflict:
        await db.write(
            lambda conn: workflow.set_opted_out(conn, THREAD, opted_out=True, source="21610")
        )
    error = conflict.value
    assert (error.expected, error.actual) == ("not opted out", "opted out")
    assert (error.changed_by, error.changed_at) == ("the system", opted_out["timestamp"])
    assert str(error) == (
        f"thread {THREAD} is already opted out: changed by the system at {opted_out['timestamp']}"
    )
