"""The reviewer-notification outbox: its statuses, and the one function that changes them.

Notifications are texts to reviewers (a new draft to look at, a command's answer). They
are not customer messages: they never enter a customer's thread and need no approval.
Their status changes are audited like every other.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from . import audit
from .store import Tx
from .store import notifications as notification_rows
from .workflow import Conflict, TransitionRefused, UnknownRecord


class NotificationStatus(StrEnum):
    PENDING = "PENDING"
    HELD = "HELD"
    SENT = "SENT"
    FAILED = "FAILED"
    DIGESTED = "DIGESTED"  # held, then folded into one digest text when the reviewer was back
    WITHDRAWN = "WITHDRAWN"  # about a draft decided before it went: never sent


class NotificationEvent(StrEnum):
    SENT = "Notification Sent"
    FAILED = "Notification Failed"
    HELD = "Notification Held"
    RELEASED = "Notification Released"
    DIGESTED = "Notification Digested"
    WITHDRAWN = "Notification Withdrawn"


N = NotificationStatus
NOTIFICATION_TRANSITIONS: frozenset[tuple[N, NotificationEvent, N]] = frozenset(
    [
        (N.PENDING, NotificationEvent.SENT, N.SENT),
        (N.PENDING, NotificationEvent.FAILED, N.FAILED),
        (N.PENDING, NotificationEvent.HELD, N.HELD),
        (N.PENDING, NotificationEvent.WITHDRAWN, N.WITHDRAWN),
        (N.HELD, NotificationEvent.RELEASED, N.PENDING),
        (N.HELD, NotificationEvent.DIGESTED, N.DIGESTED),
    ]
)

_FIELDS = frozenset(notification_rows.FIELDS)


def change_notification_status(
    conn: Tx,
    notification_id: int,
    *,
    expected: NotificationStatus,
    target: NotificationStatus,
    event: NotificationEvent,
    metadata: Mapping[str, Any] | None = None,
    **fields: Any,
) -> None:
    """Move a notification from `expected` to `target` with its audit row, in the caller's
    transaction. Raises TransitionRefused, Conflict or UnknownRecord as the workflow does."""
    unknown = set(fields) - _FIELDS
    if unknown:
        raise ValueError(f"a notification transition cannot set {sorted(unknown)}")
    if (expected, event, target) not in NOTIFICATION_TRANSITIONS:
        raise TransitionRefused("notification", expected, target, event)
    row = notification_rows.get(conn, notification_id)
    if row is None:
        raise UnknownRecord(f"no notification {notification_id}")
    if row["status"] != expected:
        raise Conflict(f"notification {notification_id}", expected, row["status"], "another", None)
    notification_rows.set_status(conn, notification_id, expected=expected, target=target, **fields)
    audit.record(
        conn,
        audit.AuditEvent(
            event=event,
            message_id=row["draft_id"],
            metadata={
                "notification_id": notification_id,
                "reviewer_id": row["reviewer_id"],
                "from": expected,
                "to": target,
                **(metadata or {}),
            },
        ),
    )
