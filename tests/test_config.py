"""Settings: read from the environment, checked at start, secrets never shown."""

from __future__ import annotations

import logging
import stat
import sys
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from approval_bot.config import (
    SECRET_KEY_FILE,
    Settings,
    SettingsError,
    load_settings,
    read_secret_key,
)

from .settings_env import clear_settings

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
SERVICE_SID = "MG" + "fedcba9876543210" * 2
# distinctive, so that finding it anywhere in a text means it leaked
AUTH_TOKEN = "9f3c2d71e4b84a6c8d5e0f1a2b3c4d5e"
FROM_NUMBER = "+14155550100"
TWILIO = {
    "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    "TWILIO_FROM_NUMBER": FROM_NUMBER,
}


def key_file(db_path: Path) -> Path:
    return db_path.parent / SECRET_KEY_FILE


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    settings = load_settings({})

    assert settings.database == Path("data/approval_bot.sqlite3")
    assert settings.public_base_url == "http://127.0.0.1:8000"
    assert settings.drafter == "builtin"
    assert settings.draft_timeout_seconds == 10.0
    assert settings.send_poll_seconds == 2.0
    assert settings.archive_after_hours == 72.0
    assert settings.human_override_window_seconds == 60.0  # issue 13: "default 60"
    assert settings.claim_minutes == 5.0  # issue 15: "CLAIM_MINUTES (default 5)"
    assert settings.admin_name == "admin"
    assert settings.admin_password is None
    assert settings.twilio_account_sid is None
    # sandbox mode signs its own webhooks with a token generated beside the database
    assert len(str(settings.twilio_auth_token)) >= 32
    assert settings.openai_model is None
    assert settings.sandbox is True
    assert settings.forwarded_allow_ips == ()  # no proxy is trusted unless named
    # the key is made beside the default database, relative to the working directory
    assert (tmp_path / "data" / SECRET_KEY_FILE).is_file()


def test_reads_os_environ_when_given_nothing(
    monkeypatch: pytest.MonkeyPatch, db_path: Path
) -> None:
    clear_settings(monkeypatch)
    monkeypatch.setenv("APPROVAL_BOT_DATABASE", str(db_path))
    monkeypatch.setenv("SEND_POLL_SECONDS", "0.5")

    settings = load_settings()

    assert settings.database == db_path
    assert settings.send_poll_seconds == 0.5


def test_values_are_read(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(
        PUBLIC_BASE_URL="https://bot.example.com/",
        DRAFTER="openai",
        OPENAI_MODEL="gpt-test",
        OPENAI_BASE_URL="http://127.0.0.1:11434/v1/",
        DRAFT_TIMEOUT_SECONDS="2.5",
        ARCHIVE_AFTER_HOURS="1",
        REQUEST_RECEIVE_SECONDS="12.5",
        ADMIN_NAME="  Root  ",
        **TWILIO,
    )

    assert settings.public_base_url == "https://bot.example.com"
    assert settings.openai_base_url == "http://127.0.0.1:11434/v1"
    assert settings.drafter == "openai"
    assert settings.openai_model == "gpt-test"
    assert settings.draft_timeout_seconds == 2.5
    assert settings.archive_after_hours == 1.0
    assert settings.request_receive_seconds == 12.5
    assert settings.admin_name == "Root"
    assert settings.twilio_account_sid == ACCOUNT_SID
    assert str(settings.twilio_auth_token) == AUTH_TOKEN
    assert settings.twilio_from_number == FROM_NUMBER


@pytest.mark.parametrize(
    ("environ", "sandbox"),
    [
        ({}, True),
        # an empty variable (as env files often have) counts as unset
        ({"TWILIO_ACCOUNT_SID": "", "TWILIO_AUTH_TOKEN": ""}, True),
        (TWILIO, False),
        (
            {
                "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "TWILIO_MESSAGING_SERVICE_SID": SERVICE_SID,
            },
            False,
        ),
        ({**TWILIO, "TWILIO_FROM_NUMBER": "whatsapp:+14155550100"}, False),
    ],
    ids=["no-credentials", "empty-credentials", "from-number", "messaging-service", "whatsapp"],
)
def test_sandbox_without_credentials(
    make_settings: Callable[..., Settings], environ: dict[str, str], sandbox: bool
) -> None:
    assert make_settings(**environ).sandbox is sandbox


BAD_SETTINGS = [
    ({"PUBLIC_BASE_URL": "ftp://bot.example.com"}, "PUBLIC_BASE_URL"),
    ({"PUBLIC_BASE_URL": "bot.example.com"}, "PUBLIC_BASE_URL"),
    ({"TWILIO_API_BASE_URL": "localhost:4010"}, "TWILIO_API_BASE_URL"),
    ({"OPENAI_BASE_URL": "https://"}, "OPENAI_BASE_URL"),
    ({**TWILIO, "TWILIO_ACCOUNT_SID": "AC123"}, "TWILIO_ACCOUNT_SID"),
    ({**TWILIO, "TWILIO_ACCOUNT_SID": "SK" + ACCOUNT_SID[2:]}, "TWILIO_ACCOUNT_SID"),
    ({**TWILIO, "TWILIO_ACCOUNT_SID": ACCOUNT_SID + "0"}, "TWILIO_ACCOUNT_SID"),
    ({"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_FROM_NUMBER": FROM_NUMBER}, "TWILIO_AUTH_TOKEN"),
    ({"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM_NUMBER": FROM_NUMBER}, "TWILIO_ACCOUNT_SID"),
    ({"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN}, "TWILIO_FROM_NUMBER"),
    ({**TWILIO, "TWILIO_FROM_NUMBER": "555"}, "TWILIO_FROM_NUMBER"),
    ({**TWILIO, "TWILIO_FROM_NUMBER": "+1415555"}, "TWILIO_FROM_NUMBER"),
    ({**TWILIO, "TWILIO_FROM_NUMBER": "sms:+14155550100"}, "TWILIO_FROM_NUMBER"),
    ({**TWILIO, "TWILIO_MESSAGING_SERVICE_SID": "MG123"}, "TWILIO_MESSAGING_SERVICE_SID"),
    ({**TWILIO, "TWILIO_MESSAGING_SERVICE_SID": ACCOUNT_SID}, "TWILIO_MESSAGING_SERVICE_SID"),
    ({"DRAFTER": "other"}, "DRAFTER"),
    ({"DRAFTER": "OpenAI", "OPENAI_MODEL": "gpt-test"}, "DRAFTER"),
    ({"DRAFTER": "openai"}, "OPENAI_MODEL"),
    ({"DRAFT_TIMEOUT_SECONDS": "0"}, "DRAFT_TIMEOUT_SECONDS"),
    ({"DRAFT_TIMEOUT_SECONDS": "-1"}, "DRAFT_TIMEOUT_SECONDS"),
    ({"DRAFT_TIMEOUT_SECONDS": "ten"}, "DRAFT_TIMEOUT_SECONDS"),
    ({"SEND_POLL_SECONDS": "0"}, "SEND_POLL_SECONDS"),
    ({"SEND_POLL_SECONDS": "nan"}, "SEND_POLL_SECONDS"),
    ({"SEND_POLL_SECONDS": "inf"}, "SEND_POLL_SECONDS"),
    ({"REQUEST_RECEIVE_SECONDS": "0"}, "REQUEST_RECEIVE_SECONDS"),
    ({"REQUEST_RECEIVE_SECONDS": "30s"}, "REQUEST_RECEIVE_SECONDS"),
    ({"ARCHIVE_AFTER_HOURS": "-0.5"}, "ARCHIVE_AFTER_HOURS"),
    ({"ARCHIVE_AFTER_HOURS": "NaN"}, "ARCHIVE_AFTER_HOURS"),
    ({"ARCHIVE_AFTER_HOURS": "Infinity"}, "ARCHIVE_AFTER_HOURS"),
    ({"SECRET_KEY": "k" * 31}, "SECRET_KEY"),
    ({"ADMIN_NAME": "   "}, "ADMIN_NAME"),
    ({"FORWARDED_ALLOW_IPS": "*"}, "FORWARDED_ALLOW_IPS"),
    ({"FORWARDED_ALLOW_IPS": "proxy.internal"}, "FORWARDED_ALLOW_IPS"),
    ({"FORWARDED_ALLOW_IPS": "10.0.0.1/8"}, "FORWARDED_ALLOW_IPS"),
    ({"FORWARDED_ALLOW_IPS": "127.0.0.1,"}, "FORWARDED_ALLOW_IPS"),
    ({"HUMAN_OVERRIDE_WINDOW_SECONDS": "-1"}, "HUMAN_OVERRIDE_WINDOW_SECONDS"),
    ({"HUMAN_OVERRIDE_WINDOW_SECONDS": "a minute"}, "HUMAN_OVERRIDE_WINDOW_SECONDS"),
    ({"CLAIM_MINUTES": "0"}, "CLAIM_MINUTES"),
    ({"CLAIM_MINUTES": "-5"}, "CLAIM_MINUTES"),
    ({"CLAIM_MINUTES": "five"}, "CLAIM_MINUTES"),
    ({"CLAIM_MINUTES": "481"}, "CLAIM_MINUTES"),  # more than a working day of 8 hours
]


@pytest.mark.parametrize(("environ", "variable"), BAD_SETTINGS)
def test_bad_setting_is_refused_by_name_and_leaves_no_key_file(
    make_settings: Callable[..., Settings],
    db_path: Path,
    environ: dict[str, str],
    variable: str,
) -> None:
    with pytest.raises(SettingsError) as raised:
        make_settings(**environ)

    assert variable in str(raised.value)
    assert not key_file(db_path).exists()


def test_forwarded_allow_ips_takes_addresses_and_networks(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(FORWARDED_ALLOW_IPS="127.0.0.1, ::1,10.0.0.0/8")
    assert settings.forwarded_allow_ips == ("127.0.0.1/32", "::1/128", "10.0.0.0/8")


def test_boundary_numbers_are_accepted(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(
        SEND_POLL_SECONDS="0.001", DRAFT_TIMEOUT_SECONDS="1e3", CLAIM_MINUTES="480"
    )

    assert settings.send_poll_seconds == 0.001
    assert settings.draft_timeout_seconds == 1000.0
    assert settings.claim_minutes == 480.0


def test_secret_key_file_is_made_private_and_reused(
    make_settings: Callable[..., Settings], db_path: Path
) -> None:
    first = make_settings()

    path = key_file(db_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text(encoding="ascii").strip() == str(first.secret_key)
    assert len(str(first.secret_key)) >= 32

    # a restart reads the same key, so sessions signed with it stay valid
    second = make_settings()
    assert str(second.secret_key) == str(first.secret_key)


def test_each_database_directory_gets_its_own_key(tmp_path: Path) -> None:
    one = load_settings({"APPROVAL_BOT_DATABASE": str(tmp_path / "one" / "db.sqlite3")})
    two = load_settings({"APPROVAL_BOT_DATABASE": str(tmp_path / "two" / "db.sqlite3")})

    assert str(one.secret_key) != str(two.secret_key)


def test_secret_key_from_environment_writes_no_file(
    make_settings: Callable[..., Settings], db_path: Path
) -> None:
    key = "s" * 32

    settings = make_settings(SECRET_KEY=key)

    assert str(settings.secret_key) == key
    assert not key_file(db_path).exists()


def test_unusable_key_file_is_reported(make_settings: Callable[..., Settings], db_path: Path):
    db_path.parent.mkdir(parents=True)
    key_file(db_path).write_text("short\n", encoding="ascii")

    with pytest.raises(SettingsError, match="SECRET_KEY") as raised:
        make_settings()

    assert str(key_file(db_path)) in str(raised.value)


def secrets_of(settings: Settings) -> list[str]:
    values = [
        settings.secret_key,
        settings.twilio_auth_token,
        settings.openai_api_key,
        settings.admin_password,
    ]
    return [str(value) for value in values if value is not None]


SECRETS = {
    **TWILIO,
    "SECRET_KEY": "0penSesame-0penSesame-0penSesame-42",
    "OPENAI_API_KEY": "sk-test-4f1e2d3c4b5a69788796a5b4",
    "ADMIN_PASSWORD": "hunter2-but-longer",
}


def test_repr_and_str_hide_secrets(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(**SECRETS)
    assert len(secrets_of(settings)) == 4

    for text in (repr(settings), str(settings), f"{settings}", f"{settings!r}"):
        assert "Settings(" in text  # the fields are there …
        assert ACCOUNT_SID in text
        for secret in secrets_of(settings):
            assert secret not in text  # … the secrets are not


@pytest.mark.parametrize(
    "sibling",
    [
        {"TWILIO_ACCOUNT_SID": "AC123"},
        {"TWILIO_FROM_NUMBER": "555"},
        {"TWILIO_MESSAGING_SERVICE_SID": "MG123"},
        {"TWILIO_API_BASE_URL": "nowhere"},
        {"PUBLIC_BASE_URL": "nowhere"},
        {"SEND_POLL_SECONDS": "0"},
        {"DRAFTER": "other"},
    ],
)
def test_an_error_about_another_setting_does_not_show_the_token(
    make_settings: Callable[..., Settings], sibling: dict[str, str]
) -> None:
    with pytest.raises(SettingsError) as raised:
        make_settings(**{**TWILIO, **sibling})

    shown = "".join(traceback.format_exception(raised.value))
    assert next(iter(sibling)) in shown
    assert AUTH_TOKEN not in shown


def fail_with(settings: Settings) -> None:
    raise RuntimeError(f"could not reach Twilio as {settings.twilio_account_sid}")


def test_tracebacks_and_logs_with_settings_in_scope_hide_the_token(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(**SECRETS)
    log = logging.getLogger("approval_bot.test")

    try:
        fail_with(settings)
    except RuntimeError:
        plain = traceback.format_exc()
        # the most revealing form: every frame's local variables, settings included
        with_locals = "".join(
            traceback.TracebackException(*sys.exc_info(), capture_locals=True).format()
        )
        log.exception("send failed with %s", settings)
        log.error("settings: %r", settings)

    assert "settings = Settings(" in with_locals
    assert ACCOUNT_SID in plain and ACCOUNT_SID in caplog.text
    for secret in secrets_of(settings):
        assert secret not in plain
        assert secret not in with_locals
        assert secret not in caplog.text


def test_processes_starting_together_agree_on_one_secret_key(tmp_path: Path) -> None:
    database = tmp_path / "data" / "db.sqlite3"

    with ThreadPoolExecutor(8) as pool:
        keys = list(pool.map(lambda _: str(read_secret_key(database)), range(32)))

    assert len(set(keys)) == 1
    assert [p.name for p in database.parent.iterdir()] == ["secret_key"]


def test_review_policy_defaults_and_values(make_settings: Callable[..., Settings]) -> None:
    defaults = make_settings()
    # issue 15: remind at 10, escalate at 30, no holding reply, always open
    assert (defaults.review_remind_minutes, defaults.review_escalate_minutes) == (10.0, 30.0)
    assert defaults.review_holding_reply_minutes is None
    assert defaults.business_hours.always_open
    settings = make_settings(
        REVIEW_REMIND_MINUTES="1",
        REVIEW_ESCALATE_MINUTES="2",
        REVIEW_HOLDING_REPLY_MINUTES="3",
        BUSINESS_HOURS="Mon-Fri 09:00-18:00, Sat 10:00-14:00",
        BUSINESS_TIMEZONE="Europe/Paris",
    )
    assert (settings.review_remind_minutes, settings.review_escalate_minutes) == (1.0, 2.0)
    assert settings.review_holding_reply_minutes == 3.0
    assert settings.business_hours.text == "Mon-Fri 09:00-18:00, Sat 10:00-14:00"
    assert settings.business_hours.zone.key == "Europe/Paris"
    assert len(settings.business_hours.openings) == 6


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REVIEW_REMIND_MINUTES": "soon"}, "REVIEW_REMIND_MINUTES must be a positive number"),
        ({"REVIEW_ESCALATE_MINUTES": "0"}, "REVIEW_ESCALATE_MINUTES must be a positive number"),
        (
            {"REVIEW_REMIND_MINUTES": "30", "REVIEW_ESCALATE_MINUTES": "20"},
            "REVIEW_ESCALATE_MINUTES (20) must be more than REVIEW_REMIND_MINUTES (30)",
        ),
        (
            {"REVIEW_HOLDING_REPLY_MINUTES": "15"},
            "REVIEW_HOLDING_REPLY_MINUTES (15) must be more than REVIEW_ESCALATE_MINUTES (30)",
        ),
        ({"BUSINESS_HOURS": "weekdays 9 to 5"}, "BUSINESS_HOURS must be like"),
        ({"BUSINESS_HOURS": "Mon-Fri 09:00-25:00"}, "'25:00'"),
    ],
)
def test_bad_review_policy_is_refused_by_name(
    make_settings: Callable[..., Settings], env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as error:
        make_settings(**env)
    assert message in str(error.value)
