"""The sending gate (issue 14, item 1): every outbound customer path held while it is closed,
reopening releases or re-reviews, notifications unaffected, and the doors that change it.

The outbound paths are enumerated from the code (ast over the package): the callers of a
gateway's send, and the functions that put a reply in APPROVED_TO_SEND. A new path that
is not in the tables below fails `test_every_outbound_path_is_known_and_has_a_held_scenario`.
"""

from __future__ import annotations

import ast
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

import approval_bot
from approval_bot import accounts, message_templates, review, sending_gate, workflow
from approval_bot.app import create_app
from approval_bot.cli import main
from approval_bot.config import Settings
from approval_bot.models import Channel, DecisionChannel, Event, MessageStatus, MessageType, Role
from approval_bot.sending_gate import ComplianceStatus as C
from tests import fake_twilio
from tests.fake_twilio import FakeTwilio

from .twilio_client import BUSINESS, CUSTOMER, PUBLIC, Twilio, running

S = MessageStatus
PACKAGE = Path(approval_bot.__file__).parent
REVIEWER_PHONE = "+14155550111"

# -- the outbound paths, found in the code ----------------------------------------------------

# every function that calls a gateway's send or find_sent; each must re-check the gate
# (reconcile only lists Twilio's messages, for a row the gated claim took)
GATEWAY_CALLERS = {"sending.send.Sender._process", "sending.reconcile.reconcile"}
# every function that moves a customer reply into APPROVED_TO_SEND, and the scenarios
# below that show a reply it made is held while the gate is closed
APPROVED_BY = {
    "review._approve": ("approve", "edit & approve", "missed-call text-back"),
    "review.human_reply": ("human reply",),
    # templates (issue 14, part B): the pre-approved automatic reply, and a reviewer's
    # WhatsApp Content template (a send attempt, refused while closed like a new reply)
    "auto_replies.queue_in": ("automatic reply",),
    "review.send_template.queue": ("WhatsApp template",),
}
# the sender's own path that sends a row again: a claim whose outcome was unknown
RESENT_BY = {"sending.message_lane.MessageLane.prepare": ("reconciliation",)}
SCENARIOS = ("approve", "edit & approve", "human reply", "missed-call text-back")
# the paths with a scenario of their own below
OWN_SCENARIOS = ("automatic reply", "WhatsApp template")


class _Sites(ast.NodeVisitor):
    """Call sites by enclosing function (module.Class.function.inner)."""

    def __init__(self, module: str) -> None:
        self.stack = [module]
        self.sends: set[str] = set()
        self.approves: set[str] = set()
        self.gate_checks: set[str] = set()
        self.twilio_creates: set[str] = set()

    def _scope(self, node: Any) -> None:
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scope

    def visit_Call(self, node: ast.Call) -> None:
        where = ".".join(self.stack)
        func = node.func
        if isinstance(func, ast.Attribute):
            owner = ast.unparse(func.value)
            if func.attr in ("send", "find_sent") and "gateway" in owner.lower():
                self.sends.add(where)
            if func.attr == "create" and owner.endswith("messages"):
                self.twilio_creates.add(where)
            if func.attr == "why_closed" and owner == "sending_gate":
                self.gate_checks.add(where)
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if isinstance(func, ast.Name) and name == "why_closed":
            self.gate_checks.add(where)
        if name in ("change_status", "create_message"):
            for keyword in node.keywords:
                if keyword.arg in ("event", "target") and ast.unparse(keyword.value) in (
                    TO_APPROVED_EVENTS | {"S.APPROVED_TO_SEND", "MessageStatus.APPROVED_TO_SEND"}
                ):
                    self.approves.add(where)
        self.generic_visit(node)


# the events the transition table says lead into APPROVED_TO_SEND, as the code spells them
TO_APPROVED_EVENTS = {
    f"Event.{Event(t.event).name}"
    for t in workflow.MESSAGE_TRANSITIONS
    if t.target is S.APPROVED_TO_SEND
}


def _scan() -> list[_Sites]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        sites = _Sites(module)
        sites.visit(ast.parse(path.read_text(encoding="utf-8")))
        found.append(sites)
    return found


def test_every_outbound_path_is_known_and_has_a_held_scenario():
    scanned = _scan()
    sends = set().union(*(s.sends for s in scanned))
    approves = set().union(*(s.approves for s in scanned))
    creates = set().union(*(s.twilio_creates for s in scanned))
    checks = set().union(*(s.gate_checks for s in scanned))
    assert TO_APPROVED_EVENTS == {
        "Event.APPROVE",
        "Event.HUMAN_REPLY",
        "Event.AUTO_REPLY",
        "Event.TEMPLATE_REPLY",
    }
    # the only door to Twilio is the sender (the client's create lives in the gateway)
    assert sends == GATEWAY_CALLERS, "a new caller of a gateway: make it re-check the gate"
    assert creates == {"gateways.TwilioGateway._send"}
    # each way into APPROVED_TO_SEND is listed, with the scenarios that show it held
    assert approves == set(APPROVED_BY), "a new outbound path: add it and a held scenario"
    named = {name for names in (*APPROVED_BY.values(), *RESENT_BY.values()) for name in names}
    assert named == {*SCENARIOS, *OWN_SCENARIOS, "reconciliation"}
    # the sender checks the gate where it claims (the one claim asks each lane whether it
    # is closed) and where it sends again after a reconciliation; a new reply is refused
    # where it is created
    assert {"sending.message_lane.MessageLane.closed", *RESENT_BY} <= checks
    assert "sending_gate.require_open" in checks


# -- the pure decision --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "stopped", "reason", "closed"),
    [
        (C.APPROVED, False, None, None),
        (C.APPROVED, True, "carrier complaint", "sending is stopped: carrier complaint"),
        (C.PENDING, False, None, "the messaging registration is pending"),
        (C.REJECTED, False, "brand", "the messaging registration was rejected: brand"),
        # the emergency stop is named first whatever the status
        (C.REJECTED, True, "audit", "sending is stopped: audit"),
    ],
)
def test_the_gate_is_open_only_when_approved_and_not_stopped(status, stopped, reason, closed):
    assert sending_gate.closed_reason(status, stopped, reason) == closed


# -- a running app with the fake Twilio -------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    yield from fake_twilio.running()


@pytest.fixture
def twilio_settings(make_settings, fake) -> Callable[..., Settings]:
    def make(**overrides: str) -> Settings:
        settings: Settings = make_settings(
            PUBLIC_BASE_URL=PUBLIC,
            TWILIO_ACCOUNT_SID=fake.account_sid,
            TWILIO_AUTH_TOKEN=fake.auth_token,
            TWILIO_FROM_NUMBER=BUSINESS,
            TWILIO_API_BASE_URL=fake.url,
            # the test runs each sender pass itself
            SEND_POLL_SECONDS="3600",
            SEND_TIMEOUT_SECONDS="0.5",
            SEND_LEASE_SECONDS="5",
            **overrides,
        )
        return settings

    return make


@pytest.fixture
def app(twilio_settings) -> Iterator[Twilio]:
    with running(twilio_settings()) as twilio:  # running() approves the gate first
        yield twilio


def admin(twilio: Twilio) -> accounts.Reviewer:
    async def make() -> accounts.Reviewer:
        return await accounts.add_reviewer(
            twilio.db, "Boss", phone=REVIEWER_PHONE, password="correct horse", role=Role.ADMIN
        )

    return twilio.run(make)


def gate(twilio: Twilio, actor: accounts.Reviewer | None, **change: Any) -> Any:
    return twilio.run(
        twilio.db.write,
        lambda conn: sending_gate.change(
            conn,
            actor_id=actor.id if actor else None,
            via=sending_gate.ChangedVia.WEB,
            stale_after=twilio.settings.gate_stale_after,
            **change,
        ),
    )


def send_pass(twilio: Twilio) -> None:
    """One sender pass; then, while a pass the app's own job started meanwhile (woken by an
    approval or a change of the gate) still holds a claimed reply, wait for it to finish."""
    twilio.run(twilio.client.app_state["sender"].run)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and twilio.rows(
        "SELECT 1 FROM messages WHERE status = 'APPROVED_TO_SEND' AND claimed_at IS NOT NULL"
    ):
        time.sleep(0.05)


def to_customer(fake: FakeTwilio) -> list[str]:
    return [m["body"] for m in fake.accepted if m["to"] == CUSTOMER]


def status(twilio: Twilio, message_id: str) -> str:
    return str(twilio.rows("SELECT status FROM messages WHERE id = ?", message_id)[0]["status"])


def pending_draft(twilio: Twilio) -> str:
    rows = twilio.rows(
        "SELECT id FROM messages WHERE status = 'DRAFT_PENDING_APPROVAL' AND type != 'INBOUND'"
    )
    assert len(rows) == 1, rows
    return str(rows[0]["id"])


def make_outbound(twilio: Twilio, path: str, boss: accounts.Reviewer) -> str:
    """One outbound reply by `path`, made while the gate is closed (a human reply: just
    before it closed, since a new reply is refused while it is closed); returns its id."""
    decision = review.Decision(boss.id, DecisionChannel.WEB)
    if path == "missed-call text-back":
        twilio.call()
    else:
        twilio.text("Are you open today?")
    draft = pending_draft(twilio)
    if path == "human reply":
        send_pass(twilio)  # the reviewer's text about the draft goes before a reply replaces it
        reply = twilio.run(
            review.write_reply, twilio.db, CUSTOMER, "Yes, until 5.", boss.id, in_reply_to_id=None
        )
        gate(twilio, boss, stopped=True, reason="carrier complaint")
        return str(reply)
    gate(twilio, boss, stopped=True, reason="carrier complaint")
    # the reviewer's text about the draft goes while the gate is closed; it must go before the
    # decision, since a text about a draft already decided is withdrawn, never sent
    send_pass(twilio)
    if path == "approve":
        twilio.run(review.approve, twilio.db, draft, decision)
        return draft
    if path == "edit & approve":
        return str(
            twilio.run(review.edit, twilio.db, draft, "Yes, 9 to 5!", decision, approve=True)
        )
    assert path == "missed-call text-back"
    assert "missed_call" in twilio.rows("SELECT draft_meta FROM messages WHERE id = ?", draft)[0][0]
    twilio.run(review.approve, twilio.db, draft, decision)
    return draft


@pytest.mark.parametrize("path", SCENARIOS)
def test_each_outbound_path_is_held_while_closed_and_goes_when_reopened(app, fake, path):
    boss = admin(app)
    reply = make_outbound(app, path, boss)
    for _ in range(2):
        send_pass(app)
    assert to_customer(fake) == []
    # held, not failed: still approved, nothing claimed, no attempt counted
    (row,) = app.rows("SELECT * FROM messages WHERE id = ?", reply)
    assert (row["status"], row["claimed_at"], row["send_attempts"]) == (S.APPROVED_TO_SEND, None, 0)
    # the reviewer's text about the new draft went out all the same
    assert [m["to"] for m in fake.accepted] == [REVIEWER_PHONE]

    change = gate(app, boss, stopped=False)
    assert (change.returned, change.released) == ((), 1)
    send_pass(app)
    assert to_customer(fake) == [row["body"]]
    assert status(app, reply) == S.SENT


def test_a_new_reply_is_refused_while_closed_and_nothing_is_stored(app, fake):
    boss = admin(app)
    app.text("Hello?")
    gate(app, boss, status=C.PENDING)
    before = app.count("messages")
    with pytest.raises(sending_gate.SendingClosed, match="registration is pending"):
        app.run(review.write_reply, app.db, CUSTOMER, "Hi!", boss.id, in_reply_to_id=None)
    assert app.count("messages") == before


HELP_TEXT = "Cuts & Co: reply STOP to stop texts. Call {business_phone} for help."


def test_an_automatic_reply_is_held_while_stopped_and_sent_once_on_start(app, fake):
    boss = admin(app)
    app.run(
        message_templates.save,
        app.db,
        "help",
        message_templates.Change(HELP_TEXT),
        boss.id,
        boss.role,
    )
    app.run(message_templates.pre_approve, app.db, "help", True, boss.id, boss.role)
    gate(app, boss, stopped=True, reason="carrier complaint")
    app.text("HELP")
    (reply,) = app.rows("SELECT * FROM messages WHERE type = 'OUTBOUND'")
    (audited,) = app.rows("SELECT metadata FROM audit_log WHERE event = 'Automatic Reply'")
    assert json.loads(audited["metadata"])["trigger"] == "help"
    for _ in range(2):
        send_pass(app)
    assert to_customer(fake) == []
    (row,) = app.rows("SELECT * FROM messages WHERE id = ?", reply["id"])
    assert (row["status"], row["claimed_at"], row["send_attempts"]) == (S.APPROVED_TO_SEND, None, 0)

    change = gate(app, boss, stopped=False)
    assert (change.returned, change.released) == ((), 1)
    for _ in range(2):
        send_pass(app)
    expected = f"Cuts & Co: reply STOP to stop texts. Call {BUSINESS} for help."
    assert to_customer(fake) == [expected]
    assert status(app, reply["id"]) == S.SENT


WHATSAPP = "+14155550177"
CONTENT_SID = "HX" + "0123456789abcdef" * 2


def _whatsapp_thread(conn: Any) -> None:
    """A WhatsApp customer who wrote just now (inside the 24-hour window)."""
    workflow.open_conversation(conn, WHATSAPP, Channel.WHATSAPP)
    workflow.create_message(
        conn,
        type=MessageType.INBOUND,
        event=Event.STORED,
        thread_id=WHATSAPP,
        sender=f"whatsapp:{WHATSAPP}",
        receiver=f"whatsapp:{BUSINESS}",
        body="hola",
        channel=Channel.WHATSAPP,
    )


def test_a_whatsapp_template_is_refused_while_closed_and_held_if_chosen_before(app, fake):
    boss = admin(app)
    app.run(
        message_templates.save,
        app.db,
        "booking_news",
        message_templates.Change(
            "Hi {customer_name}, news about your booking.",
            channel="whatsapp",
            content_sid=CONTENT_SID,
        ),
        boss.id,
        boss.role,
    )
    app.run(app.db.write, _whatsapp_thread)
    send = (review.send_template, app.db, WHATSAPP, "booking_news", {"customer_name": "Ana"})
    gate(app, boss, status=C.PENDING)
    before = app.count("messages")
    with pytest.raises(sending_gate.SendingClosed, match="registration is pending"):
        app.run(*send, boss.id)
    assert app.count("messages") == before

    gate(app, boss, status=C.APPROVED)
    reply = app.run(*send, boss.id)
    gate(app, boss, stopped=True, reason="carrier complaint")
    for _ in range(2):
        send_pass(app)
    assert fake.accepted_to(f"whatsapp:{WHATSAPP}") == []
    (row,) = app.rows("SELECT * FROM messages WHERE id = ?", reply)
    assert (row["status"], row["claimed_at"], row["send_attempts"]) == (S.APPROVED_TO_SEND, None, 0)

    change = gate(app, boss, stopped=False)
    assert (change.returned, change.released) == ((), 1)
    send_pass(app)
    assert len(fake.accepted_to(f"whatsapp:{WHATSAPP}")) == 1
    assert status(app, reply) == S.SENT


def test_reconciliation_waits_for_the_gate_and_then_finds_the_first_attempt(app, fake):
    boss = admin(app)
    app.text("Are you open today?")
    draft = pending_draft(app)
    fake.script(CUSTOMER, fake_twilio.slow(2))  # taken, answered past the 0.5 s timeout
    app.run(review.approve, app.db, draft, review.Decision(boss.id, DecisionChannel.WEB))
    send_pass(app)
    (row,) = app.rows("SELECT * FROM messages WHERE id = ?", draft)
    assert row["unconfirmed_since"] is not None and status(app, draft) == S.APPROVED_TO_SEND
    gate(app, boss, stopped=True, reason="carrier complaint")
    time.sleep(1.1)  # past the retry's backoff (at most 1 s after the first attempt)
    listed = len([r for r in fake.requests if r.method == "GET"])
    send_pass(app)
    # closed: Twilio is neither asked again nor sent to
    assert len([r for r in fake.requests if r.method == "GET"]) == listed
    assert len(to_customer(fake)) == 1
    assert status(app, draft) == S.APPROVED_TO_SEND

    gate(app, boss, stopped=False)
    send_pass(app)
    assert status(app, draft) == S.SENT
    assert len(to_customer(fake)) == 1  # found at Twilio, not sent a second time


def test_approvals_older_than_the_stale_limit_go_back_to_review_on_reopening(twilio_settings, fake):
    with running(twilio_settings(GATE_STALE_MINUTES="0.001")) as app:  # 60 ms
        boss = admin(app)
        app.text("Are you open today?")
        draft = pending_draft(app)
        gate(app, boss, status=C.REJECTED, reason="brand not verified")
        app.run(review.approve, app.db, draft, review.Decision(boss.id, DecisionChannel.WEB))
        time.sleep(0.2)
        change = gate(app, boss, status=C.APPROVED)
        assert (change.returned, change.released) == ((draft,), 0)
        send_pass(app)
        assert to_customer(fake) == []
        assert status(app, draft) == S.DRAFT_PENDING_APPROVAL
        (event,) = app.rows(
            "SELECT * FROM audit_log WHERE message_id = ? AND event = ?", draft, Event.GATE_RETURNED
        )
        assert '"reason":"approved before sending was stopped"' in event["metadata"]
        assert event["actor_id"] == boss.id
        # a second approval sends it
        app.run(review.approve, app.db, draft, review.Decision(boss.id, DecisionChannel.WEB))
        send_pass(app)
        assert len(to_customer(fake)) == 1


def test_every_change_is_audited_with_who_and_what(app):
    boss = admin(app)
    gate(app, boss, stopped=True, reason="carrier complaint")
    gate(app, boss, stopped=False)
    unchanged = gate(app, boss, stopped=False)
    assert not unchanged.changed
    rows = app.rows("SELECT * FROM audit_log WHERE event = ? ORDER BY id", sending_gate.CHANGED)
    # the builder's approve (command line), then the admin's stop and start
    assert [(r["actor_id"]) for r in rows] == [None, boss.id, boss.id]
    assert '"to":{"status":"approved","stopped":true}' in rows[1]["metadata"]
    assert '"reason":"carrier complaint"' in rows[1]["metadata"]


def test_stopping_needs_a_reason_and_a_status_must_be_known(app):
    boss = admin(app)
    with pytest.raises(sending_gate.InvalidGateChange, match="needs a reason"):
        gate(app, boss, stopped=True)
    with pytest.raises(sending_gate.InvalidGateChange, match="approved, pending, rejected"):
        gate(app, boss, status="paused")
    assert app.run(sending_gate.fetch, app.db).open


# -- the first start --------------------------------------------------------------------------


def _gate_at_start(settings: Settings) -> sending_gate.Gate:
    with TestClient(create_app(settings)) as client:
        assert client.portal is not None
        return client.portal.call(sending_gate.fetch, client.app_state["db"])


def test_a_fresh_install_starts_approved_in_sandbox_and_pending_with_credentials(
    make_settings, twilio_settings, db_path, tmp_path
):
    gate_now = _gate_at_start(make_settings())
    assert (gate_now.status, gate_now.stopped, gate_now.changed_by) == (
        C.APPROVED,
        False,
        "first start",
    )
    second = _gate_at_start(twilio_settings(APPROVAL_BOT_DATABASE=str(tmp_path / "b.db")))
    assert (second.status, second.open) == (C.PENDING, False)
    # a later start leaves what the first one (or an admin) set alone
    assert _gate_at_start(make_settings()).changed_at == gate_now.changed_at


# -- the API ------------------------------------------------------------------------------------


def tokens(twilio: Twilio) -> tuple[dict[str, str], dict[str, str]]:
    async def make() -> tuple[str, str]:
        await accounts.add_reviewer(
            twilio.db, "Boss", phone=None, password="correct horse", role=Role.ADMIN
        )
        await accounts.add_reviewer(twilio.db, "Ana", phone=None, password="correct horse")
        return (
            await accounts.create_token(twilio.db, "boss", "Boss"),
            await accounts.create_token(twilio.db, "ana", "Ana"),
        )

    boss, ana = twilio.run(make)
    return {"Authorization": f"Bearer {boss}"}, {"Authorization": f"Bearer {ana}"}


def test_the_api_reads_and_changes_the_gate_for_admins_only(app):
    boss, ana = tokens(app)
    client = app.client
    answer = client.get("/api/v1/sending", headers=ana).json()
    assert set(answer) == {"status", "stopped", "reason", "changed_by", "changed_at"}
    assert (answer["status"], answer["stopped"]) == ("approved", False)

    refused = client.put("/api/v1/sending", headers=ana, json={"stopped": True, "reason": "x"})
    assert refused.status_code == 403 and "admin" in refused.json()["error"]["message"]
    bad = client.put("/api/v1/sending", headers=boss, json={"status": "paused"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "status")
    no_reason = client.put("/api/v1/sending", headers=boss, json={"stopped": True})
    assert (no_reason.status_code, no_reason.json()["error"]["field"]) == (422, "reason")
    assert client.get("/api/v1/sending", headers=ana).json()["stopped"] is False

    done = client.put(
        "/api/v1/sending", headers=boss, json={"stopped": True, "reason": "carrier complaint"}
    )
    assert done.status_code == 200
    assert done.json() | {"changed_at": None} == {
        "status": "approved",
        "stopped": True,
        "reason": "carrier complaint",
        "changed_by": "Boss",
        "changed_at": None,
    }


def test_the_api_holds_an_approval_and_refuses_a_new_reply_naming_the_status(app, fake):
    boss, _ = tokens(app)
    app.text("Are you open today?")
    draft = pending_draft(app)
    app.client.put("/api/v1/sending", headers=boss, json={"status": "pending"})

    approved = app.client.post(f"/api/v1/drafts/{draft}/approve", headers=boss, json={})
    assert approved.status_code == 200
    assert (approved.json()["status"], approved.json()["held_by_sending_gate"]) == (
        "APPROVED_TO_SEND",
        True,
    )
    reply = app.client.post(
        f"/api/v1/threads/{CUSTOMER}/reply", headers=boss, json={"body": "Hi there"}
    )
    assert reply.status_code == 403
    error = reply.json()["error"]
    assert (error["sending_status"], error["sending_stopped"]) == ("pending", False)
    assert "pending" in error["message"]
    send_pass(app)
    assert to_customer(fake) == []

    app.client.put("/api/v1/sending", headers=boss, json={"status": "approved"})
    send_pass(app)
    message = app.client.get(f"/api/v1/messages/{draft}", headers=boss).json()
    assert (message["status"], message["held_by_sending_gate"]) == ("SENT", False)


def test_metrics_show_the_gate_and_what_it_holds(app):
    boss, _ = tokens(app)
    app.text("Are you open today?")
    draft = pending_draft(app)
    app.client.put("/api/v1/sending", headers=boss, json={"stopped": True, "reason": "audit"})
    app.client.post(f"/api/v1/drafts/{draft}/approve", headers=boss, json={})
    text = app.client.get("/metrics", headers=boss).text
    assert 'approval_bot_sending_gate_status{status="approved"} 1.0' in text
    assert 'approval_bot_sending_gate_status{status="pending"} 0.0' in text
    assert "approval_bot_sending_stopped 1.0" in text
    assert "approval_bot_held_by_sending_gate 1.0" in text


# -- the command line ---------------------------------------------------------------------------


def test_the_command_line_changes_the_gate(monkeypatch, db_path, capsys):
    monkeypatch.setenv("APPROVAL_BOT_DATABASE", str(db_path))
    assert main(["sending", "status"]) == 0
    assert "status: approved" in capsys.readouterr().out  # sandbox: the first start approves
    assert main(["sending", "stop", "--reason", " "]) == 1
    assert "blank" in capsys.readouterr().err
    assert main(["sending", "stop", "--reason", "carrier complaint"]) == 0
    out = capsys.readouterr().out
    assert "stopped: yes" in out and "held: sending is stopped: carrier complaint" in out
    assert main(["sending", "reject", "--reason", "brand"]) == 0
    assert main(["sending", "start"]) == 0
    assert "registration was rejected" in capsys.readouterr().out
    assert main(["sending", "approve"]) == 0
    assert "customer messages go out" in capsys.readouterr().out


def test_an_approval_by_text_is_held_and_says_so(app, fake):
    boss = admin(app)
    app.text("Are you open today?")
    draft = pending_draft(app)
    (code,) = app.rows("SELECT code FROM draft_codes WHERE message_id = ?", draft)
    gate(app, boss, stopped=True, reason="carrier complaint")
    app.text(f"A {code[0]}", sender=REVIEWER_PHONE)
    said = f"Approved {code[0]}: it waits, sending is stopped: carrier complaint."
    deadline = time.monotonic() + 10
    # the command is carried out after the webhook answers; its answer goes out after it
    while said not in [m["body"] for m in fake.accepted if m["to"] == REVIEWER_PHONE]:
        assert time.monotonic() < deadline, fake.accepted
        send_pass(app)
        time.sleep(0.05)
    assert status(app, draft) == S.APPROVED_TO_SEND and to_customer(fake) == []
