"""/metrics: Prometheus text for a scraper with an API token; the gauges follow the queue."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from approval_bot import accounts
from approval_bot.app import create_app
from tests.builders import make_draft, make_inbound, make_reviewer

pytestmark = pytest.mark.anyio


def samples(text: str) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_need_a_live_token_and_follow_the_queue(db, make_settings):
    await make_reviewer(db, "Ana")
    token = await accounts.create_token(db, "scraper", "Ana")
    with TestClient(create_app(make_settings())) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
        auth = {"Authorization": f"Bearer {token}"}

        empty = samples(client.get("/metrics", headers=auth).text)
        await make_draft(db, await make_inbound(db, "+14155550100"))
        await make_draft(db, await make_inbound(db, "+14155550101"))
        response = client.get("/metrics", headers=auth)

        assert response.headers["content-type"].startswith("text/plain")
        after = samples(response.text)
        assert (empty["approval_bot_queue_depth"], after["approval_bot_queue_depth"]) == (0, 2)
        assert after["approval_bot_oldest_pending_age_seconds"] > 0

        await accounts.revoke_token(db, "scraper")
        assert client.get("/metrics", headers=auth).status_code == 401


def test_metrics_can_be_public(make_settings):
    with TestClient(create_app(make_settings(METRICS_PUBLIC="true"))) as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    assert "approval_bot_webhook_signature_failures" in response.text
