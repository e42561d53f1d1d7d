"""Settings: read once from the environment into a typed object, validated at start."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.datastructures import Secret

from .business_hours import BusinessHours, InvalidBusinessHours
from .phones import InvalidPhone, parse_address
from .store.connect import UnknownDatabaseUrl, backend_of
from .store.postgres import redact

DEFAULT_DATABASE = "data/approval_bot.sqlite3"
SECRET_KEY_FILE = "secret_key"
SANDBOX_TOKEN_FILE = "sandbox_auth_token"
DEFAULT_MISSED_CALL_MESSAGE = "Sorry we missed your call. We will text you back shortly."
# a claim is for the time one reviewer works on one draft: longer would lock others out
MAX_CLAIM_MINUTES = 480


class SettingsError(Exception):
    """A setting is missing or has a value that is not allowed; the message names it."""


@dataclass(frozen=True)
class Settings:
    database: Path
    secret_key: Secret
    public_base_url: str
    twilio_account_sid: str | None
    # the real auth token, or in sandbox mode one generated for signing our own requests
    twilio_auth_token: Secret
    twilio_from_number: str | None
    twilio_messaging_service_sid: str | None
    twilio_api_base_url: str | None
    drafter: str
    openai_base_url: str | None
    openai_api_key: Secret | None
    openai_model: str | None
    draft_timeout_seconds: float
    send_poll_seconds: float
    archive_after_hours: float
    admin_name: str
    admin_password: Secret | None
    log_format: str
    metrics_public: bool
    missed_call_message: str = DEFAULT_MISSED_CALL_MESSAGE
    send_concurrency: int = 10
    draft_max_tokens: int = 600
    ingest_concurrency: int = 4
    send_timeout_seconds: float = 10.0
    send_lease_seconds: float = 60.0
    # proxies whose X-Forwarded-For / X-Forwarded-Proto are believed; none by default
    forwarded_allow_ips: tuple[str, ...] = ()
    # on reopening the sending gate, approvals older than this go back to review
    gate_stale_minutes: float = 60.0

    @property
    def gate_stale_after(self) -> timedelta:
        return timedelta(minutes=self.gate_stale_minutes)

    # a connection whose request has not arrived whole in this time is closed
    request_receive_seconds: float = 30.0
    webhook_max_attempts: int = 8
    webhook_concurrency: int = 8
    webhook_allow_private: bool = False
    event_retention_days: float = 30.0
    # the zone customers' "9:30 Saturday" is read in, and appointment times are written in
    business_timezone: ZoneInfo = ZoneInfo("UTC")
    # after a human's reply, the customer's next texts wait for a human this long
    human_override_window_seconds: float = 60.0
    # the review deadlines: business minutes from a reply becoming pending to each step
    review_remind_minutes: float = 10.0
    review_escalate_minutes: float = 30.0
    review_holding_reply_minutes: float | None = None  # None: no holding reply
    business_hours: BusinessHours = BusinessHours.always(ZoneInfo("UTC"))
    # how long a reviewer's claim on a draft (its edit box open, or `c`) lasts
    claim_minutes: float = 5.0
    # DATABASE_URL when it names a PostgreSQL server; None: the SQLite file `database`
    database_url: str | None = None

    @property
    def database_target(self) -> Path | str:
        """What `store.opened` opens: the PostgreSQL URL, else the SQLite file."""
        return self.database_url or self.database

    @property
    def database_label(self) -> str:
        """The database as messages name it (a URL without its password)."""
        return redact(self.database_url) if self.database_url else str(self.database)

    @property
    def sandbox(self) -> bool:
        """No Twilio credentials: sends go to the local sandbox gateway."""
        return self.twilio_account_sid is None

    @property
    def production(self) -> bool:
        """Live Twilio credentials: the bot talks to real customers (not the sandbox)."""
        return not self.sandbox


def _url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{name} must be an http:// or https:// URL, not {value!r}.")
    # the scheme as urlsplit reads it, in lower case (RFC 3986 §3.1): "HTTPS://" is https
    return urlunsplit(parts).rstrip("/")


def _positive(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not number > 0 or number == float("inf"):
        raise SettingsError(f"{name} must be a positive number, not {value!r}.")
    return number


def _count(name: str, value: str, low: int, high: int) -> int:
    if not re.fullmatch(r"\d+", value.strip()) or not low <= int(value) <= high:
        raise SettingsError(f"{name} must be a whole number from {low} to {high}, not {value!r}.")
    return int(value)


def _sid(name: str, value: str, prefix: str) -> str:
    if not re.fullmatch(prefix + r"[0-9a-fA-F]{32}", value):
        # the value is not echoed: a token pasted into the wrong variable would be printed
        raise SettingsError(f"{name} must be {prefix} followed by 32 hex digits.")
    return value


def _networks(name: str, value: str) -> tuple[str, ...]:
    """A comma-separated list of IP addresses and CIDR networks, each written canonically."""
    networks = []
    for entry in (part.strip() for part in value.split(",")):
        try:
            networks.append(str(ipaddress.ip_network(entry)))
        except ValueError as error:
            raise SettingsError(
                f"{name} must be a comma-separated list of IP addresses or networks "
                f"(e.g. 127.0.0.1,10.0.0.0/8): {error}."
            ) from None
    return tuple(networks)


def _zone(name: str, value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"{name} must be an IANA time zone such as Europe/London or America/New_York, "
            f"not {value!r}."
        ) from None


def read_secret_key(database: Path) -> Secret:
    """The key kept beside the database, created with 0600 permissions on first use."""
    return _read_or_create_secret(database.parent / SECRET_KEY_FILE, "SECRET_KEY")


def _read_or_create_secret(path: Path, variable: str) -> Secret:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # written whole to a private file, then linked into place: two processes starting
        # together agree on one key, and neither ever reads a half-written file
        fd, draft = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(secrets.token_urlsafe(48) + "\n")
            with contextlib.suppress(FileExistsError):  # another process was first: use its key
                os.link(draft, path)
        finally:
            os.unlink(draft)
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise SettingsError(
            f"{variable} is unset and {path} holds no usable key; delete it to make a new one."
        )
    return Secret(key)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check every setting; raise SettingsError naming the first bad one."""
    env = {k: v for k, v in (os.environ if environ is None else environ).items() if v != ""}
    database = Path(env.get("APPROVAL_BOT_DATABASE", DEFAULT_DATABASE))
    # DATABASE_URL: sqlite:///path (that file) or postgresql://… (that server); unset, the
    # file above. With PostgreSQL the key files stay beside APPROVAL_BOT_DATABASE's path.
    database_url = env.get("DATABASE_URL")
    if database_url is not None:
        try:
            backend, where = backend_of(database_url)
        except UnknownDatabaseUrl as error:
            raise SettingsError(str(error)) from None
        if backend == "sqlite":
            database, database_url = Path(where), None

    secret_key = env.get("SECRET_KEY")
    if secret_key is not None and len(secret_key) < 32:
        raise SettingsError("SECRET_KEY must be at least 32 characters long.")

    account_sid = env.get("TWILIO_ACCOUNT_SID")
    auth_token = env.get("TWILIO_AUTH_TOKEN")
    from_number = env.get("TWILIO_FROM_NUMBER")
    service_sid = env.get("TWILIO_MESSAGING_SERVICE_SID")
    if account_sid is not None:
        _sid("TWILIO_ACCOUNT_SID", account_sid, "AC")
        if auth_token is None:
            raise SettingsError("TWILIO_AUTH_TOKEN must be set when TWILIO_ACCOUNT_SID is.")
        if from_number is None and service_sid is None:
            raise SettingsError(
                "TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID must be set when "
                "TWILIO_ACCOUNT_SID is."
            )
    elif auth_token is not None:
        raise SettingsError("TWILIO_ACCOUNT_SID must be set when TWILIO_AUTH_TOKEN is.")
    if from_number is not None:
        try:
            parse_address(from_number)
        except InvalidPhone as error:
            raise SettingsError(f"TWILIO_FROM_NUMBER {error}.") from None
    if service_sid is not None:
        _sid("TWILIO_MESSAGING_SERVICE_SID", service_sid, "MG")

    drafter = env.get("DRAFTER", "builtin")
    if drafter not in ("builtin", "openai"):
        raise SettingsError(f"DRAFTER must be 'builtin' or 'openai', not {drafter!r}.")
    openai_model = env.get("OPENAI_MODEL")
    if drafter == "openai" and openai_model is None:
        raise SettingsError("OPENAI_MODEL must be set when DRAFTER is 'openai'.")

    def optional_url(name: str) -> str | None:
        return _url(name, env[name]) if name in env else None

    def optional_secret(name: str) -> Secret | None:
        return Secret(env[name]) if name in env else None

    public_base_url = _url("PUBLIC_BASE_URL", env.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000"))
    twilio_api_base_url = optional_url("TWILIO_API_BASE_URL")
    openai_base_url = optional_url("OPENAI_BASE_URL")
    draft_timeout = _positive("DRAFT_TIMEOUT_SECONDS", env.get("DRAFT_TIMEOUT_SECONDS", "10"))
    send_poll = _positive("SEND_POLL_SECONDS", env.get("SEND_POLL_SECONDS", "2"))
    archive_after = _positive("ARCHIVE_AFTER_HOURS", env.get("ARCHIVE_AFTER_HOURS", "72"))
    log_format = env.get("LOG_FORMAT", "text")
    if log_format not in ("text", "json"):
        raise SettingsError(f"LOG_FORMAT must be 'text' or 'json', not {log_format!r}.")
    metrics_public = env.get("METRICS_PUBLIC", "false").lower()
    if metrics_public not in ("true", "false"):
        raise SettingsError(f"METRICS_PUBLIC must be 'true' or 'false', not {metrics_public!r}.")
    send_concurrency = _count("SEND_CONCURRENCY", env.get("SEND_CONCURRENCY", "10"), 1, 256)
    draft_max_tokens = _count("DRAFT_MAX_TOKENS", env.get("DRAFT_MAX_TOKENS", "600"), 16, 2000)
    ingest_concurrency = _count("INGEST_CONCURRENCY", env.get("INGEST_CONCURRENCY", "4"), 1, 1024)
    send_timeout = _positive("SEND_TIMEOUT_SECONDS", env.get("SEND_TIMEOUT_SECONDS", "10"))
    send_lease = _positive("SEND_LEASE_SECONDS", env.get("SEND_LEASE_SECONDS", "60"))
    if send_lease <= 2 * send_timeout:
        # a claim covers one listing and one send, each up to the timeout: a shorter lease
        # would let a live send be taken for a crashed one
        raise SettingsError(
            "SEND_LEASE_SECONDS must be more than twice SEND_TIMEOUT_SECONDS "
            f"({send_lease:g} is not more than 2 × {send_timeout:g})."
        )
    forwarded_allow_ips = (
        _networks("FORWARDED_ALLOW_IPS", env["FORWARDED_ALLOW_IPS"])
        if "FORWARDED_ALLOW_IPS" in env
        else ()
    )
    request_receive = _positive("REQUEST_RECEIVE_SECONDS", env.get("REQUEST_RECEIVE_SECONDS", "30"))
    webhook_max_attempts = _count(
        "WEBHOOK_MAX_ATTEMPTS", env.get("WEBHOOK_MAX_ATTEMPTS", "8"), 1, 20
    )
    webhook_concurrency = _count("WEBHOOK_CONCURRENCY", env.get("WEBHOOK_CONCURRENCY", "8"), 1, 64)
    allow_private = env.get("WEBHOOK_ALLOW_PRIVATE", "false").lower()
    if allow_private not in ("true", "false"):
        raise SettingsError(
            f"WEBHOOK_ALLOW_PRIVATE must be 'true' or 'false', not {allow_private!r}."
        )
    retention = _positive("EVENT_RETENTION_DAYS", env.get("EVENT_RETENTION_DAYS", "30"))
    override_text = env.get("HUMAN_OVERRIDE_WINDOW_SECONDS", "60")
    # 0 turns the window off; anything else must be a positive number
    override_window = (
        0.0
        if override_text.strip() in ("0", "0.0")
        else _positive("HUMAN_OVERRIDE_WINDOW_SECONDS", override_text)
    )
    gate_stale = _positive("GATE_STALE_MINUTES", env.get("GATE_STALE_MINUTES", "60"))
    claim_minutes = _positive("CLAIM_MINUTES", env.get("CLAIM_MINUTES", "5"))
    if claim_minutes > MAX_CLAIM_MINUTES:
        raise SettingsError(
            f"CLAIM_MINUTES must be at most {MAX_CLAIM_MINUTES} (a working day), "
            f"not {env['CLAIM_MINUTES']!r}."
        )
    admin_name = env.get("ADMIN_NAME", "admin").strip()
    if not admin_name:
        raise SettingsError("ADMIN_NAME must not be blank.")
    missed_call_message = env.get("MISSED_CALL_MESSAGE", DEFAULT_MISSED_CALL_MESSAGE).strip()
    if not missed_call_message or len(missed_call_message) > 300:
        raise SettingsError("MISSED_CALL_MESSAGE must be one short sentence (1 to 300 characters).")
    business_timezone = _zone("BUSINESS_TIMEZONE", env.get("BUSINESS_TIMEZONE", "UTC"))
    remind = _positive("REVIEW_REMIND_MINUTES", env.get("REVIEW_REMIND_MINUTES", "10"))
    escalate = _positive("REVIEW_ESCALATE_MINUTES", env.get("REVIEW_ESCALATE_MINUTES", "30"))
    holding = (
        _positive("REVIEW_HOLDING_REPLY_MINUTES", env["REVIEW_HOLDING_REPLY_MINUTES"])
        if "REVIEW_HOLDING_REPLY_MINUTES" in env
        else None
    )
    # the ladder climbs one step at a time: each comes after the one before
    if escalate <= remind:
        raise SettingsError(
            f"REVIEW_ESCALATE_MINUTES ({escalate:g}) must be more than "
            f"REVIEW_REMIND_MINUTES ({remind:g})."
        )
    if holding is not None and holding <= escalate:
        raise SettingsError(
            f"REVIEW_HOLDING_REPLY_MINUTES ({holding:g}) must be more than "
            f"REVIEW_ESCALATE_MINUTES ({escalate:g})."
        )
    try:
        business_hours = (
            BusinessHours.parse(env["BUSINESS_HOURS"], business_timezone)
            if "BUSINESS_HOURS" in env
            else BusinessHours.always(business_timezone)
        )
    except InvalidBusinessHours as error:
        raise SettingsError(
            f"BUSINESS_HOURS must be like 'Mon-Fri 09:00-18:00, Sat 10:00-14:00': {error}."
        ) from None
    # last, so that a bad setting above leaves no key file behind
    key = Secret(secret_key) if secret_key else read_secret_key(database)
    token = (
        Secret(auth_token)
        if auth_token
        else _read_or_create_secret(database.parent / SANDBOX_TOKEN_FILE, "TWILIO_AUTH_TOKEN")
    )
    return Settings(
        database=database,
        database_url=database_url,
        secret_key=key,
        public_base_url=public_base_url,
        twilio_account_sid=account_sid,
        twilio_auth_token=token,
        twilio_from_number=from_number,
        twilio_messaging_service_sid=service_sid,
        twilio_api_base_url=twilio_api_base_url,
        drafter=drafter,
        openai_base_url=openai_base_url,
        openai_api_key=optional_secret("OPENAI_API_KEY"),
        openai_model=openai_model,
        draft_timeout_seconds=draft_timeout,
        send_poll_seconds=send_poll,
        archive_after_hours=archive_after,
        admin_name=admin_name,
        admin_password=optional_secret("ADMIN_PASSWORD"),
        log_format=log_format,
        metrics_public=metrics_public == "true",
        missed_call_message=missed_call_message,
        send_concurrency=send_concurrency,
        draft_max_tokens=draft_max_tokens,
        ingest_concurrency=ingest_concurrency,
        send_timeout_seconds=send_timeout,
        send_lease_seconds=send_lease,
        forwarded_allow_ips=forwarded_allow_ips,
        request_receive_seconds=request_receive,
        gate_stale_minutes=gate_stale,
        webhook_max_attempts=webhook_max_attempts,
        webhook_concurrency=webhook_concurrency,
        webhook_allow_private=allow_private == "true",
        event_retention_days=retention,
        business_timezone=business_timezone,
        human_override_window_seconds=override_window,
        review_remind_minutes=remind,
        review_escalate_minutes=escalate,
        review_holding_reply_minutes=holding,
        business_hours=business_hours,
        claim_minutes=claim_minutes,
    )
