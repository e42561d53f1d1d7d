"""Random sequences of everything that can happen to threads, checked after every step.

The machine drives the real review actions and workflow funnel against a real SQLite file,
and against a real PostgreSQL database; after each step it checks the invariants of DESIGN §6
that the foundation owns.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from approval_bot import audit, inbound, review, sending_gate, workflow, worklists
from approval_bot.inbound import InboundSms
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
from approval_bot.store import Priority, Store, Tx, open_store
from approval_bot.store import messages as message_rows
from approval_bot.store.sql import sql
from tests.builders import BUSINESS, make_draft, make_reviewer

from .conftest import database_url, postgres_url

S = MessageStatus
THREADS = ["+14155550100", "+14155550101"]
LIVE = (S.DRAFT_PENDING_APPROVAL, S.APPROVED_TO_SEND, S.PAUSED_THREAD)
_DRAFTABLE = {"a": S.RECEIVED, "b": S.NEEDS_REVIEW}
DRAFTABLE = "type = 'INBOUND' AND status IN (:a, :b)"
EXPECTED_REFUSALS = (
    workflow.Conflict,
    workflow.TransitionRefused,
    review.ThreadClosed,
    review.HeldByOther,
    review.NothingToDo,
    review.NoOptOutRequest,
    review.UnsendableText,
)
# what customers write: ordinary texts, the keywords that change a thread, and texts whose
# meaning the conversation rules act on (a soft no, confusion, an opt-out in plain words, and
# one that only looks like it)
CUSTOMER_TEXTS = [
    "Are you open?",
    "hello",
    "thanks",
    "STOP",
    "START",
    "HELP",
    "no thanks",
    "who is this??",
    "please stop texting me",
    "can you stop by at 3?",
]


class WorkflowMachine(RuleBasedStateMachine):
    # a fresh database for each example: a file of its own, or a PostgreSQL database made
    # from the migrated template and dropped at teardown (set by the test on PostgreSQL)
    postgres: tuple[Callable[[], str], Callable[[str], None]] | None = None

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = tempfile.TemporaryDirectory()
        self.database: str | None = None
        target: str | Path = Path(self.tmp.name) / "machine.sqlite3"
        if self.postgres is not None:
            self.database = target = self.postgres[0]()
        self.db: Store = self.run(self._open(target))
        self.reviewers = [self.run(make_reviewer(self.db, name)).id for name in ("Ana", "Bob")]

    async def _open(self, target: str | Path) -> Store:
        db = await open_store(target)
        await db.migrate()
        await sending_gate.ensure(db, sandbox=True)  # the first start, in sandbox mode
        return db

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.run(self.db.close())
        self.loop.close()
        self.tmp.cleanup()
        if self.postgres is not None and self.database is not None:
            self.postgres[1](self.database)

    # --- reading the database -------------------------------------------------------------

    def rows(self, text: str, **params: Any) -> list[Any]:
        return list(self.run(self.db.all(sql(text), **params)))

    def ids(self, where: str, **params: Any) -> list[str]:
        return [row["id"] for row in self.rows(f"SELECT id FROM messages WHERE {where}", **params)]

    def thread_open(self, thread_id: str) -> bool:
        row = self.rows("SELECT paused FROM thread_controls WHERE thread_id = :t", t=thread_id)
        return bool(row) and not row[0]["paused"]

    def controls(self, thread_id: str) -> Any:
        rows = self.rows(
            """
            SELECT * FROM conversations JOIN thread_controls USING (thread_id)
            WHERE thread_id = :t
            """,
            t=thread_id,
        )
        return rows[0] if rows else None

    def bot_may_draft(self, thread_id: str) -> bool:
        """As the drafting service decides: not paused, opted out, closed or taken over."""
        c = self.controls(thread_id)
        return bool(c) and not (
            c["paused"] or c["opted_out"] or c["state"] == "CLOSED" or c["taken_over_by"]
        )

    def attempt(self, coroutine: Any, should_succeed: bool) -> None:
        """Run an action; it must succeed exactly when the model says it may."""
        try:
            self.run(coroutine)
        except EXPECTED_REFUSALS:
            assert not should_succeed, "an allowed action was refused"
        else:
            assert should_succeed, "a forbidden action went through"

    def status(self, message_id: str) -> S:
        return S(
            self.rows("SELECT status FROM messages WHERE id = :id", id=message_id)[0]["status"]
        )

    def thread_of(self, message_id: str) -> str:
        row = self.rows("SELECT thread_id FROM messages WHERE id = :id", id=message_id)
        return str(row[0]["thread_id"])

    # --- what can happen ------------------------------------------------------------------

    @rule(thread=st.sampled_from(THREADS), body=st.sampled_from(CUSTOMER_TEXTS))
    def customer_writes(self, thread: str, body: str) -> None:
        # the webhook's own path: keywords, pauses, takeovers, the override window, closes
        sms = InboundSms("SM" + uuid.uuid4().hex, thread, BUSINESS, body, Channel.SMS)
        self.run(inbound.receive_sms(self.db, sms))

    @precondition(lambda self: self.ids(DRAFTABLE, **_DRAFTABLE))
    @rule(data=st.data())
    def drafter_answers(self, data: st.DataObject) -> None:
        inbound = data.draw(st.sampled_from(self.ids(DRAFTABLE, **_DRAFTABLE)))
        # the bot drafts a thread's latest waiting text, and a reviewer's redraft of an
        # older text is refused while a newer one is being drafted or has a draft pending
        newer = self.rows(
            """
            SELECT 1 FROM messages AS newer JOIN messages AS text USING (thread_id)
            WHERE text.id = :id AND newer.type = 'INBOUND' AND newer.timestamp > text.timestamp
              AND newer.status IN (:a, :b)
            """,
            id=inbound,
            a=S.RECEIVED,
            b=S.DRAFT_PENDING_APPROVAL,
        )
        if self.bot_may_draft(self.thread_of(inbound)) and not newer:
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
        allowed = allowed and "\x00" not in body  # no SMS carries a NUL
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
        c = self.controls(thread)
        if c is None or not self.rows(
            "SELECT 1 FROM messages WHERE thread_id = :t AND type = 'INBOUND'", t=thread
        ):
            return
        # a manager's reply resolves a reviewer's pause or an escalation; never to an
        # opted-out customer, nor on a closed conversation
        allowed = (
            not c["opted_out"]
            and c["state"] != "CLOSED"
            and (not c["paused"] or c["pause_kind"] in ("reviewer", "escalation"))
        )
        coroutine = review.write_reply(
            self.db, thread, "Human words", self.reviewers[0], in_reply_to_id=None
        )
        self.attempt(coroutine, allowed)
        if allowed and (c["paused"] or c["state"] == "NEEDS_ATTENTION"):
            after = self.controls(thread)
            # the reply lifts the pause and resolves the attention; an ARCHIVED thread stays
            # archived (DESIGN: only a customer's text starts the next contact)
            resolved = "ACTIVE" if c["state"] == "NEEDS_ATTENTION" else c["state"]
            assert not after["paused"] and after["state"] == resolved
            assert after["taken_over_by"] is not None

    @precondition(lambda self: self.rows("SELECT 1 FROM conversations"))
    @rule(thread=st.sampled_from(THREADS), who=st.integers(0, 1))
    def reviewer_takes_over(self, thread: str, who: int) -> None:
        c = self.controls(thread)
        if c is None:
            return
        allowed = c["taken_over_by"] in (None, self.reviewers[who])
        self.attempt(review.take_over(self.db, thread, self.reviewers[who]), allowed)
        if allowed:
            assert self.controls(thread)["taken_over_by"] == self.reviewers[who]

    @precondition(lambda self: self.rows("SELECT 1 FROM conversations"))
    @rule(thread=st.sampled_from(THREADS), who=st.integers(0, 1))
    def reviewer_releases(self, thread: str, who: int) -> None:
        c = self.controls(thread)
        if c is None:
            return
        allowed = c["taken_over_by"] == self.reviewers[who]
        self.attempt(review.release(self.db, thread, self.reviewers[who]), allowed)

    @precondition(lambda self: self.rows("SELECT 1 FROM conversations"))
    @rule(thread=st.sampled_from(THREADS))
    def reviewer_closes(self, thread: str) -> None:
        c = self.controls(thread)
        if c is None:
            return
        self.attempt(review.close(self.db, thread, self.reviewers[1]), c["state"] != "CLOSED")

    @precondition(lambda self: self.rows("SELECT 1 FROM conversations"))
    @rule(thread=st.sampled_from(THREADS))
    def reviewer_dismisses(self, thread: str) -> None:
        c = self.controls(thread)
        if c is None:
            return
        waiting = [w for w in self.places(thread).values() if w is not worklists.WorkList.QUEUE]
        self.attempt(review.dismiss(self.db, thread, self.reviewers[0], ""), bool(waiting))

    @precondition(lambda self: self.rows("SELECT 1 FROM conversations"))
    @rule(thread=st.sampled_from(THREADS))
    def reviewer_marks_dealt_with(self, thread: str) -> None:
        c = self.controls(thread)
        if c is None:
            return
        allowed = c["state"] == "NEEDS_ATTENTION"
        self.attempt(review.resolve_attention(self.db, thread, self.reviewers[0]), allowed)

    @precondition(lambda self: self.rows("SELECT 1 FROM conversations"))
    @rule(thread=st.sampled_from(THREADS))
    def reviewer_escalates(self, thread: str) -> None:
        if self.controls(thread) is not None:
            self.run(review.escalate(self.db, thread, "a human must look", self.reviewers[1]))

    def places(self, thread: str) -> dict[str, worklists.WorkList | None]:
        return dict(
            self.run(
                self.db.write(lambda conn: worklists.place(conn, thread), priority=Priority.BULK)
            )
        )

    @precondition(lambda self: self.rows("SELECT 1 FROM conversations"))
    @rule(thread=st.sampled_from(THREADS), pause=st.booleans())
    def reviewer_pauses_or_resumes(self, thread: str, pause: bool) -> None:
        if not self.rows("SELECT 1 FROM conversations WHERE thread_id = :t", t=thread):
            return
        is_open = self.thread_open(thread)
        if pause:
            coroutine = review.pause_thread(self.db, thread, "taking over", self.reviewers[1])
            self.attempt(coroutine, is_open)
        else:
            c = self.controls(thread)
            allowed = not is_open and not c["opted_out"]
            self.attempt(review.resume_thread(self.db, thread, self.reviewers[1]), allowed)

    @precondition(lambda self: self.ids("status = :s", s=S.APPROVED_TO_SEND))
    @rule(data=st.data(), accepted=st.booleans())
    def gateway_answers(self, data: st.DataObject, accepted: bool) -> None:
        reply = data.draw(st.sampled_from(self.ids("status = :s", s=S.APPROVED_TO_SEND)))
        self.run(self._send_outcome(reply, accepted))

    async def _send_outcome(self, reply: str, accepted: bool) -> None:
        def change(conn: Tx) -> Any:
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
                # as the sender does: a human looks at a send that failed
                sent = message_rows.state(conn, reply)
                assert sent is not None
                thread = sent.thread_id
                workflow.flag_conversation(conn, thread, "a reply failed to send")

        await self.db.write(change)

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

        def archive(conn: Tx) -> None:
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
                "SELECT max(id) AS id FROM audit_log WHERE thread_id = :t AND event = :e",
                t=thread,
                e="Contact Started",
            )
            since = starts[0]["id"] or 0
            texts = self.rows(
                """
                SELECT messages.understanding FROM messages
                WHERE thread_id = :t AND type = 'INBOUND' AND understanding IS NOT NULL
                  AND (SELECT min(id) FROM audit_log WHERE message_id = messages.id) > :since
                """,
                t=thread,
                since=since,
            )
            flags = [json.loads(row["understanding"]) for row in texts]
            assert conversation["soft_no_count"] == sum(f["soft_no"] for f in flags)
            assert conversation["confusion_count"] == sum(f["confused"] for f in flags)
            contacts = self.rows(
                "SELECT count(*) AS n FROM audit_log WHERE thread_id = :t AND event = :e",
                t=thread,
                e="Contact Started",
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
            # the text that asked to stop is held for a human (or on their list after a
            # close and "dealt with"): never waiting for the bot, never answered by a draft
            latest = self.rows(
                """
                SELECT id, status FROM messages WHERE thread_id = :t AND type = 'INBOUND'
                ORDER BY timestamp DESC LIMIT 1
                """,
                t=row["thread_id"],
            )
            assert latest[0]["status"] in (S.PAUSED_THREAD, S.NEEDS_REVIEW)
            assert not self.ids("type = 'DRAFT' AND in_reply_to_id = :id", id=latest[0]["id"])

    @invariant()
    def every_status_change_has_exactly_one_audit_row(self) -> None:
        for message in self.rows("SELECT id, status FROM messages"):
            changes = [
                json.loads(row["metadata"])
                for row in self.rows(
                    "SELECT metadata, event FROM audit_log WHERE message_id = :id ORDER BY id",
                    id=message["id"],
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
            WHERE type != 'INBOUND' AND status IN (:a, :b, :c) GROUP BY thread_id
            """,
            **dict(zip("abc", LIVE, strict=True)),
        ):
            assert row["n"] <= 1, f"{row['n']} live replies on {row['thread_id']}"

    @invariant()
    def nothing_is_sent_without_a_human_decision_first(self) -> None:
        for sent in self.rows("SELECT id, type FROM messages WHERE status IN ('SENT')"):
            decided = self.rows(
                """
                SELECT audit_log.id FROM audit_log
                WHERE message_id = :id AND actor = 'Human' AND event IN (:a, :b)
                """,
                id=sent["id"],
                a=Event.APPROVE,
                b=Event.HUMAN_REPLY,
            )
            sent_at = self.rows(
                "SELECT id FROM audit_log WHERE message_id = :id AND event = :e",
                id=sent["id"],
                e=Event.SEND_ACCEPTED,
            )
            assert decided and decided[0]["id"] < sent_at[0]["id"]
            if sent["type"] == MessageType.DRAFT:
                approvals = self.rows(
                    "SELECT 1 FROM approvals"
                    " WHERE draft_id = :id AND action IN ('APPROVE', 'EDIT')",
                    id=sent["id"],
                )
                assert approvals, "a draft was sent without an approvals row"

    @invariant()
    def a_paused_thread_has_nothing_waiting_to_go(self) -> None:
        waiting = self.rows(
            """
            SELECT messages.id FROM messages JOIN thread_controls USING (thread_id)
            WHERE thread_controls.paused = 1 AND messages.type != 'INBOUND'
              AND messages.status IN (:a, :b)
            """,
            a=S.DRAFT_PENDING_APPROVAL,
            b=S.APPROVED_TO_SEND,
        )
        assert not waiting

    @invariant()
    def every_unanswered_customer_text_is_on_exactly_one_list(self) -> None:
        # issue 13: "every customer text that has no live reply and is not answered is on
        # exactly one work list (Queue, Needs reply or Attention)"
        for thread in THREADS:
            for text, where in self.places(thread).items():
                assert where is not None, f"text {text} of {thread} is on no list"

    @invariant()
    def the_audit_chain_verifies(self) -> None:
        async def check() -> audit.Verification:
            async with self.db.snapshot() as conn:
                return await audit.verify(conn)

        result = self.run(check())
        assert result.ok, result.describe()


# PostgreSQL runs a quarter of SQLite's examples: each step's reads and writes cross a
# socket, and each example makes and drops a database, so 40 would add minutes to the suite
EXAMPLES = {"sqlite": 40, "postgres": 10}


@pytest.mark.both_backends
def test_workflow_machine(backend: str, request: pytest.FixtureRequest) -> None:
    machine: type[WorkflowMachine] = WorkflowMachine
    if backend == "postgres":
        databases = request.getfixturevalue("_pg_databases")[0]
        server = postgres_url()

        def make() -> str:
            return database_url(server, databases.take())

        def drop(url: str) -> None:
            databases.drop(urlsplit(url).path.lstrip("/"))

        machine = type("PostgresWorkflowMachine", (WorkflowMachine,), {"postgres": (make, drop)})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES[backend],
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
