"""Random sequences of everything that can happen to threads, checked after every step.

The machine drives the real review actions and workflow funnel against a real SQLite file;
after each step it checks the invariants of DESIGN §6 that the foundation owns.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from approval_bot import audit, inbound, review, workflow
from approval_bot.db import Database, Priority
from approval_bot.models import (
    Channel,
    ConversationEvent,
    ConversationState,
    DecisionChannel,
    Event,
    MessageStatus,
    MessageType,
    PauseKind,
)
from tests.builders import make_draft, make_inbound, make_reviewer

S = MessageStatus
THREADS = ["+14155550100", "+14155550101"]
LIVE = (S.DRAFT_PENDING_APPROVAL, S.APPROVED_TO_SEND, S.PAUSED_THREAD)
_DRAFTABLE = (S.RECEIVED, S.NEEDS_REVIEW)
EXPECTED_REFUSALS = (
    workflow.Conflict,
    workflow.TransitionRefused,
    review.ThreadClosed,
    review.NoOptOutRequest,
)
# texts whose meaning the conversation rules act on, through the webhook's own path
MEANINGFUL = {
    "soft no": "no thanks",
    "confused": "who is this??",
    "opt-out request": "please stop texting me",
    "not an opt-out": "can you stop by at 3?",
    "ordinary": "Are you open today?",
}


class WorkflowMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = tempfile.TemporaryDirectory()
        self.db: Database = self.run(self._open(Path(self.tmp.name) / "machine.sqlite3"))
        self.reviewers = [self.run(make_reviewer(self.db, name)).id for name in ("Ana", "Bob")]

    async def _open(self, path: Path) -> Database:
        db = await Database.open(path)
        await db.migrate()
        return db

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.run(self.db.close())
        self.loop.close()
        self.tmp.cleanup()

    # --- reading the database -------------------------------------------------------------

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return list(self.run(self.db.fetchall(sql, params)))

    def ids(self, where: str, params: tuple[Any, ...] = ()) -> list[str]:
        return [row["id"] for row in self.rows(f"SELECT id FROM messages WHERE {where}", params)]

    def thread_open(self, thread_id: str) -> bool:
        row = self.rows("SELECT paused FROM thread_controls WHERE thread_id = ?", (thread_id,))
        return bool(row) and not row[0]["paused"]

    def attempt(self, coroutine: Any, should_succeed: bool) -> None:
        """Run an action; it must succeed exactly when the model says it may."""
        try:
            self.run(coroutine)
        except EXPECTED_REFUSALS:
            assert not should_succeed, "an allowed action was refused"
        else:
            assert should_succeed, "a forbidden action went through"

    def status(self, message_id: str) -> S:
        return S(self.rows("SELECT status FROM messages WHERE id = ?", (message_id,))[0]["status"])

    def thread_of(self, message_id: str) -> str:
        row = self.rows("SELECT thread_id FROM messages WHERE id = ?", (message_id,))
        return str(row[0]["thread_id"])

    # --- what can happen ------------------------------------------------------------------

    @rule(thread=st.sampled_from(THREADS), body=st.text(min_size=1, max_size=20))
    def customer_writes(self, thread: str, body: str) -> None:
        if self.rows("SELECT 1 FROM conversations WHERE thread_id = ?", (thread,)) and not (
            self.thread_open(thread)
        ):
            self.run(self._held_inbound(thread, body))
        else:
            self.run(make_inbound(self.db, thread, body))

    async def _held_inbound(self, thread: str, body: str) -> None:
        def change(conn: sqlite3.Connection) -> Any:
            workflow.create_message(
                conn,
                type=MessageType.INBOUND,
                event=Event.HELD,
                thread_id=thread,
                sender=thread,
                receiver="+14155550199",
                body=body,
            )

        await self.db.write(change)

    @precondition(lambda self: self.ids("type = 'INBOUND' AND status IN (?, ?)", _DRAFTABLE))
    @rule(data=st.data())
    def drafter_answers(self, data: st.DataObject) -> None:
        inbound = data.draw(
            st.sampled_from(self.ids("type = 'INBOUND' AND status IN (?, ?)", _DRAFTABLE))
        )
        if self.thread_open(self.thread_of(inbound)):
            self.run(make_draft(self.db, inbound, "Draft reply"))

    @precondition(lambda self: self.ids("type != 'INBOUND'"))
    @rule(data=st.data(), who=st.integers(0, 1))
    def reviewer_approves(self, data: st.DataObject, who: int) -> None:
        reply = data.draw(st.sampled_from(self.ids("type != 'INBOUND'")))
        allowed = self.status(reply) == S.DRAFT_PENDING_APPROVAL and self.thread_open(
            self.thread_of(reply)
        )
        decision = review.Decision(self.reviewers[who], DecisionChannel.WEB)
        self.attempt(review.approve(self.db, reply, decision), allowed)

    @precondition(lambda self: self.ids("type != 'INBOUND'"))
    @rule(data=st.data(), approve=st.booleans(), body=st.text(min_size=1, max_size=20))
    def reviewer_edits(self, data: st.DataObject, approve: bool, body: str) -> None:
        reply = data.draw(st.sampled_from(self.ids("type != 'INBOUND'")))
        allowed = self.status(reply) == S.DRAFT_PENDING_APPROVAL
        if approve:
            allowed = allowed and self.thread_open(self.thread_of(reply))
        decision = review.Decision(self.reviewers[0], DecisionChannel.SMS)
        if not body.strip():
            body = "edited"
        self.attempt(review.edit(self.db, reply, body, decision, approve=approve), allowed)

    @precondition(lambda self: self.ids("type != 'INBOUND'"))
    @rule(data=st.data())
    def reviewer_rejects(self, data: st.DataObject) -> None:
        reply = data.draw(st.sampled_from(self.ids("type != 'INBOUND'")))
        allowed = self.status(reply) == S.DRAFT_PENDING_APPROVAL
        decision = review.Decision(self.reviewers[1], DecisionChannel.API, notes="no")
        self.attempt(review.reject(self.db, reply, decision), allowed)

    @precondition(lambda self: self.rows("SELECT 1 FROM conversations"))
    @rule(thread=st.sampled_from(THREADS))
    def reviewer_writes_own_reply(self, thread: str) -> None:
        known = bool(self.rows("SELECT 1 FROM conversations WHERE thread_id = ?", (thread,)))
        if not known:
            return
        coroutine = review.write_reply(
            self.db, thread, "Human words", self.reviewers[0], in_reply_to_id=None
        )
        self.attempt(coroutine, self.thread_open(thread))

    @precondition(lambda self: self.rows("SELECT 1 FROM conversations"))
    @rule(thread=st.sampled_from(THREADS), pause=st.booleans())
    def reviewer_pauses_or_resumes(self, thread: str, pause: bool) -> None:
        if not self.rows("SELECT 1 FROM conversations WHERE thread_id = ?", (thread,)):
            return
        is_open = self.thread_open(thread)
        if pause:
            coroutine = review.pause_thread(self.db, thread, "taking over", self.reviewers[1])
            self.attempt(coroutine, is_open)
        else:
            self.attempt(review.resume_thread(self.db, thread, self.reviewers[1]), not is_open)

    @precondition(lambda self: self.ids("status = ?", (S.APPROVED_TO_SEND,)))
    @rule(data=st.data(), accepted=st.booleans())
    def gateway_answers(self, data: st.DataObject, accepted: bool) -> None:
        reply = data.draw(st.sampled_from(self.ids("status = ?", (S.APPROVED_TO_SEND,))))
        self.run(self._send_outcome(reply, accepted))

    async def _send_outcome(self, reply: str, accepted: bool) -> None:
        def change(conn: sqlite3.Connection) -> Any:
            if accepted:
                workflow.change_status(
                    conn,
                    reply,
                    expected=S.APPROVED_TO_SEND,
                    target=S.SENT,
                    event=Event.SEND_ACCEPTED,
                    provider_sid=f"SM{reply.replace('-', '')}",
                    delivery_status="queued",
                )
            else:
                workflow.change_status(
                    conn,
                    reply,
                    expected=S.APPROVED_TO_SEND,
                    target=S.FAILED_SEND,
                    event=Event.SEND_FAILED,
                    error_code=21211,
                    error_message="invalid 'To' number",
                )

        await self.db.write(change)

    def controls(self, thread_id: str) -> Any:
        rows = self.rows(
            """
            SELECT * FROM conversations JOIN thread_controls USING (thread_id)
            WHERE thread_id = ?
            """,
            (thread_id,),
        )
        return rows[0] if rows else None

    @rule(thread=st.sampled_from(THREADS), meaning=st.sampled_from(sorted(MEANINGFUL)))
    def customer_texts_through_the_webhook(self, thread: str, meaning: str) -> None:
        self.sids = getattr(self, "sids", 0) + 1
        sms = inbound.InboundSms(
            message_sid=f"SM{self.sids:032x}",
            sender=thread,
            receiver="+14155550199",
            body=MEANINGFUL[meaning],
            channel=Channel.SMS,
        )
        self.run(inbound.receive_sms(self.db, sms))

    @precondition(lambda self: self.rows("SELECT 1 FROM conversations"))
    @rule(thread=st.sampled_from(THREADS), confirm=st.booleans(), who=st.integers(0, 1))
    def reviewer_answers_an_opt_out_request(self, thread: str, confirm: bool, who: int) -> None:
        row = self.controls(thread)
        if row is None:
            return
        held = row["pause_kind"] == PauseKind.OPT_OUT_REQUEST
        if confirm:
            self.attempt(review.confirm_opt_out(self.db, thread, self.reviewers[who]), held)
            if held:
                after = self.controls(thread)
                assert (after["opted_out"], after["pause_kind"]) == (1, PauseKind.OPT_OUT)
        else:
            allowed = held and not row["opted_out"]
            self.attempt(review.not_opt_out(self.db, thread, self.reviewers[who]), allowed)

    @precondition(lambda self: self.rows("SELECT 1 FROM conversations WHERE state = 'ACTIVE'"))
    @rule(thread=st.sampled_from(THREADS))
    def thread_goes_quiet_and_is_archived(self, thread: str) -> None:
        row = self.controls(thread)
        if row is None or row["state"] != ConversationState.ACTIVE:
            return

        def archive(conn: sqlite3.Connection) -> None:
            workflow.change_conversation_state(
                conn,
                thread,
                expected=ConversationState.ACTIVE,
                target=ConversationState.ARCHIVED,
                event=ConversationEvent.ARCHIVED,
                reason="no activity",
            )

        self.run(self.db.write(archive, priority=Priority.BULK))

    # --- what must always hold ------------------------------------------------------------

    @invariant()
    def the_counters_count_flagged_texts_in_the_current_contact(self) -> None:
        for conversation in self.rows("SELECT * FROM conversations"):
            thread = conversation["thread_id"]
            starts = self.rows(
                "SELECT max(id) AS id FROM audit_log WHERE thread_id = ? AND event = ?",
                (thread, "Contact Started"),
            )
            since = starts[0]["id"] or 0
            texts = self.rows(
                """
                SELECT messages.understanding FROM messages
                WHERE thread_id = ? AND type = 'INBOUND' AND understanding IS NOT NULL
                  AND (SELECT min(id) FROM audit_log WHERE message_id = messages.id) > ?
                """,
                (thread, since),
            )
            flags = [json.loads(row["understanding"]) for row in texts]
            assert conversation["soft_no_count"] == sum(f["soft_no"] for f in flags)
            assert conversation["confusion_count"] == sum(f["confused"] for f in flags)
            contacts = self.rows(
                "SELECT count(*) AS n FROM audit_log WHERE thread_id = ? AND event = ?",
                (thread, "Contact Started"),
            )
            assert conversation["contact_count"] == 1 + contacts[0]["n"]

    @invariant()
    def a_text_held_as_an_opt_out_request_is_never_drafted(self) -> None:
        for row in self.rows(
            """
            SELECT thread_id FROM thread_controls WHERE pause_kind = 'opt_out_request'
            """
        ):
            controls = self.controls(row["thread_id"])
            assert controls["paused"] == 1
            # the text that asked to stop is held, with no reply answering it
            latest = self.rows(
                """
                SELECT id, status FROM messages WHERE thread_id = ? AND type = 'INBOUND'
                ORDER BY timestamp DESC LIMIT 1
                """,
                (row["thread_id"],),
            )
            assert latest[0]["status"] == S.PAUSED_THREAD

    @invariant()
    def every_status_change_has_exactly_one_audit_row(self) -> None:
        for message in self.rows("SELECT id, status FROM messages"):
            changes = [
                json.loads(row["metadata"])
                for row in self.rows(
                    "SELECT metadata, event FROM audit_log WHERE message_id = ? ORDER BY id",
                    (message["id"],),
                )
                if row["event"] in set(Event)  # a status change, not what the text meant
            ]
            assert changes and changes[0]["from"] is None
            for before, after in zip(changes, changes[1:], strict=False):
                assert after["from"] == before["to"], "a status change went unaudited"
            assert changes[-1]["to"] == message["status"]

    @invariant()
    def a_thread_has_at_most_one_live_reply(self) -> None:
        for row in self.rows(
            """
            SELECT thread_id, count(*) AS n FROM messages
            WHERE type != 'INBOUND' AND status IN (?, ?, ?) GROUP BY thread_id
            """,
            LIVE,
        ):
            assert row["n"] <= 1, f"{row['n']} live replies on {row['thread_id']}"

    @invariant()
    def nothing_is_sent_without_a_human_decision_first(self) -> None:
        for sent in self.rows("SELECT id, type FROM messages WHERE status IN ('SENT')"):
            decided = self.rows(
                """
                SELECT audit_log.id FROM audit_log
                WHERE message_id = ? AND actor = 'Human' AND event IN (?, ?)
                """,
                (sent["id"], Event.APPROVE, Event.HUMAN_REPLY),
            )
            sent_at = self.rows(
                "SELECT id FROM audit_log WHERE message_id = ? AND event = ?",
                (sent["id"], Event.SEND_ACCEPTED),
            )
            assert decided and decided[0]["id"] < sent_at[0]["id"]
            if sent["type"] == MessageType.DRAFT:
                approvals = self.rows(
                    "SELECT 1 FROM approvals WHERE draft_id = ? AND action IN ('APPROVE', 'EDIT')",
                    (sent["id"],),
                )
                assert approvals, "a draft was sent without an approvals row"

    @invariant()
    def a_paused_thread_has_nothing_waiting_to_go(self) -> None:
        waiting = self.rows(
            """
            SELECT messages.id FROM messages JOIN thread_controls USING (thread_id)
            WHERE thread_controls.paused = 1 AND messages.type != 'INBOUND'
              AND messages.status IN (?, ?)
            """,
            (S.DRAFT_PENDING_APPROVAL, S.APPROVED_TO_SEND),
        )
        assert not waiting

    @invariant()
    def the_audit_chain_verifies(self) -> None:
        async def check() -> audit.Verification:
            async with self.db.snapshot() as conn:
                return await audit.verify(conn)

        result = self.run(check())
        assert result.ok, result.describe()


WorkflowMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestWorkflowMachine = WorkflowMachine.TestCase
