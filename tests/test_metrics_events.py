"""/metrics values move when the matching events happen, through the real routes and webhooks."""

from __future__ import annotations

import re
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from approval_bot import accounts, review
from approval_bot.app import create_app
from approval_bot.models import DecisionChannel, Role
from approval_bot.web.twilio_edge import our_account_sid
from tests.builders import make_draft, make_inbound
from tests.twilio_client import CUSTOMER, PUBLIC, running
from tests.webclient import Web

ANA = "+14155550123"


Scraped = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient) -> Scraped:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(scraped: Scraped, name: str, **labels: str) -> float:
    return scraped.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_until(check, what: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    pytest.fail(f"{what} did not happen")


def test_an_sms_approval_a_send_and_a_delivery_callback_each_move_their_metric(make_settings):
    with running(make_settings(PUBLIC_BASE_URL=PUBLIC, METRICS_PUBLIC="true")) as twilio:
        twilio.run(
            accounts.add_reviewer,
            twilio.db,
            "Ana",
            phone=ANA,
            password="x" * 12,
            role=Role.REVIEWER,
        )
        before = scrape(twilio.client)
        twilio.text("Are you open on Sunday?")
        (notice,) = [
            row["body"] for row in twilio.rows("SELECT body FROM notifications ORDER BY id")
        ]
        code = re.search(r"Draft (\w{4})", notice)
        assert code is not None

        twilio.text(f"A {code[1]}", sender=ANA)
        decided = scrape(twilio.client)
        assert value(decided, "approval_bot_decisions_total", action="APPROVE", channel="sms") == 1
        assert value(decided, "approval_bot_draft_to_decision_seconds_count") == 1
        assert value(before, "approval_bot_draft_to_decision_seconds_count") == 0

        def accepted() -> bool:
            sent = twilio.rows("SELECT status FROM messages WHERE type = 'DRAFT'")
            return bool(sent[0]["status"] == "SENT")

        wait_until(accepted, "the send")
        wait_until(
            lambda: (
                value(scrape(twilio.client), "approval_bot_approve_to_accepted_seconds_count") == 1
            ),
            "the approve→accepted observation",
        )
        (draft,) = twilio.rows("SELECT provider_sid FROM messages WHERE type = 'DRAFT'")

        for status in ("delivered", "delivered", "read"):
            response = twilio.post(
                "/webhooks/twilio/status",
                {
                    "MessageSid": draft["provider_sid"],
                    "MessageStatus": status,
                    "AccountSid": our_account_sid(twilio.settings),
                },
            )
            assert response.status_code == 200
        after = scrape(twilio.client)
        # a replayed callback is not counted again
        assert value(after, "approval_bot_delivery_statuses_total", status="delivered") == 1
        assert value(after, "approval_bot_delivery_statuses_total", status="read") == 1
        assert value(before, "approval_bot_delivery_statuses_total", status="read") == 0
        stored = {"channel": "sms", "outcome": "stored"}
        assert value(before, "approval_bot_inbound_messages_total", **stored) == 0
        assert value(after, "approval_bot_inbound_messages_total", **stored) == 1


def test_web_decisions_count_once_each_and_a_refused_second_approval_not_at_all(make_settings):
    with TestClient(
        create_app(make_settings(METRICS_PUBLIC="true")), base_url="http://127.0.0.1:8000"
    ) as client:
        web = Web(client)
        web.reviewer("Ana")
        web.sign_in("Ana")
        drafts = [
            web.call(make_draft, web.db, web.call(make_inbound, web.db, f"+1415555010{n}"))
            for n in range(3)
        ]

        assert web.post(f"/drafts/{drafts[0]}/approve").status_code == 303
        assert web.post(f"/drafts/{drafts[0]}/approve").status_code == 409
        edited = web.post(f"/drafts/{drafts[1]}/edit", {"body": "Open 9 to 6.", "approve": "1"})
        assert edited.status_code == 303
        assert web.post(f"/drafts/{drafts[2]}/reject", {"reason": "wrong hours"}).status_code == 303
        saved = web.call(make_draft, web.db, web.call(make_inbound, web.db, CUSTOMER))
        # an edit saved without approving is not a decision
        assert web.post(f"/drafts/{saved}/edit", {"body": "Open till 6."}).status_code == 303

        scraped = scrape(client)
        for action in ("APPROVE", "EDIT", "REJECT"):
            assert value(scraped, "approval_bot_decisions_total", action=action, channel="web") == 1
        assert value(scraped, "approval_bot_draft_to_decision_seconds_count") == 3


def test_a_decision_through_another_door_is_counted_by_the_same_hook(make_settings):
    with TestClient(create_app(make_settings(METRICS_PUBLIC="true"))) as client:
        web = Web(client)
        ana = web.reviewer("Ana")
        draft = web.call(make_draft, web.db, web.call(make_inbound, web.db))
        web.call(review.approve, web.db, draft, review.Decision(ana.id, DecisionChannel.API))

        scraped = scrape(client)
        assert value(scraped, "approval_bot_decisions_total", action="APPROVE", channel="api") == 1
        assert value(scraped, "approval_bot_decisions_total", action="APPROVE", channel="web") == 0
