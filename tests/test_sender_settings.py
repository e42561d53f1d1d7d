"""The sender's settings, and the job the app's lifespan registers with them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from approval_bot.app import create_app
from approval_bot.config import SettingsError
from approval_bot.scheduler import SENDER_JOB_ID


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


def test_the_lifespan_registers_the_sender_job(make_settings):
    settings = make_settings(SEND_POLL_SECONDS="3")
    with TestClient(create_app(settings)) as client:
        job = client.app_state["scheduler"].get_job(SENDER_JOB_ID)
        assert job is not None
        assert job.trigger.interval == timedelta(seconds=3)
        assert (job.max_instances, job.coalesce) == (1, True)
