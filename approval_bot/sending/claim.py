"""What the sender claims, and the one claim both kinds of row go through.

A claim is taken in a write transaction: the due rows are read and each is marked with
`claimed_at` (now) before any is sent. A row whose earlier claim is still held had a sender
die mid-send: its outcome is unknown, so it keeps `unconfirmed_since` and is reconciled with
Twilio before it could be sent again (see `reconcile`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ..gateways import FoundMessage, OutgoingSms, SendResult
from ..store import Row, Tx

log = logging.getLogger("approval_bot.sender")


@dataclass(frozen=True)
class Work:
    """One claimed row on its way out: a customer message or a reviewer notification."""

    kind: str  # "message" | "notification"
    id: str
    to: str
    body: str
    media_urls: tuple[str, ...]
    attempts: int  # attempts made, this one included once it is sent
    unconfirmed_since: str | None
    claimed_at: str
    content_sid: str | None = None
    content_variables: str | None = None

    @property
    def outgoing(self) -> OutgoingSms:
        return OutgoingSms(
            self.to,
            self.body,
            self.media_urls,
            status_callback=self.kind == "message",
            content_sid=self.content_sid,
            content_variables=self.content_variables,
        )


class Lane(Protocol):
    """What the sender does with one kind of row; the claim and the driver are shared."""

    kind: str

    def closed(self, conn: Tx) -> bool:
        """Whether nothing of this kind may be claimed now (they wait, untouched)."""
        ...

    def due(self, conn: Tx, now: datetime, room: int) -> list[Row]:
        """Up to `room` rows due now, expired claims included, in the order to send them."""
        ...

    def stopped(self, conn: Tx, row: Row, now: datetime) -> bool:
        """Before a first attempt: True when the row is not to be claimed now (moved, as one
        that must not go out, or left for the next pass)."""
        ...

    def take(
        self, conn: Tx, row: Row, now: datetime, attempts: int, unconfirmed: str | None
    ) -> Work:
        """Mark the row claimed now, with its attempts and what is unconfirmed about it."""
        ...

    def prepare(self, conn: Tx, work: Work, now: datetime) -> Work | None:
        """After a reconciliation found nothing: re-check and count the attempt, or stop."""
        ...

    def record(self, conn: Tx, work: Work, result: SendResult, now: datetime) -> None: ...

    def record_found(self, conn: Tx, work: Work, found: FoundMessage) -> None: ...

    def defer(self, conn: Tx, work: Work, until: datetime) -> None: ...


def claim(conn: Tx, lane: Lane, now: datetime, room: int) -> list[Work]:
    """Claim up to `room` due rows of one lane, inside the caller's write transaction."""
    if lane.closed(conn):
        return []
    claimed = []
    for row in lane.due(conn, now, room):
        # a claim still held means its process died mid-send: the outcome is unknown
        unconfirmed = row["unconfirmed_since"] or row["claimed_at"]
        if unconfirmed is None:
            if lane.stopped(conn, row, now):
                continue
            attempts = row["send_attempts"] + 1
        else:
            attempts = row["send_attempts"]  # counted again only if it is sent again
            if row["claimed_at"] is not None:
                log.warning("%s %s: claim from %s expired", lane.kind, row["id"], row["claimed_at"])
        claimed.append(lane.take(conn, row, now, attempts, unconfirmed))
    return claimed


def claim_all(conn: Tx, lanes: list[Lane], now: datetime, room: int) -> list[Work]:
    """Claim up to `room` rows, from each lane in turn while room is left."""
    work: list[Work] = []
    for lane in lanes:
        if len(work) >= room:
            break
        work += claim(conn, lane, now, room - len(work))
    return work
