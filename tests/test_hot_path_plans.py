"""Every statement the webhook, drafting, review and sender paths run uses an index.

On a database with a history (thousands of messages over many threads, a code for each
draft, audit rows, approvals, reviewer texts) the real paths run end to end: signed
webhooks through the ASGI app, drafting, an approve from the web queue, sends through the
real `twilio` client to the fake Twilio (one of them failing first), a delivery callback,
reviewers' SMS commands, a customer's STOP and START, a missed call, and the job that
prunes codes. Each distinct statement is traced from the app's own connections, and its
`EXPLAIN QUERY PLAN` taken without `ANALYZE` (the app never runs it) must not scan a
table that grows with history: such a statement gets slower every day.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from approval_bot import (
    accounts,
    draft_codes,
    event_delivery,
    ladder,
    message_templates,
    review,
    webhooks,
)
from approval_bot.app import create_app
from approval_bot.models import Role, SlaStep
from approval_bot.store import Tx, opened, webhook_events
from tests import fake_twilio
from tests.builders import approve_sending, make_reviewer
from tests.fake_twilio import FakeTwilio
from tests.fake_webhook_receiver import FakeReceiver
from tests.history_seed import REVIEWERS, seed_history
from tests.query_plans import Tracer, full_scans, shape, trace
from tests.test_reviewer_sms_end_to_end import wait_for
from tests.twilio_client import BUSINESS, CUSTOMER, PUBLIC, Twilio
from tests.webclient import Web

ANA, BOB = (phone for _, phone in REVIEWERS)
OLD_THREAD = "+16282000007"  # one of the seeded threads
HELD_THREAD = "+16282000008"  # another, for the takeover steps
FAILING = "+14155550177"  # the fake answers its first send with a 500
CALLER = "+14155550178"
CLAIMED = "+14155550179"  # a new customer whose draft reviewers claim
WAITING = "+14155550180"  # a reply nobody decides: the review-deadline ladder's

_QUEUE = "reads the partial index of pending replies: as long as the queue, not the history"
_TRANSIENT = "the sender's due rows: a status rows leave once sent, so as many as are in flight"
# statements whose scan is bounded, each with the reason
ALLOWED: dict[str, str] = {
    # sender: due messages (APPROVED_TO_SEND) and due reviewer texts (PENDING)
    "SELECT messages.*, conversations.channel AS thread_channel FROM messages JOIN"
    " conversations USING (thread_id) WHERE messages.status = ? AND ((messages.claimed_at IS"
    " NULL AND (messages.next_attempt_at IS NULL OR messages.next_attempt_at <= ?)) OR"
    " messages.claimed_at <= ?) ORDER BY messages.timestamp LIMIT ?": _TRANSIENT,
    "SELECT notifications.*, reviewers.phone, reviewers.active, reviewers.notify_sms,"
    " reviewers.sms_opted_out, messages.type AS draft_type, messages.status AS draft_status"
    " FROM notifications JOIN reviewers ON reviewers.id = notifications.reviewer_id"
    " LEFT JOIN messages ON messages.id = notifications.draft_id"
    " WHERE notifications.status = ? AND ((notifications.claimed_at IS NULL AND"
    " (notifications.next_attempt_at IS NULL OR notifications.next_attempt_at <= ?)) OR"
    " notifications.claimed_at <= ?) ORDER BY notifications.created_at LIMIT ?": _TRANSIENT,
    # store/views/queue.py: the queue's size and newest card (the web queue and its updates)
    "SELECT count(*) AS n FROM messages INDEXED BY messages_pending_replies WHERE status = ?"
    " AND type IN (?, ?)": _QUEUE,
    "SELECT updated_at, id FROM messages INDEXED BY messages_pending_by_change WHERE status = ?"
    " AND type IN (?, ?) ORDER BY updated_at DESC, id DESC LIMIT ?": _QUEUE,
    # the queue's live updates: a keyset over the partial index of pending replies in the
    # order they became pending, from the page's watermark on (no sort)
    "SELECT id, updated_at FROM messages INDEXED BY messages_pending_by_change WHERE status = ?"
    " AND type IN (?, ?) AND (updated_at, id) > (?, ?) ORDER BY updated_at, id LIMIT ?": _QUEUE,
    # views.queue.queue: the queue page by urgency, a page of cards from the first, through the
    # partial index of open clocks (one per pending reply)
    "SELECT messages.id, messages.thread_id, messages.body, messages.type, messages.status,"
    " messages.timestamp, messages.draft_version, messages.channel, messages.draft_meta,"
    " messages.in_reply_to_id, messages.sentiment, conversations.state AS conversation_state,"
    " conversations.sentiment AS conversation_sentiment, conversations.attention_reason,"
    " conversations.opted_out, conversations.soft_no_count, conversations.confusion_count,"
    " conversations.channel AS thread_channel, thread_controls.paused,"
    " thread_controls.paused_reason, thread_controls.pause_kind,"
    " thread_controls.taken_over_by AS holder_id, thread_controls.taken_over_at AS held_since,"
    " holder.name AS holder_name,"
    " review_clocks.started_at AS clock_started_at, review_clocks.step AS clock_step,"
    " review_clocks.next_step AS clock_next_step, review_clocks.due_at AS clock_due_at"
    " , review_clocks.urgency FROM review_clocks INDEXED BY review_clocks_urgency JOIN"
    " messages ON messages.id = review_clocks.draft_id JOIN conversations ON"
    " conversations.thread_id = messages.thread_id JOIN thread_controls ON"
    " thread_controls.thread_id = messages.thread_id LEFT JOIN reviewers AS holder ON"
    " holder.id = thread_controls.taken_over_by WHERE review_clocks.closed_at IS NULL"
    " AND messages.status = ? AND messages.type IN (?, ?) AND (review_clocks.urgency,"
    " review_clocks.draft_id) > (?, ?) ORDER BY review_clocks.urgency, review_clocks.draft_id"
    " LIMIT ?": _QUEUE,
    # views.queue.drafts: the API's pending drafts, a page of cards from the first
    "SELECT messages.id, messages.thread_id, messages.body, messages.type, messages.status,"
    " messages.timestamp, messages.draft_version, messages.channel, messages.draft_meta,"
    " messages.in_reply_to_id, messages.sentiment, conversations.state AS conversation_state,"
    " conversations.sentiment AS conversation_sentiment, conversations.attention_reason,"
    " conversations.opted_out, conversations.soft_no_count, conversations.confusion_count,"
    " conversations.channel AS thread_channel, thread_controls.paused,"
    " thread_controls.paused_reason, thread_controls.pause_kind,"
    " thread_controls.taken_over_by AS holder_id, thread_controls.taken_over_at AS held_since,"
    " holder.name AS holder_name,"
    " review_clocks.started_at AS clock_started_at, review_clocks.step AS clock_step,"
    " review_clocks.next_step AS clock_next_step, review_clocks.due_at AS clock_due_at"
    " FROM messages INDEXED BY messages_pending_replies JOIN conversations ON"
    " conversations.thread_id = messages.thread_id JOIN thread_controls ON"
    " thread_controls.thread_id = messages.thread_id LEFT JOIN reviewers AS holder ON"
    " holder.id = thread_controls.taken_over_by LEFT JOIN review_clocks ON"
    " review_clocks.draft_id = messages.id AND review_clocks.closed_at IS NULL WHERE"
    " messages.status = ? AND messages.type IN (?, ?) AND (messages.timestamp, messages.id) >"
    " (?, ?) ORDER BY messages.timestamp, messages.id LIMIT ?": _QUEUE,
    # event_delivery.claim: the head of each subscription's conversation queue, among the
    # pending deliveries (a partial index: as many rows as wait, not the history)
    shape(
        re.sub(r":\w+", "?", webhook_events.DUE.sqlite)
    ): "the pending deliveries: as many as wait",
    # views.menu.menu_counts: on every page; the queue's and the open "Needs reply" texts'
    # through their partial indexes, and each count stops at MENU_COUNT_CAP + 1 rows
    "SELECT (SELECT count(*) FROM (SELECT ? FROM messages INDEXED BY messages_pending_replies"
    " WHERE status = ? AND type IN (?, ?) LIMIT ?)) AS queue, (SELECT count(*) FROM (SELECT ?"
    " FROM messages INDEXED BY messages_open_needs_review WHERE type = ? AND status = ? AND"
    " settled_at IS NULL AND NOT EXISTS ( SELECT ? FROM messages AS"
    " reply WHERE reply.thread_id = messages.thread_id AND reply.type IN (?, ?) AND"
    " reply.status IN (?, ?, ?) AND reply.timestamp > messages.timestamp) AND NOT EXISTS ("
    " SELECT ? FROM dismissals WHERE dismissals.message_id = messages.id) LIMIT ?))"
    " AS needs_review, (SELECT count(*) FROM (SELECT ? FROM conversations WHERE state = ?"
    " LIMIT ?)) AS attention": _QUEUE + "; so are the open texts needing a written reply;"
    " every count is capped",
    # views.queue.awaiting_draft: the queue's "Being drafted" texts, RECEIVED for a moment
    "SELECT id, thread_id, body, timestamp FROM messages WHERE status = ? AND type = ? ORDER BY"
    " timestamp, id LIMIT ?": _TRANSIENT,
    # reviewer_sms.open_codes: the oldest open codes (L, and refusals' "Open: …")
    "SELECT draft_codes.code, messages.receiver, messages.body FROM messages INDEXED BY"
    " messages_pending_replies JOIN draft_codes ON draft_codes.message_id = messages.id WHERE"
    " messages.status = ? AND messages.type IN (?, ?) ORDER BY messages.timestamp LIMIT ?": _QUEUE,
}


def query(db_path: Path, sql: str, *params: Any) -> list[sqlite3.Row]:
    """Look into the database on a connection of the test's own, which is not traced."""
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    yield from fake_twilio.running()


async def _reviewers(db_path: Path) -> None:
    async with opened(db_path) as db:
        await approve_sending(db)  # with credentials the gate starts pending
        for name, phone in (("Ana", ANA), ("Bob", BOB)):
            await make_reviewer(db, name, phone=phone)
        # the holding template pre-approved, so the ladder's holding reply runs its course
        root = await make_reviewer(db, "Root", role=Role.ADMIN)
        await message_templates.pre_approve(db, "holding", True, root.id, root.role)


@pytest.fixture
def history(db_path: Path) -> Path:
    asyncio.run(_reviewers(db_path))
    seed_history(str(db_path), threads=150, rounds=12)
    return db_path


def draft_to(db_path: Path, customer: str) -> str:
    rows = query(
        db_path,
        "SELECT id FROM messages WHERE type = 'DRAFT' AND receiver = ?"
        " AND status = 'DRAFT_PENDING_APPROVAL'",
        customer,
    )
    assert len(rows) == 1, rows
    return str(rows[0]["id"])


def code_of(db_path: Path, draft_id: str) -> str:
    (row,) = query(db_path, "SELECT code FROM draft_codes WHERE message_id = ?", draft_id)
    return str(row["code"])


def wait_until(db_path: Path, sql: str, *params: Any) -> None:
    deadline = time.monotonic() + 20
    while not query(db_path, sql, *params):
        assert time.monotonic() < deadline, sql
        time.sleep(0.02)


def drive(twilio: Twilio, fake: FakeTwilio, db_path: Path) -> None:
    """The hot paths, end to end, on the running app."""
    notices = 0
    # a new customer and a customer with a long history write; both are drafted
    for customer in (CUSTOMER, OLD_THREAD, FAILING):
        assert twilio.text("Are you open on Sunday?", sender=customer).status_code == 200
        notices += 1
    wait_for(fake, ANA, notices)

    # the web queue's approve; the send is accepted, then Twilio reports it delivered
    web = Web(twilio.client)
    web.sign_in("Ana")
    assert web.post(f"/drafts/{draft_to(db_path, CUSTOMER)}/approve").status_code == 303
    (sent,) = fake_twilio_sids(fake, CUSTOMER)
    response = twilio.post(
        "/webhooks/twilio/status",
        {"MessageSid": sent, "MessageStatus": "delivered", "AccountSid": fake.account_sid},
    )
    assert response.status_code == 200

    # the customer with a history writes again before a decision: the draft is superseded
    old = code_of(db_path, draft_to(db_path, OLD_THREAD))
    twilio.text("And on Monday?", sender=OLD_THREAD)
    notices += 1
    newer = code_of(db_path, draft_to(db_path, OLD_THREAD))

    # reviewers' commands by text: approve, a decided code, a replaced code, an unknown
    # code, list, help, reject, edit, pause and resume
    fake.script(FAILING, fake_twilio.SERVER_ERROR)
    failing = code_of(db_path, draft_to(db_path, FAILING))
    live = {row["code"] for row in query(db_path, "SELECT code FROM draft_codes")}
    unknown = next(c for c in ("ZZZZ", "ZZZY", "ZZZX", "ZZZW") if c not in live)
    commands = [
        (ANA, f"A {failing}"),
        (BOB, f"A {failing}"),
        (BOB, f"A {old}"),
        (BOB, f"A {unknown}"),
        (ANA, "L"),
        (ANA, "H"),
        (BOB, f"P {newer}"),
        (BOB, f"RESUME {newer}"),
        (ANA, f"E {newer} Yes, from 10 on Monday."),
    ]
    for reviewer, command in commands:
        twilio.text(command, sender=reviewer)
    wait_for(fake, FAILING, 1)
    wait_for(fake, OLD_THREAD, 1)

    # a customer with a history opts out and back in; a missed call asks for a text-back
    twilio.text("STOP", sender=OLD_THREAD)
    twilio.text("START", sender=OLD_THREAD)
    twilio.call(caller=CALLER)
    rejected = draft_to(db_path, CALLER)
    twilio.text(f"R {code_of(db_path, rejected)} not now", sender=ANA)
    wait_until(db_path, "SELECT 1 FROM messages WHERE id = ? AND status = 'REJECTED'", rejected)

    # the customer with a history asks to stop in plain words, then twice: KEEP by text,
    # then Confirm opt-out on the web; soft refusals pause a new customer's thread
    twilio.text("please stop texting me", sender=OLD_THREAD)
    (held,) = query(
        db_path,
        """
        SELECT draft_codes.code FROM draft_codes JOIN messages ON messages.id = message_id
        WHERE messages.type = 'INBOUND' AND messages.thread_id = ?
        """,
        OLD_THREAD,
    )
    twilio.text(f"KEEP {held['code']}", sender=ANA)
    twilio.settle()
    twilio.text("take me off your list", sender=OLD_THREAD)
    assert web.post(f"/threads/{OLD_THREAD}/opt-out").status_code == 303
    for text in ("no thanks", "not right now", "9:30 Saturday works"):
        twilio.text(text, sender=CALLER)

    # what reviewers' screens and integrations poll: the queue, a thread's pending drafts
    assert twilio.client.get("/").status_code == 200
    token = twilio.run(accounts.create_token, twilio.db, "plans", "Ana")
    for thread in (OLD_THREAD, CUSTOMER):
        response = twilio.client.get(
            "/api/v1/drafts",
            params={"thread_id": thread},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text

    # claims: Ana claims a pending draft and renews it, the queue, its updates and the API's
    # list show it, Bob's approve is refused and his confirmed edit takes it over; Ana
    # claims the new version and releases it
    twilio.text("Do you have parking?", sender=CLAIMED)
    wait_until(
        db_path,
        "SELECT 1 FROM messages WHERE receiver = ? AND status = 'DRAFT_PENDING_APPROVAL'",
        CLAIMED,
    )
    claimed = draft_to(db_path, CLAIMED)
    bob = {"Authorization": f"Bearer {twilio.run(accounts.create_token, twilio.db, 'b', 'Bob')}"}
    ana = {"Authorization": f"Bearer {token}"}
    for _ in range(2):
        assert twilio.client.post(f"/api/v1/drafts/{claimed}/claim", headers=ana).status_code == 200
    assert twilio.client.get("/").status_code == 200
    assert "You are editing" in twilio.client.get(f"/fragments/cards/{claimed}").text
    updates = twilio.client.get("/queue/updates", params={"ids": claimed, "after": "0|0"})
    assert updates.json()["claims"] and claimed in updates.json()["arrived"]
    assert twilio.client.get("/api/v1/drafts", headers=bob).status_code == 200
    response = twilio.client.post(f"/api/v1/drafts/{claimed}/approve", headers=bob)
    assert response.status_code == 409, response.text
    edited = twilio.client.post(
        f"/api/v1/drafts/{claimed}/edit",
        json={"body": "Yes, behind the shop.", "approve": False, "override_claim": True},
        headers=bob,
    )
    assert edited.status_code == 200, edited.text
    newer = edited.json()["id"]
    assert twilio.client.post(f"/api/v1/drafts/{newer}/claim", headers=ana).status_code == 200
    assert twilio.client.post(f"/api/v1/drafts/{newer}/release", headers=ana).status_code == 200

    # takeover, a text to the held thread, a reply (with a key, twice), release, dismiss,
    # close; the attention list; the thread listing by every filter, and
    # a thread's messages
    auth = {"Authorization": f"Bearer {token}"}
    api = f"/api/v1/threads/{HELD_THREAD}"
    assert twilio.client.post(f"{api}/takeover", headers=auth).status_code == 200
    twilio.text("Are you still there?", sender=HELD_THREAD)
    for _ in range(2):
        response = twilio.client.post(
            f"{api}/reply", json={"body": "Yes!"}, headers={**auth, "Idempotency-Key": "k1"}
        )
        assert response.status_code == 200, response.text
    twilio.text("thanks", sender=HELD_THREAD)
    assert twilio.client.post(f"{api}/dismiss", headers=auth).status_code == 200
    assert twilio.client.post(f"{api}/release", headers=auth).status_code == 200
    assert twilio.client.post(f"/api/v1/threads/{CALLER}/close", headers=auth).status_code == 200
    assert twilio.client.get("/attention").status_code == 200
    ana_id = query(db_path, "SELECT id FROM reviewers WHERE name = 'Ana'")[0][0]
    for params in (
        {},
        {"state": "ACTIVE"},
        {"phone": OLD_THREAD},
        {"taken_over_by": str(ana_id)},
        {"cursor": "2030-01-01T00:00:00+00:00|+1"},
    ):
        response = twilio.client.get("/api/v1/threads", params=params, headers=auth)
        assert response.status_code == 200, response.text
    response = twilio.client.get(f"{api}/messages", params={"limit": "5"}, headers=auth)
    assert response.status_code == 200, response.text
    twilio.run(review.prune_idempotency_keys, twilio.db)
    # the review-deadline ladder, two hours on: a reply nobody decides climbs every step
    twilio.text("Is anyone there?", sender=WAITING)
    wait_until(db_path, "SELECT 1 FROM review_clocks WHERE thread_id = ?", WAITING)
    waiting = query(
        db_path,
        "SELECT count(*) FROM review_clocks JOIN messages ON messages.id = draft_id"
        " WHERE closed_at IS NULL AND messages.status = 'DRAFT_PENDING_APPROVAL'",
    )[0][0]
    climbed = twilio.run(ladder.run_pass, twilio.db, datetime.now(UTC) + timedelta(hours=2))
    # each reply still pending (this one, the claimed one) gets its holding reply
    assert climbed.steps[SlaStep.HOLDING_SENT] == waiting >= 1 and climbed.texts > waiting

    twilio.run(draft_codes.prune_codes, twilio.db)
    twilio.run(event_delivery.prune_events, twilio.db, 30)
    # every text to a reviewer, the answers too, has been sent
    wait_until(
        db_path, "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM notifications WHERE status = 'PENDING')"
    )


def fake_twilio_sids(fake: FakeTwilio, to: str) -> list[str]:
    deadline = time.monotonic() + 20
    while not fake.accepted_to(to):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return [message["sid"] for message in fake.accepted_to(to)]


def test_no_hot_path_statement_scans_a_growing_table(history: Path, make_settings, fake):
    settings = make_settings(
        PUBLIC_BASE_URL=PUBLIC,
        TWILIO_ACCOUNT_SID=fake.account_sid,
        TWILIO_AUTH_TOKEN=fake.auth_token,
        TWILIO_FROM_NUMBER=BUSINESS,
        TWILIO_API_BASE_URL=fake.url,
        SEND_POLL_SECONDS="0.1",
        REVIEW_HOLDING_REPLY_MINUTES="45",
        WEBHOOK_ALLOW_PRIVATE="true",  # the subscriber is on loopback
    )
    tracer = Tracer({})
    # on the public https address, where the session cookie (https only) is sent
    with FakeReceiver() as receiver, TestClient(create_app(settings), base_url=PUBLIC) as client:
        twilio = Twilio(client, settings)
        _, receiver.secret = twilio.run(
            webhooks.add, twilio.db, receiver.url, ["*"], by=None, check_address=False
        )
        assert twilio.run(trace, twilio.db, tracer) >= 2
        drive(twilio, fake, history)
        # every event the paths emitted reached the subscriber
        wait_until(
            history,
            "SELECT 1 WHERE NOT EXISTS"
            " (SELECT 1 FROM webhook_deliveries WHERE status != 'delivered')",
        )
        twilio.run(trace, twilio.db, None)
        assert len(receiver.accepted()) > 20

    assert len(tracer.seen) > 40  # the paths ran: a few dozen distinct statements
    conn = sqlite3.connect(history)
    try:
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] > 3000
        bad = full_scans(Tx.on(conn), tracer.seen.items(), ALLOWED)
    finally:
        conn.close()
    assert bad == {}, "\n\n".join(f"{sql}\n  -> {lines}" for sql, lines in bad.items())
