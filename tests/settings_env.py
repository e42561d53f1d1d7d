"""The environment variables approval-bot reads, so tests can start from none of them."""

from __future__ import annotations

import os

import pytest

SETTING_NAMES = frozenset(
    {
        "APPROVAL_BOT_DATABASE",
        "DATABASE_URL",
        "SECRET_KEY",
        "PUBLIC_BASE_URL",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_FROM_NUMBER",
        "TWILIO_MESSAGING_SERVICE_SID",
        "TWILIO_API_BASE_URL",
        "DRAFTER",
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "OPENAI_MODEL",
        "DRAFT_TIMEOUT_SECONDS",
        "SEND_POLL_SECONDS",
        "SEND_CONCURRENCY",
        "INGEST_CONCURRENCY",
        "SEND_TIMEOUT_SECONDS",
        "SEND_LEASE_SECONDS",
        "ARCHIVE_AFTER_HOURS",
        "ADMIN_NAME",
        "ADMIN_PASSWORD",
        "MISSED_CALL_MESSAGE",
        "LOG_FORMAT",
        "METRICS_PUBLIC",
        "FORWARDED_ALLOW_IPS",
        "WEBHOOK_MAX_ATTEMPTS",
        "WEBHOOK_CONCURRENCY",
        "WEBHOOK_ALLOW_PRIVATE",
        "EVENT_RETENTION_DAYS",
        "REVIEW_REMIND_MINUTES",
        "REVIEW_ESCALATE_MINUTES",
        "REVIEW_HOLDING_REPLY_MINUTES",
        "BUSINESS_HOURS",
        "BUSINESS_TIMEZONE",
    }
)


def _is_setting(name: str) -> bool:
    return name in SETTING_NAMES or name.startswith(("TWILIO_", "OPENAI_"))


def clear_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every approval-bot setting from os.environ for one test."""
    for name in list(os.environ):
        if _is_setting(name):
            monkeypatch.delenv(name)


def environ_without_settings() -> dict[str, str]:
    """A copy of os.environ for a subprocess, without any approval-bot setting."""
    return {name: value for name, value in os.environ.items() if not _is_setting(name)}
