"""The sender's settings, and the job the app's lifespan registers with them."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from approval_bot import review
from approval_bot.app import create_app
from approval_bot.config import SettingsError
from approval_bot.models import DecisionChannel
from approval_bot.scheduler import SENDER_JOB_ID, wake_sender
from approval_bot.store import opened, sql
from tests import fake_twilio
from tests.builders import BUSINESS, approve_sending, make_draft, make_inbound, make_reviewer


def test_defaults(make_settings):
    settings = make_settings()
    assert (
        settings.send_concurrency,
        settings.send_timeout_seconds,
        settings.send_lease_seconds,
    ) == (10, 10.0, 60.0)


def test_values_are_read(make_settings):
    settings = make_settings(
        SEND_CONCURRENCY="32", SEND_TIMEOUT_SECONDS="2.5", SEND_LEASE_SECONDS="6"
    )
    assert (settings.send_concurrency, settings.send_timeout_seconds) == (32, 2.5)
    assert settings.send_lease_seconds == 6.0


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"SEND_CONCURRENCY": "0"}, "SEND_CONCURRENCY"),
        ({"SEND_CONCURRENCY": "-3"}, "SEND_CONCURRENCY"),
        ({"SEND_CONCURRENCY": "1.5"}, "SEND_CONCURRENCY"),
        ({"SEND_CONCURRENCY": "ten"}, "SEND_CONCURRENCY"),
        ({"SEND_CONCURRENCY": "257"}, "SEND_CONCURRENCY"),
        ({"SEND_TIMEOUT_SECONDS": "0"}, "SEND_TIMEOUT_SECONDS"),
        ({"SEND_LEASE_SECONDS": "nan"}, "SEND_LEASE_SECONDS"),
        ({"SEND_LEASE_SECONDS": "20"}, "SEND_LEASE_SECONDS"),  # not more than 2 × 10
        ({"SEND_TIMEOUT_SECONDS": "30"}, "SEND_LEASE_SECONDS"),  # 60 is not more than 2 × 30
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(make_settings, environ, named):
    with pytest.raises(SettingsError) as refused:
        make_settings(**environ)
    assert str(refused.value).startswith(named)


@pytest.mark.both_backends
def test_the_lifespan_registers_the_sender_job(make_settings):
    settings = make_settings(SEND_POLL_SECONDS="3")
    with TestClient(create_app(settings)) as client:
        job = client.app_state["scheduler"].get_job(SENDER_JOB_ID)
        assert job is not None
        assert job.trigger.interval == timedelta(seconds=3)
        assert (job.max_instances, job.coalesce) == (1, True)


@pytest.mark.both_backends
def test_stopping_the_app_records_the_send_in_flight_first(make_settings, database_target):
    async def approve() -> str:
        async with opened(database_target) as db:
            await approve_sending(db)  # with credentials the gate starts pending
            ana = await make_reviewer(db)
            draft = await make_draft(db, await make_inbound(db, "+14155550100"))
            await review.approve(db, draft, review.Decision(ana.id, DecisionChannel.WEB))
            return draft

    with fake_twilio.FakeTwilio() as fake:
        fake.script("+14155550100", fake_twilio.HELD)
        settings = make_settings(
            TWILIO_ACCOUNT_SID=fake.account_sid,
            TWILIO_AUTH_TOKEN=fake.auth_token,
            TWILIO_FROM_NUMBER=BUSINESS,
            TWILIO_API_BASE_URL=fake.url,
        )
        with TestClient(create_app(settings)) as client:
            assert client.portal is not None
            draft = client.portal.call(approve)
            client.portal.call(lambda: _wake(wake_sender, client))
            fake.wait_accepted(1)
            # the answer comes only after the app has begun to stop
            threading.Timer(0.3, fake.release).start()
        row = asyncio.run(_sent(database_target, draft))
        assert (row["status"], row["provider_sid"]) == ("SENT", fake.accepted[0]["sid"])


async def _sent(database, draft: str):
    async with opened(database) as db:
        return await db.one(
            sql("SELECT status, provider_sid FROM messages WHERE id = :id"), id=draft
        )


async def _wake(wake, client) -> None:
    wake(client.app_state["scheduler"])
