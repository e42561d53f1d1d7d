"""The event outbox: every type the issue names today is emitted by the change that causes
it, in its transaction, with the chain's correlation id, a payload its schema accepts, and
is delivered signed to a subscription."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from starlette.testclient import TestClient

from approval_bot import message_templates, review, webhooks, workflow
from approval_bot.app import create_app
from approval_bot.models import ApprovalAction, DecisionChannel, Role
from approval_bot.store import Store, Tx
from tests import fake_twilio
from tests.builders import approve_sending, make_drafted_inbound, make_reviewer
from tests.fake_twilio import FakeTwilio
from tests.fake_webhook_receiver import FakeReceiver
from tests.twilio_client import BUSINESS, CUSTOMER, PUBLIC, Twilio

SCHEMAS = Path(__file__).resolve().parents[1] / "approval_bot" / "event_schemas"
# the list of event types whose changes exist today, written out
TODAY = {
    "conversation.started",
    "message.received",
    "draft.created",
    "draft.decided",
    "message.sent",
    "message.failed",
    "delivery.updated",
    "thread.paused",
    "thread.resumed",
    "conversation.opted_out",
    "conversation.opted_in",
    "conversation.needs_attention",
}
# the types of the work landed since (issues 12 and 13), written out
LANDED = {
    "thread.taken_over",
    "thread.released",
    "conversation.closed",
    "appointment.changed",
    "facts.changed",
}
REFUSED = "+14155550166"  # the fake answers its send with Twilio's 21211


def schema(event_type: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SCHEMAS / f"{event_type}.json").read_text())
    return document


def read(db_path: Path, sql: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def outbox(db_path: Path) -> list[sqlite3.Row]:
    return read(db_path, "SELECT * FROM event_outbox ORDER BY seq")


def wait_until(check, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.02)


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    yield from fake_twilio.running()


def test_a_schema_per_type_and_each_example_fits_it():
    assert {path.stem for path in SCHEMAS.glob("*.json")} == TODAY | LANDED
    for event_type in TODAY | LANDED:
        document = schema(event_type)
        jsonschema.Draft202012Validator.check_schema(document)
        assert document["x-schema-version"] == 1
        for example in document["examples"]:
            jsonschema.validate(example, document)


def test_every_type_is_emitted_by_its_change_validated_and_delivered_signed(
    make_settings, db_path: Path, fake: FakeTwilio
):
    settings = make_settings(
        PUBLIC_BASE_URL=PUBLIC,
        TWILIO_ACCOUNT_SID=fake.account_sid,
        TWILIO_AUTH_TOKEN=fake.auth_token,
        TWILIO_FROM_NUMBER=BUSINESS,
        TWILIO_API_BASE_URL=fake.url,
        SEND_POLL_SECONDS="0.1",
        WEBHOOK_ALLOW_PRIVATE="true",  # the receiver is on loopback
    )
    fake.script(REFUSED, fake_twilio.error(400, 21211, "The 'To' number is not valid."))
    with FakeReceiver() as receiver, TestClient(create_app(settings), base_url=PUBLIC) as client:
        twilio = Twilio(client, settings)
        db: Store = twilio.db
        twilio.run(approve_sending, db)  # with credentials the gate starts pending
        ana = twilio.run(make_reviewer, db, "Ana", role=Role.ADMIN)
        _, receiver.secret = twilio.run(
            webhooks.add, db, receiver.url, ["*"], by=ana.id, check_address=False
        )
        decision = review.Decision(ana.id, DecisionChannel.WEB)

        first = twilio.text("Are you open on Sunday?")
        assert first.status_code == 200
        (draft,) = twilio.rows("SELECT id FROM messages WHERE type = 'DRAFT'")
        twilio.run(review.approve, db, draft["id"], decision)
        wait_until(lambda: fake.accepted_to(CUSTOMER))
        sid = fake.accepted_to(CUSTOMER)[0]["sid"]
        wait_until(lambda: twilio.rows("SELECT 1 FROM messages WHERE provider_sid = ?", sid))
        status = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": fake.account_sid}
        assert twilio.post("/webhooks/twilio/status", status).status_code == 200

        twilio.run(review.pause_thread, db, CUSTOMER, "lunch", ana.id)
        twilio.run(review.resume_thread, db, CUSTOMER, ana.id)
        twilio.text("And on Monday?")
        (second,) = twilio.rows(
            "SELECT id FROM messages WHERE type = 'DRAFT' AND status = 'DRAFT_PENDING_APPROVAL'"
        )
        twilio.run(review.reject, db, second["id"], decision)
        twilio.text("Hello?")
        (third,) = twilio.rows(
            "SELECT id FROM messages WHERE type = 'DRAFT' AND status = 'DRAFT_PENDING_APPROVAL'"
        )
        twilio.run(review.edit, db, third["id"], "Yes, 9 to 5.", decision, approve=True)
        twilio.text("STOP")
        twilio.text("START")
        twilio.run(review.escalate, db, CUSTOMER, "asks for the owner", ana.id)

        twilio.run(make_drafted_inbound, db, REFUSED, "Hi")
        (refused,) = twilio.rows("SELECT id FROM messages WHERE receiver = ?", REFUSED)
        twilio.run(review.approve, db, refused["id"], decision)
        wait_until(lambda: twilio.rows("SELECT 1 FROM event_outbox WHERE type = 'message.failed'"))
        rows = outbox(db_path)
        wait_until(lambda: len(receiver.accepted()) >= len(rows))

    # the STOP also ended the contact (issue 13): a close
    assert {row["type"] for row in rows} == TODAY | {"conversation.closed"}
    for row in rows:
        jsonschema.validate(json.loads(row["data"]), schema(row["type"]))
        assert row["schema_version"] == 1
    # each event arrived once, signed, with its own id as webhook-id, as stored
    got = {r.id: r for r in receiver.accepted()}
    assert set(got) == {row["id"] for row in rows}
    for row in rows:
        event = got[row["id"]].event
        assert event["type"] == row["type"] and event["data"] == json.loads(row["data"])
        assert event["correlation_id"] == row["correlation_id"]
    # the first text's chain: its MessageSid from the message to the delivery update
    started = [row for row in rows if row["type"] == "message.received"][0]
    chain = [row["type"] for row in rows if row["correlation_id"] == started["correlation_id"]]
    assert chain[:6] == [
        "conversation.started",
        "message.received",
        "draft.created",
        "draft.decided",
        "message.sent",
        "delivery.updated",
    ]
    assert started["correlation_id"].startswith("SM")
    decided = [json.loads(r["data"]) for r in rows if r["type"] == "draft.decided"]
    assert [(d["action"], d["channel"], d["reviewer"]) for d in decided] == [
        ("approve", "web", {"id": ana.id, "name": "Ana"}),
        ("reject", "web", {"id": ana.id, "name": "Ana"}),
        ("edit", "web", {"id": ana.id, "name": "Ana"}),
        ("approve", "web", {"id": ana.id, "name": "Ana"}),
    ]
    paused = [json.loads(r["data"])["kind"] for r in rows if r["type"] == "thread.paused"]
    assert paused == ["reviewer", "opt_out", "escalation"]
    failed = [json.loads(r["data"]) for r in rows if r["type"] == "message.failed"]
    assert failed[0]["error_code"] == 21211
    # nothing secret in any payload
    everything = " ".join(row["data"] for row in rows)
    assert fake.auth_token not in everything and "argon2" not in everything


@pytest.mark.anyio
async def test_a_rolled_back_review_action_leaves_no_event(db: Store):
    ana = await make_reviewer(db)
    draft = await make_drafted_inbound(db, CUSTOMER, "Hi")
    before = await db.fetchone("SELECT count(*) AS n FROM event_outbox")

    def approve_then_fail(conn: Tx) -> None:
        review._approve(
            conn, draft, review.Decision(ana.id, DecisionChannel.API), ApprovalAction.APPROVE
        )
        assert conn.execute("SELECT 1 FROM event_outbox WHERE type = 'draft.decided'").fetchone()
        raise RuntimeError("something later in the transaction failed")

    with pytest.raises(RuntimeError):
        await db.write(approve_then_fail)
    after = await db.fetchone("SELECT count(*) AS n FROM event_outbox")
    assert before is not None and after is not None and after["n"] == before["n"]
    # and a refused action (approving twice) emits nothing either
    await review.approve(db, draft, review.Decision(ana.id, DecisionChannel.API))
    decided = await db.fetchone(
        "SELECT count(*) AS n FROM event_outbox WHERE type = ?", ("draft.decided",)
    )
    with pytest.raises(workflow.Conflict):
        await review.approve(db, draft, review.Decision(ana.id, DecisionChannel.API))
    again = await db.fetchone(
        "SELECT count(*) AS n FROM event_outbox WHERE type = ?", ("draft.decided",)
    )
    assert decided is not None and again is not None
    assert decided["n"] == again["n"] == 1


def test_the_landed_types_are_emitted_by_their_change_validated_and_delivered_signed(
    make_settings, db_path: Path, fake: FakeTwilio
):
    """Take over and release, facts, an appointment invited then booked, a reviewer's close
    and a STOP's close; the automatic HELP reply's message.sent; a taken-over thread's text."""
    settings = make_settings(
        PUBLIC_BASE_URL=PUBLIC,
        TWILIO_ACCOUNT_SID=fake.account_sid,
        TWILIO_AUTH_TOKEN=fake.auth_token,
        TWILIO_FROM_NUMBER=BUSINESS,
        TWILIO_API_BASE_URL=fake.url,
        SEND_POLL_SECONDS="0.1",
        WEBHOOK_ALLOW_PRIVATE="true",  # the receiver is on loopback
    )
    with FakeReceiver() as receiver, TestClient(create_app(settings), base_url=PUBLIC) as client:
        twilio = Twilio(client, settings)
        db: Store = twilio.db
        twilio.run(approve_sending, db)  # with credentials the gate starts pending
        ana = twilio.run(make_reviewer, db, "Ana", role=Role.ADMIN)
        bob = twilio.run(make_reviewer, db, "Bob", phone="+14155550188")
        _, receiver.secret = twilio.run(
            webhooks.add, db, receiver.url, ["*"], by=ana.id, check_address=False
        )
        twilio.run(message_templates.pre_approve, db, "help", True, ana.id, ana.role)

        twilio.text("Can I book a cleaning?")
        twilio.text("sometime next week?")  # a vague wish after asking: INVITED
        twilio.text("9:30 Saturday works")  # a specific time: BOOKED
        twilio.run(review.edit_facts, db, CUSTOMER, {"vehicle": "2019 Civic"}, ana.id)
        twilio.run(review.take_over, db, CUSTOMER, bob.id)
        twilio.run(review.take_over, db, CUSTOMER, ana.id)  # an admin's, forced
        twilio.text("Are you there?")  # waits on Needs reply for Ana
        twilio.run(review.release, db, CUSTOMER, ana.id)
        twilio.run(review.close, db, CUSTOMER, ana.id)
        twilio.text("HELP")  # the next contact; the pre-approved help reply is sent
        wait_until(lambda: fake.accepted_to(CUSTOMER))
        wait_until(lambda: twilio.rows("SELECT 1 FROM event_outbox WHERE type = 'message.sent'"))
        twilio.text("STOP")
        rows = outbox(db_path)
        wait_until(lambda: len(receiver.accepted()) >= len(rows))

    assert LANDED <= {row["type"] for row in rows}
    for row in rows:
        jsonschema.validate(json.loads(row["data"]), schema(row["type"]))
    got = {r.id: r for r in receiver.accepted()}
    assert set(got) == {row["id"] for row in rows}
    for row in rows:
        assert got[row["id"]].event["data"] == json.loads(row["data"])

    def data(event_type: str) -> list[dict[str, Any]]:
        return [json.loads(r["data"]) for r in rows if r["type"] == event_type]

    anas, bobs = {"id": ana.id, "name": "Ana"}, {"id": bob.id, "name": "Bob"}
    assert data("thread.taken_over") == [
        {"by": bobs, "previous_holder": None, "forced": False},
        {"by": anas, "previous_holder": bobs, "forced": True},
    ]
    assert data("thread.released") == [{"by": anas, "holder": anas}]
    received = [d["status"] for d in data("message.received")]
    assert received[3] == "NEEDS_REVIEW"  # "Are you there?" on the taken-over thread
    appointments = data("appointment.changed")
    assert [(a["from"], a["to"]) for a in appointments] == [
        ("NONE", "INVITED"),
        ("INVITED", "BOOKED"),
    ]
    assert appointments[0]["appointment_at"] is None
    booked = datetime.fromisoformat(appointments[1]["appointment_at"])
    assert (booked.weekday(), booked.hour, booked.minute) == (5, 9, 30)
    texts = {r["id"]: r["body"] for r in read(db_path, "SELECT id, body FROM messages")}
    assert texts[appointments[1]["message_id"]] == "9:30 Saturday works"
    assert data("facts.changed") == [
        {
            "patch": {"vehicle": "2019 Civic"},
            "facts": {"vehicle": "2019 Civic"},
            "source": "a reviewer",
            "by": anas,
        }
    ]
    closed = data("conversation.closed")
    assert closed == [
        {"reason": "closed by a reviewer", "previous_state": "ACTIVE", "by": anas},
        {"reason": "the customer opted out", "previous_state": "ACTIVE", "by": None},
    ]
    # the automatic reply went out through the sender: its message.sent names it
    (help_reply,) = read(
        db_path, "SELECT id FROM messages WHERE type = 'OUTBOUND' AND body LIKE '%help%'"
    )
    assert [d["message_id"] for d in data("message.sent")] == [help_reply["id"]]
