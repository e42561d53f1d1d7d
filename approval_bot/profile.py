"""The business profile: who the business is, when it is open, what it sells, how it talks.

Validated whole by pydantic (a bad value is refused naming its field), stored as one JSON
document in the one-row `business_profile` table, and changed only through `save`, which
writes the "Updated Business Profile" audit row in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from datetime import datetime, time
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationError,
    field_validator,
)

from . import audit
from .models import Actor, now_iso
from .phones import InvalidPhone, parse_e164
from .store import Priority, Reads, Store, Tx
from .store import guidance as guidance_rows

EVENT = "Updated Business Profile"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_RANGE = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)")

# the most characters of each text field (a template's longest filled body is counted with them)
LINE_CHARS, ADDRESS_CHARS, LINK_CHARS, SIGN_OFF_CHARS = 200, 300, 500, 100
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=LINE_CHARS)]
Price = Annotated[
    Decimal,
    Field(ge=0, le=1_000_000, decimal_places=2),
    # JSON numbers in and out: 25 stays 25, 12.5 stays 12.5
    PlainSerializer(lambda value: int(value) if value == value.to_integral() else float(value)),
]


class InvalidProfile(ValueError):
    """A profile that cannot be stored; `field` names the first bad value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_range(value: str) -> tuple[time, time]:
    """'09:00-18:00' as (09:00, 18:00); ValueError unless it is that shape and opens first."""
    match = _RANGE.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"hours must look like 09:00-18:00, not {value!r}")
    start = time(int(match[1]), int(match[2]))
    end_hour = int(match[3])
    if end_hour == 24 and match[4] != "00":
        raise ValueError(f"hours must end by 24:00, not {value!r}")
    end = time.max if end_hour == 24 else time(end_hour, int(match[4]))
    if end <= start:
        raise ValueError(f"hours must close after they open, not {value!r}")
    return start, end


def _hours(value: str | None) -> str | None:
    if value is None:
        return None
    parse_range(value)
    return value.strip()


Hours = Annotated[str | None, AfterValidator(_hours)]


class DateHours(BaseModel):
    """A date with other hours than its weekday's (a holiday: null, closed)."""

    model_config = ConfigDict(extra="forbid")
    date: dt.date
    hours: Hours = None


class Service(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Line
    price: Price | None = None
    minutes: Annotated[int, Field(gt=0, le=24 * 60)] | None = None


class WeekHours(BaseModel):
    """Opening hours per weekday, 'HH:MM-HH:MM', or null when closed all day."""

    model_config = ConfigDict(extra="forbid")
    mon: Hours = None
    tue: Hours = None
    wed: Hours = None
    thu: Hours = None
    fri: Hours = None
    sat: Hours = None
    sun: Hours = None

    def of(self, day: int) -> str | None:
        """The hours of weekday `day` (0 is Monday)."""
        value: str | None = getattr(self, WEEKDAYS[day])
        return value


class Profile(BaseModel):
    """The business profile, in the API's shape."""

    model_config = ConfigDict(extra="forbid")
    name: Line
    phone: str | None = None
    address: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=ADDRESS_CHARS)] | None
    ) = None
    timezone: str = "UTC"
    hours: WeekHours = Field(default_factory=WeekHours)
    exceptions: Annotated[list[DateHours], Field(max_length=366)] = []
    services: Annotated[list[Service], Field(max_length=100)] = []
    booking_link: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=LINK_CHARS)] | None
    ) = None
    sign_off: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=SIGN_OFF_CHARS)] | None
    ) = None
    tone: Literal["friendly", "formal", "brief"] = "friendly"

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            return parse_e164(value.strip())
        except InvalidPhone as error:
            raise ValueError(str(error)) from None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Paris") from None
        return value

    @field_validator("booking_link")
    @classmethod
    def _link(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not re.fullmatch(r"https?://[^\s/$.?#][^\s]*", value, re.IGNORECASE):
            raise ValueError(f"must be a web address starting with https://, not {value!r}")
        return value

    @field_validator("exceptions")
    @classmethod
    def _one_per_date(cls, value: list[DateHours]) -> list[DateHours]:
        if len({e.date for e in value}) != len(value):
            raise ValueError("each date may appear once")
        return value

    @field_validator("services")
    @classmethod
    def _one_per_name(cls, value: list[Service]) -> list[Service]:
        if len({s.name.lower() for s in value}) != len(value):
            raise ValueError("each service name may appear once")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def hours_on(self, day: dt.date) -> str | None:
        """The hours of a date: its exception if it has one, else its weekday's."""
        for exception in self.exceptions:
            if exception.date == day:
                return exception.hours
        return self.hours.of(day.weekday())

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def known_text(self) -> str:
        """The facts draft checks trust: prices, the booking link, the phone number."""
        parts = [self.phone or "", self.booking_link or "", self.address or ""]
        # as prices, so draft checks read them as such ("$30", as the drafter writes them)
        parts += [f"${s.price:f}" for s in self.services if s.price is not None]
        return "\n".join(part for part in parts if part)


def validate(data: Any) -> Profile:
    """A Profile from decoded JSON; InvalidProfile naming the first bad field otherwise."""
    try:
        return Profile.model_validate(data)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "profile"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise InvalidProfile(where, f"{where}: {message}") from None


def document(profile: Profile) -> dict[str, Any]:
    """The profile as the API shows it: every field, nulls included."""
    shown: dict[str, Any] = profile.model_dump(mode="json")
    return shown


def save(conn: Tx, profile: Profile, actor_id: int | None) -> None:
    """Store `profile` (the one funnel for every change) with its audit row."""
    new = document(profile)
    old = guidance_rows.profile_document(conn)
    previous = json.loads(old) if old is not None else None
    guidance_rows.put_profile(conn, json.dumps(new, ensure_ascii=False), now_iso(), actor_id)
    changed = sorted(k for k in new if previous is None or previous.get(k) != new[k])
    audit.record(
        conn,
        audit.AuditEvent(
            EVENT,
            actor=Actor.SYSTEM if actor_id is None else Actor.HUMAN,
            actor_id=actor_id,
            metadata={"changed": changed, "profile": new},
        ),
    )


def _from_document(document: str | None) -> Profile | None:
    return None if document is None else Profile.model_validate(json.loads(document))


def load_now(conn: Tx) -> Profile | None:
    """The stored profile inside a write transaction, or None."""
    return _from_document(guidance_rows.profile_document(conn))


async def load(conn: Reads) -> Profile | None:
    """The stored profile on a reader connection, or None. This is a read-only operation."""
    return _from_document(await guidance_rows.read_profile_document(conn))


async def put(db: Store, profile: Profile, actor_id: int | None) -> None:
    """Replace the business profile, audited; what the API, the page and the CLI call."""
    await db.write(lambda conn: save(conn, profile, actor_id), priority=Priority.DECISION)


async def get(db: Store) -> Profile | None:
    """The stored profile, or None. This is a read-only operation."""
    return _from_document(await guidance_rows.read_profile_document(db))
