"""The sending gate: the compliance status and the emergency stop that every customer send obeys.

`why_closed(conn)` is the one send-time check: every path that hands a customer message to
a gateway calls it inside its own write transaction (the sender's claim and its
re-check after a reconciliation; a reviewer writing a new reply). `change` is the one
funnel for changes, with its audit row; reopening the gate sends stale approvals back
to review in the same transaction. Reviewer notifications are not customer messages and
are never gated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from . import audit, workflow
from .models import Actor, Event, MessageStatus, now_iso
from .store import Priority, Reads, Row, Store, Tx
from .store import sending as sending_rows

CHANGED = "Sending Gate Changed"
SET_UP = "Sending Gate Set Up"
STALE_REASON = "approved before sending was stopped"
NOT_SET_UP = "the sending gate is not set up yet (the first start sets it)"
MAX_REASON = 500


class ComplianceStatus(StrEnum):
    """The business's messaging registration (10DLC or toll-free), as an admin last set it."""

    APPROVED = "approved"
    PENDING = "pending"
    REJECTED = "rejected"


class ChangedVia(StrEnum):
    FIRST_START = "first start"
    CLI = "cli"
    WEB = "web"
    API = "api"


class InvalidGateChange(ValueError):
    """A gate change that is not allowed; the message says which value and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class SendingClosed(Exception):
    """A new customer message was refused because the gate is closed; names the status."""

    def __init__(self, gate: Gate, because: str) -> None:
        super().__init__(f"Nothing can be sent to customers now: {because}.")
        self.gate = gate


def closed_reason(status: ComplianceStatus, stopped: bool, reason: str | None) -> str | None:
    """Why no customer message may leave now, in words; None when the gate is open.

    This is the pure decision: the stop wins over the status, since it is the one an admin
    reached for in an emergency.
    """
    because = f": {reason}" if reason else ""
    if stopped:
        return f"sending is stopped{because}"
    if status is ComplianceStatus.PENDING:
        return f"the messaging registration is pending{because}"
    if status is ComplianceStatus.REJECTED:
        return f"the messaging registration was rejected{because}"
    return None


@dataclass(frozen=True)
class Gate:
    """The gate as stored, with who changed it last (a name, or how it was changed)."""

    status: ComplianceStatus
    stopped: bool
    reason: str | None
    changed_by: str | None
    changed_at: str | None

    @property
    def closed_because(self) -> str | None:
        if self.changed_at is None:
            return NOT_SET_UP
        return closed_reason(self.status, self.stopped, self.reason)

    @property
    def open(self) -> bool:
        return self.closed_because is None

    def answer(self) -> dict[str, Any]:
        """The API's `GET /api/v1/sending` answer."""
        return {
            "status": self.status,
            "stopped": self.stopped,
            "reason": self.reason,
            "changed_by": self.changed_by,
            "changed_at": self.changed_at,
        }


# no row yet: closed, and said so, until the first start writes it
_UNSET = Gate(ComplianceStatus.PENDING, False, None, None, None)


def _gate(row: Row | None) -> Gate:
    if row is None:
        return _UNSET
    via = ChangedVia(row["changed_via"])
    who = row["changed_by_name"] or ("the command line" if via is ChangedVia.CLI else str(via))
    return Gate(
        ComplianceStatus(row["status"]),
        bool(row["stopped"]),
        row["reason"],
        who,
        row["changed_at"],
    )


def read(conn: Tx) -> Gate:
    """The gate inside the caller's (write) transaction."""
    return _gate(sending_rows.gate(conn))


def why_closed(conn: Tx) -> str | None:
    """The send-time check: why no customer message may leave now, or None when it may.

    Every outbound customer path calls this inside the write transaction that claims or
    creates the message, so the answer holds for that transaction.
    """
    return read(conn).closed_because


def require_open(conn: Tx) -> None:
    """Refuse a send attempt made now (a reviewer's new reply) with SendingClosed."""
    because = why_closed(conn)
    if because is not None:
        raise SendingClosed(read(conn), because)


async def fetch(db: Reads) -> Gate:
    """The gate, read on the reader connection (for pages, the API and metrics)."""
    return _gate(await sending_rows.read_gate(db))


def initial_status(sandbox: bool) -> ComplianceStatus:
    """A fresh install's status: nothing leaves the machine in sandbox mode, so approved;
    with Twilio credentials, pending until an admin says the registration is approved."""
    return ComplianceStatus.APPROVED if sandbox else ComplianceStatus.PENDING


def set_up(conn: Tx, *, sandbox: bool) -> bool:
    """Write the gate's first row if there is none (the first start); True when it did."""
    status = initial_status(sandbox)
    inserted = sending_rows.set_up_gate(conn, status, ChangedVia.FIRST_START, now_iso())
    if inserted:
        audit.record(
            conn,
            audit.AuditEvent(
                event=SET_UP,
                metadata={"status": status, "sandbox": sandbox},
            ),
        )
    return inserted


async def ensure(db: Store, *, sandbox: bool) -> None:
    """Set the gate up at the first start; later starts leave it as the admins set it."""
    await db.write(lambda conn: set_up(conn, sandbox=sandbox), priority=Priority.BULK)


# the changes admins make by name, the same on the command line and the Settings page
STEPS: dict[str, dict[str, Any]] = {
    "approve": {"status": ComplianceStatus.APPROVED},
    "pending": {"status": ComplianceStatus.PENDING},
    "reject": {"status": ComplianceStatus.REJECTED},
    "stop": {"stopped": True},
    "start": {"stopped": False},
}


@dataclass(frozen=True)
class GateChange:
    """What one change did: the gate after it, and the replies it released or sent back."""

    gate: Gate
    changed: bool
    returned: tuple[str, ...] = ()
    released: int = 0


def _clean_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise InvalidGateChange("reason", f"reason is longer than {MAX_REASON} characters")
    return reason or None


def change(
    conn: Tx,
    *,
    actor_id: int | None,
    via: ChangedVia,
    stale_after: timedelta,
    status: ComplianceStatus | str | None = None,
    stopped: bool | None = None,
    reason: str | None = None,
) -> GateChange:
    """Change the gate with its audit row, in the caller's transaction.

    Only admins call this (the edges check the role; the command line is the operator's).
    Stopping needs a reason. When the gate opens, approved replies older than
    `stale_after` go back to review through the workflow funnel; newer ones go.
    """
    if status is not None:
        try:
            status = ComplianceStatus(status)
        except ValueError:
            allowed = ", ".join(s.value for s in ComplianceStatus)
            raise InvalidGateChange(
                "status", f"status must be one of {allowed}, not {status!r}"
            ) from None
    reason = _clean_reason(reason)
    before = read(conn)
    if before.changed_at is None:
        raise InvalidGateChange("status", NOT_SET_UP)
    new_status = status if status is not None else before.status
    new_stopped = stopped if stopped is not None else before.stopped
    if new_stopped and not before.stopped and reason is None:
        raise InvalidGateChange("reason", "stopping sending needs a reason")
    new_reason = reason if reason is not None else before.reason
    if (new_status, new_stopped) != (before.status, before.stopped) and reason is None:
        # a reason belongs to the change it came with; an unexplained change clears it
        new_reason = None
    if (new_status, new_stopped, new_reason) == (before.status, before.stopped, before.reason):
        return GateChange(before, changed=False)
    now = now_iso()
    sending_rows.change_gate(
        conn,
        status=new_status,
        stopped=new_stopped,
        reason=new_reason,
        changed_by=actor_id,
        changed_via=via,
        changed_at=now,
    )
    after = read(conn)
    returned: tuple[str, ...] = ()
    released = 0
    if not before.open and after.open:
        returned, released = _reopen(conn, actor_id, stale_after)
    audit.record(
        conn,
        audit.AuditEvent(
            event=CHANGED,
            actor=Actor.SYSTEM if actor_id is None else Actor.HUMAN,
            actor_id=actor_id,
            metadata={
                "from": {"status": before.status, "stopped": before.stopped},
                "to": {"status": after.status, "stopped": after.stopped},
                "reason": new_reason,
                "via": via,
                "returned_to_review": len(returned),
                "released": released,
            },
        ),
    )
    return GateChange(after, changed=True, returned=returned, released=released)


def _reopen(conn: Tx, actor_id: int | None, stale_after: timedelta) -> tuple[tuple[str, ...], int]:
    """Send approvals older than `stale_after` back to review; count the ones left to go."""
    stale_before = (datetime.now(UTC) - stale_after).isoformat(timespec="microseconds")
    # a reply that may already be at Twilio is the sender's to reconcile, never re-reviewed;
    # every way into APPROVED_TO_SEND counts: a pre-approved automatic reply is approved when
    # it is made, like a reviewer's reply or template
    rows = sending_rows.approved_unsent(
        conn, (Event.APPROVE, Event.HUMAN_REPLY, Event.AUTO_REPLY, Event.TEMPLATE_REPLY)
    )
    returned = []
    for row in rows:
        if row["approved_at"] is not None and row["approved_at"] >= stale_before:
            continue
        workflow.change_status(
            conn,
            row["id"],
            expected=MessageStatus.APPROVED_TO_SEND,
            target=MessageStatus.DRAFT_PENDING_APPROVAL,
            event=Event.GATE_RETURNED,
            actor_id=actor_id,
            metadata={"reason": STALE_REASON, "approved_at": row["approved_at"]},
            next_attempt_at=None,
        )
        returned.append(row["id"])
    return tuple(returned), len(rows) - len(returned)


async def held_count(db: Reads) -> int:
    """Approved replies waiting for the gate: all of them while it is closed, else none."""
    gate = await fetch(db)
    if gate.open:
        return 0
    return await sending_rows.approved_count(db)
