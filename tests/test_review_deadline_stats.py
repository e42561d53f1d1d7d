"""Decisions against the review deadlines: per reviewer and overall on /stats (share decided
before the reminder and before escalation, holding replies sent), and in /metrics
(`approval_bot_review_sla_steps_total{step}` and the business-hours histogram)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from approval_bot import accounts, ladder, review
from approval_bot.models import DecisionChannel
from tests.builders import make_drafted_inbound

pytestmark = pytest.mark.both_backends


def pending(web, thread):
    # the text and its draft in one write: between two, the running app's recovery job
    # could find the text waiting and draft it a second time
    return web.call(make_drafted_inbound, web.db, thread, "Are you open today?")


def decide(web, reviewer, draft, *, approve=True):
    act = review.approve if approve else review.reject
    web.call(act, web.db, draft, review.Decision(reviewer.id, DecisionChannel.WEB))


def test_stats_and_metrics_measure_decisions_against_the_deadlines(web):
    ana = web.reviewer("Ana", phone="+14155550111")
    bob = web.reviewer("Bob", phone="+14155550112")
    first, second, third = (pending(web, f"+1415555020{i}") for i in range(3))
    decide(web, ana, first)  # before the reminder
    web.call(ladder.run_pass, web.db, datetime.now(UTC) + timedelta(minutes=11))
    decide(web, bob, second)  # reminded, not yet escalated
    web.call(ladder.run_pass, web.db, datetime.now(UTC) + timedelta(minutes=31))
    decide(web, ana, third, approve=False)  # escalated

    web.sign_in("Ana")
    page = web.client.get("/stats").text
    section = page.split('id="review-deadlines"')[1].split("</section>")[0]
    rows = [
        [cell.split(">")[-1] for cell in row.split("</td>")[:4]]
        for row in section.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    ]
    assert rows == [
        ["All", "3", "33%", "67%"],
        ["Ana", "2", "50%", "50%"],
        ["Bob", "1", "0%", "100%"],
    ]
    assert '<span id="holding-sent">0</span> holding replies sent' in section
    assert "<title>reminders: 2</title>" in section and "<title>escalations: 1</title>" in section

    token = web.call(accounts.create_token, web.db, "scraper", "Ana")
    text = web.client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    steps = "approval_bot_review_sla_steps_total"
    assert samples[(steps, (("step", "reminded"),))] == 2
    assert samples[(steps, (("step", "escalated"),))] == 1
    histogram = "approval_bot_review_business_seconds_to_decision"
    assert samples[(f"{histogram}_count", ())] == 3
    # all three were decided within a minute of real time
    assert samples[(f"{histogram}_bucket", (("le", "60"),))] == 3
    assert samples[(f"{histogram}_sum", ())] < 60
