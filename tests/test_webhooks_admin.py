"""Managing webhook subscriptions: the CLI, the JSON API (admins) and the Webhooks page."""

from __future__ import annotations

import time

import pytest

from approval_bot import accounts
from approval_bot.models import Role
from tests.fake_webhook_receiver import FakeReceiver
from tests.test_cli import SECRET, URL


def api_token(web, role: Role) -> dict[str, str]:
    name = "Boss" if role is Role.ADMIN else "Ana"
    web.reviewer(name, role=role)
    token = web.call(accounts.create_token, web.db, f"t-{name}", name)
    return {"Authorization": f"Bearer {token}"}


def test_api_add_list_delete(web):
    admin = api_token(web, Role.ADMIN)
    created = web.client.post("/api/v1/webhooks", json={"url": URL, "events": ["*"]}, headers=admin)
    assert created.status_code == 201, created.text
    body = created.json()
    assert SECRET.fullmatch(body["secret"]) and body["events"] == ["*"] and body["active"]
    listed = web.client.get("/api/v1/webhooks", headers=admin).json()
    assert [item["url"] for item in listed["items"]] == [URL]
    assert "secret" not in listed["items"][0]
    gone = web.client.delete(f"/api/v1/webhooks/{body['id']}", headers=admin)
    assert gone.status_code == 200 and gone.json()["id"] == body["id"]
    assert web.client.get("/api/v1/webhooks", headers=admin).json()["items"] == []
    again = web.client.delete(f"/api/v1/webhooks/{body['id']}", headers=admin)
    assert again.status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"url": "gopher://example.com/", "events": ["*"]}, "url"),
        ({"url": URL, "events": ["appointment.booked"]}, "events"),
        ({"url": URL, "events": []}, "events"),
        ({"url": URL}, "events"),
    ],
)
def test_api_refuses_bad_urls_and_unknown_types_with_422(web, payload, field):
    admin = api_token(web, Role.ADMIN)
    answer = web.client.post("/api/v1/webhooks", json=payload, headers=admin)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field
    assert web.rows("SELECT * FROM webhook_subscriptions") == []


def test_api_is_for_admins_only(web):
    reviewer = api_token(web, Role.REVIEWER)
    for answer in (
        web.client.get("/api/v1/webhooks", headers=reviewer),
        web.client.post("/api/v1/webhooks", json={"url": URL, "events": ["*"]}, headers=reviewer),
        web.client.delete("/api/v1/webhooks/1", headers=reviewer),
    ):
        assert answer.status_code == 403
        assert answer.json()["error"]["message"] == "only an admin may manage webhooks"
    assert web.rows("SELECT * FROM webhook_subscriptions") == []


def test_the_page_adds_shows_the_secret_once_and_resends(web):
    web.reviewer("Boss", role=Role.ADMIN)
    web.sign_in("Boss")
    assert 'href="/webhooks"' in web.client.get("/").text
    with FakeReceiver() as receiver:
        added = web.post("/webhooks/add", {"url": receiver.url, "events": "message.received"})
        found = SECRET.search(added.text)
        assert added.status_code == 200 and found is not None
        receiver.secret = found[0]
        page = web.client.get("/webhooks")
        assert receiver.url in page.text and SECRET.search(page.text) is None
        (sub,) = web.rows("SELECT id FROM webhook_subscriptions")

        def failed_delivery(conn):
            conn.execute(
                """INSERT INTO event_outbox (id, type, schema_version, occurred_at, data)
                   VALUES ('e1', 'message.received', 1, '2026-01-01T00:00:00+00:00', '{}')"""
            )
            conn.execute(
                """INSERT INTO webhook_deliveries (event_id, subscription_id, status, attempts,
                   next_attempt_at, last_error)
                   VALUES ('e1', ?, 'failed', 8, '', 'answered 500')""",
                (sub["id"],),
            )

        web.call(web.db.write, failed_delivery)
        page = web.client.get("/webhooks")
        assert "answered 500" in page.text and "1 failed" in page.text
        assert web.post("/webhooks/deliveries/1/resend").status_code == 303
        deadline = time.monotonic() + 20
        while not receiver.accepted():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert [r.id for r in receiver.accepted()] == ["e1"]


def test_the_page_is_for_admins_only(web):
    web.reviewer("Ana", role=Role.REVIEWER)
    web.sign_in("Ana")
    assert 'href="/webhooks"' not in web.client.get("/").text
    assert web.client.get("/webhooks").status_code == 403


@pytest.mark.both_backends
@pytest.mark.parametrize(
    "raw_id", ["%C2%B2", "9223372036854775808", "99999999999999999999999", "9" * 5000]
)
@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("/webhooks/{id}/disable", "webhook"),
        ("/webhooks/{id}/rotate", "webhook"),
        ("/webhooks/{id}/remove", "webhook"),
        ("/webhooks/deliveries/{id}/resend", "delivery"),
    ],
)
def test_the_page_answers_404_to_an_id_that_cannot_be_one(web, raw_id, path, what):
    # "²" passes str.isdigit but is no number; 2**63 is past the largest row id
    web.reviewer("Boss", role=Role.ADMIN)
    web.sign_in("Boss")
    before = web.rows("SELECT count(*) AS n FROM audit_log")[0]["n"]

    response = web.post(path.format(id=raw_id))

    assert response.status_code == 404
    assert f"no such {what}" in response.text
    assert web.rows("SELECT count(*) AS n FROM audit_log")[0]["n"] == before
