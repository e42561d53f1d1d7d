"""POST /webhooks/twilio/status: signed, deduplicated, and only ever moving forward."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from approval_bot import review
from approval_bot.app import create_app
from approval_bot.config import Settings
from approval_bot.models import DecisionChannel
from approval_bot.scheduler import wake_sender
from approval_bot.store import opened
from approval_bot.web.twilio_edge import our_account_sid
from tests import fake_twilio
from tests.builders import BUSINESS, approve_sending, make_draft, make_inbound, make_reviewer

SPEC = Path(__file__).resolve().parents[2] / "shared" / "twilio" / "twilio_api_v2010.json"
PUBLIC = "https://bot.example.com"
PATH = "/webhooks/twilio/status"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
ALICE = "+14155550100"


@pytest.fixture
def settings(make_settings) -> Settings:
    settings: Settings = make_settings(PUBLIC_BASE_URL=PUBLIC)
    return settings


@pytest.fixture
def client(settings: Settings, db_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def sign(settings: Settings, params: dict[str, str]) -> str:
    validator = RequestValidator(str(settings.twilio_auth_token))
    return str(validator.compute_signature(PUBLIC + PATH, params))


def post(client: TestClient, settings: Settings, **params: str) -> Any:
    params = {"AccountSid": our_account_sid(settings), **params}
    return client.post(
        PATH,
        content=urlencode(params),
        headers={**FORM, "X-Twilio-Signature": sign(settings, params)},
    )


def query(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    with sqlite3.connect(db_path) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(sql, params).fetchall()
    conn.close()
    return rows


def sent_message(client: TestClient, db_path: Path, *, reset: bool = True) -> tuple[str, str]:
    """A reply approved and sent by the app's own sender through the sandbox: (id, sid).

    With `reset`, its delivery status is put back to "queued", as Twilio's create answers.
    """
    draft = sent_message_started(client, db_path)
    wait_for_status(db_path, draft, "SENT")
    (row,) = query(db_path, "SELECT provider_sid FROM messages WHERE id = ?", (draft,))
    if reset:
        assert client.portal is not None
        client.portal.call(_put_status, db_path, draft, "queued")
    return draft, row["provider_sid"]


def delivery_of(db_path: Path, message_id: str) -> Any:
    (row,) = query(
        db_path, "SELECT delivery_status, error_code FROM messages WHERE id = ?", (message_id,)
    )
    return row


def test_callbacks_move_the_delivery_status_forward(client, settings, db_path):
    draft, sid = sent_message(client, db_path)
    for status in ("sent", "delivered", "read"):
        response = post(client, settings, MessageSid=sid, MessageStatus=status)
        assert response.status_code == 200
        assert delivery_of(db_path, draft)["delivery_status"] == status


def test_the_sandbox_reports_its_sends_delivered_and_late_ones_change_nothing(
    client, settings, db_path
):
    draft, sid = sent_message(client, db_path, reset=False)
    assert delivery_of(db_path, draft)["delivery_status"] == "delivered"
    for status in ("queued", "sending", "sent", "failed"):
        assert post(client, settings, MessageSid=sid, MessageStatus=status).status_code == 200
    assert delivery_of(db_path, draft)["delivery_status"] == "delivered"


async def _put_status(db_path: Path, message_id: str, status: str) -> None:
    async with opened(db_path) as db:
        await db.write(
            lambda conn: conn.execute(
                "UPDATE messages SET delivery_status = ? WHERE id = ?", (status, message_id)
            )
        )


@pytest.mark.parametrize(
    ("order", "final"),
    [
        (["delivered", "sent", "sending"], "delivered"),
        (["sent", "read", "delivered"], "read"),
        (["sending", "delivered", "sent", "read"], "read"),
        (["undelivered", "sent", "delivered", "read"], "undelivered"),
        (["failed", "queued"], "failed"),
        (["sent", "partially_delivered", "delivered", "read"], "partially_delivered"),
    ],
)
def test_out_of_order_callbacks_never_move_back(client, settings, db_path, order, final):
    draft, sid = sent_message(client, db_path)
    for status in order:
        assert post(client, settings, MessageSid=sid, MessageStatus=status).status_code == 200
    assert delivery_of(db_path, draft)["delivery_status"] == final


def test_a_duplicate_callback_changes_nothing(client, settings, db_path):
    draft, sid = sent_message(client, db_path)
    for _ in range(3):
        assert post(client, settings, MessageSid=sid, MessageStatus="sent").status_code == 200
    rows = query(
        db_path,
        "SELECT count(*) AS n FROM audit_log WHERE message_id = ? AND event = 'Delivery Status'",
        (draft,),
    )
    assert rows[0]["n"] == 1
    events = query(db_path, "SELECT event_id FROM webhook_events")
    assert [e["event_id"] for e in events] == [f"{sid}:sent"]


# the customer did not get the reply, or not all of it (Twilio's error codes and messages)
@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        ("undelivered", 30003, "Unreachable destination handset"),
        ("partially_delivered", 30008, "Unknown error"),
    ],
)
def test_a_reply_not_delivered_whole_with_an_error_code_asks_for_attention(
    client, settings, db_path, status, code, message
):
    draft, sid = sent_message(client, db_path)
    assert client.portal is not None
    client.portal.call(_put_status, db_path, draft, "sent")

    response = post(
        client,
        settings,
        MessageSid=sid,
        MessageStatus=status,
        ErrorCode=str(code),
        ErrorMessage=message,
    )

    assert response.status_code == 200
    row = delivery_of(db_path, draft)
    assert (row["delivery_status"], row["error_code"]) == (status, code)
    (conversation,) = query(db_path, "SELECT state, attention_reason FROM conversations")
    assert conversation["state"] == "NEEDS_ATTENTION"
    assert str(code) in conversation["attention_reason"]


def test_a_failed_reply_without_an_error_code_still_asks_for_attention(client, settings, db_path):
    # the customer did not get the reply; Twilio's callback simply carried no ErrorCode
    draft, sid = sent_message(client, db_path)

    response = post(client, settings, MessageSid=sid, MessageStatus="failed")

    assert response.status_code == 200
    assert delivery_of(db_path, draft)["delivery_status"] == "failed"
    (conversation,) = query(db_path, "SELECT state, attention_reason FROM conversations")
    assert conversation["state"] == "NEEDS_ATTENTION"
    assert "failed" in conversation["attention_reason"]


def _outbound_statuses_in_twilios_spec() -> list[str]:
    """Twilio's message statuses from its OpenAPI spec, but those only inbound messages have
    (none when the spec is not beside the project: the test is then skipped)."""
    if not SPEC.exists():
        return []
    spec = json.loads(SPEC.read_text())
    statuses: list[str] = spec["components"]["schemas"]["message_enum_status"]["enum"]
    return [status for status in statuses if status not in ("receiving", "received")]


@pytest.mark.parametrize("status", _outbound_statuses_in_twilios_spec())
def test_every_outbound_status_in_twilios_spec_is_taken(client, settings, db_path, status):
    _, sid = sent_message(client, db_path)
    response = post(client, settings, MessageSid=sid, MessageStatus=status)
    assert response.status_code == 200, response.text
    events = query(db_path, "SELECT event_id FROM webhook_events")
    assert f"{sid}:{status}" in [e["event_id"] for e in events]


def test_an_unknown_sid_is_answered_200_and_changes_no_message(client, settings, db_path):
    draft, _ = sent_message(client, db_path)
    before = delivery_of(db_path, draft)["delivery_status"]

    response = post(client, settings, MessageSid="SM" + "f" * 32, MessageStatus="delivered")

    assert response.status_code == 200
    assert delivery_of(db_path, draft)["delivery_status"] == before


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"MessageStatus": "sent"}, "MessageSid"),
        ({"MessageSid": "SM" + "a" * 32}, "MessageStatus"),
        ({"MessageSid": "SM" + "a" * 32, "MessageStatus": "teleported"}, "MessageStatus"),
        ({"MessageSid": "SM" + "a" * 32, "MessageStatus": "failed", "ErrorCode": "x"}, "ErrorCode"),
        # "²" passes str.isdigit but is no number; 2**63 is past what error_code holds
        ({"MessageSid": "SM" + "a" * 32, "MessageStatus": "failed", "ErrorCode": "²"}, "ErrorCode"),
        (
            {"MessageSid": "SM" + "a" * 32, "MessageStatus": "failed", "ErrorCode": str(2**63)},
            "ErrorCode",
        ),
        # Python's int() refuses a string of over 4,300 digits
        (
            {"MessageSid": "SM" + "a" * 32, "MessageStatus": "failed", "ErrorCode": "9" * 5000},
            "ErrorCode",
        ),
    ],
)
def test_a_malformed_callback_is_refused_with_a_reason(client, settings, db_path, params, message):
    response = post(client, settings, **params)
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
    assert query(db_path, "SELECT * FROM webhook_events") == []


def test_a_wrong_signature_is_refused_and_changes_nothing(client, settings, db_path):
    draft, sid = sent_message(client, db_path)
    params = {"MessageSid": sid, "MessageStatus": "read"}
    forged = RequestValidator("not-the-token").compute_signature(PUBLIC + PATH, params)

    response = client.post(
        PATH, content=urlencode(params), headers={**FORM, "X-Twilio-Signature": forged}
    )
    unsigned = client.post(PATH, content=urlencode(params), headers=FORM)

    assert (response.status_code, unsigned.status_code) == (403, 403)
    assert delivery_of(db_path, draft)["delivery_status"] == "queued"
    assert query(db_path, "SELECT * FROM webhook_events") == []


def test_a_callback_that_beats_the_create_answer_is_applied_when_the_send_is_recorded(
    make_settings, db_path
):
    with fake_twilio.FakeTwilio() as fake:
        settings = make_settings(
            PUBLIC_BASE_URL=PUBLIC,
            TWILIO_ACCOUNT_SID=fake.account_sid,
            TWILIO_AUTH_TOKEN=fake.auth_token,
            TWILIO_FROM_NUMBER=BUSINESS,
            TWILIO_API_BASE_URL=fake.url,
        )
        fake.script(ALICE, fake_twilio.HELD)
        with TestClient(create_app(settings)) as client:
            draft = sent_message_started(client, db_path)
            fake.wait_accepted(1)
            sid = fake.accepted[0]["sid"]

            response = post(client, settings, MessageSid=sid, MessageStatus="delivered")
            assert response.status_code == 200
            fake.release()
            wait_for_status(db_path, draft, "SENT")

    row = delivery_of(db_path, draft)
    assert row["delivery_status"] == "delivered"


def sent_message_started(client: TestClient, db_path: Path) -> str:
    async def build() -> str:
        async with opened(db_path) as db:
            await approve_sending(db)  # with credentials the gate starts pending
            ana = await make_reviewer(db)
            draft = await make_draft(db, await make_inbound(db, ALICE))
            await review.approve(db, draft, review.Decision(ana.id, DecisionChannel.WEB))
        wake_sender(client.app_state["scheduler"])
        return draft

    assert client.portal is not None
    return client.portal.call(build)


def wait_for_status(db_path: Path, message_id: str, status: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        (row,) = query(db_path, "SELECT status FROM messages WHERE id = ?", (message_id,))
        if row["status"] == status:
            return
        time.sleep(0.02)
    pytest.fail(f"message {message_id} did not reach {status}")
