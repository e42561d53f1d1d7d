"""The drafter interface: what a drafter is given, and what it answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from ..models import Sentiment
from ..profile import Profile
from .checks import Finding


class Intent(StrEnum):
    GREETING = "greeting"
    HELP = "help"
    FAQ = "faq"
    HOURS = "hours"
    PRICE = "price"
    BOOKING = "booking"
    COMPLAINT = "complaint"
    THANKS = "thanks"
    MISSED_CALL = "missed_call"
    OTHER = "other"


@dataclass(frozen=True)
class Turn:
    """One message of the thread, oldest first in a context's history."""

    from_customer: bool
    body: str


@dataclass(frozen=True)
class FaqEntry:
    keywords: tuple[str, ...]
    answer: str
    scope: str = "global"


@dataclass(frozen=True)
class DraftContext:
    """Everything a drafter may use: the message to answer, the thread, and the guidance.

    `latest` is empty and `missed_call` true for a text-back after a missed call.
    """

    thread_id: str
    latest: str
    history: tuple[Turn, ...] = ()
    directives: tuple[str, ...] = ()  # global first, then the thread's own
    faq: tuple[FaqEntry, ...] = ()
    missed_call: bool = False
    has_media: bool = False
    profile: Profile | None = None
    # when the text arrived: "today" and "open now" are read at this moment
    received_at: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    customer_name: str | None = None
    # 0 for a first draft; Regenerate asks for the next wording with 1, 2, ...
    variant: int = 0

    @property
    def known_text(self) -> str:
        """What reviewers wrote: the text draft checks trust prices, links and phones from."""
        parts = [*self.directives]
        for entry in self.faq:
            parts.append(entry.answer)
        if self.profile is not None:
            parts.append(self.profile.known_text())
        return "\n".join(parts)


@dataclass(frozen=True)
class DraftResult:
    body: str
    confidence: float
    intent: str
    sentiment: Sentiment
    findings: tuple[Finding, ...] = ()
    drafter: str = ""
    model: str | None = None
    # why the drafter that wrote this is not the one configured (a timeout, an error)
    fallback_reason: str | None = None
    # where the draft's facts come from, for the card: "from opening hours", "FAQ: parking"
    source: str | None = None


class DraftUnavailable(Exception):
    """No draft can be made for this message; the reason is for the reviewer."""


class Drafter(Protocol):
    """Writes a reply for a context. May raise DraftUnavailable."""

    name: str

    async def draft(self, context: DraftContext) -> DraftResult: ...
