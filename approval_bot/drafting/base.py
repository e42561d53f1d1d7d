"""The drafter interface: what a drafter is given, and what it answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from ..models import Sentiment
from ..understanding import Understanding
from .checks import Finding


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
    # when `latest` arrived, and the business's zone: "9:30 Saturday" is read against them
    received_at: datetime | None = None
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    facts: Mapping[str, object] = field(default_factory=dict)  # what is known of the customer
    # the understanding stored when the text arrived: drafters need not read it again
    understood: Understanding | None = None
    # the editable templates (message_templates) by key, filled for this thread
    templates: Mapping[str, str] = field(default_factory=dict)

    @property
    def known_text(self) -> str:
        """What reviewers wrote: the text draft checks trust prices and links from."""
        parts = [*self.directives]
        for entry in self.faq:
            parts.append(entry.answer)
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
    template_key: str | None = None  # the template a built-in draft came from
    # what the customer's text means, by the drafter that wrote this; None for a text-back
    understanding: Understanding | None = None
    # facts about the customer the drafter proposes (a patch for facts.merge_facts)
    facts: dict[str, object] = field(default_factory=dict)


class DraftUnavailable(Exception):
    """No draft can be made for this message; the reason is for the reviewer."""


class Drafter(Protocol):
    """Writes a reply for a context. May raise DraftUnavailable."""

    name: str

    async def draft(self, context: DraftContext) -> DraftResult: ...
