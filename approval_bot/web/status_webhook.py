"""POST /webhooks/twilio/status: Twilio's delivery callbacks for the messages we sent."""

from __future__ import annotations

import logging
import sqlite3
from functools import partial

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from .. import audit, delivery, workflow
from ..db import Database, Priority
from ..metrics import Metrics
from ..models import now_iso
from ..sender import STATUS_EVENTS_PROVIDER
from .twilio_edge import signed_params

log = logging.getLogger(__name__)

DELIVERY_UPDATE = "Delivery Status"


def _error_code(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise HTTPException(400, f"ErrorCode must be a number, not {value!r}")
    return int(value)


async def receive(request: Request) -> Response:
    """Apply a delivery callback once, only ever moving `delivery_status` forward.

    A replay of the same (MessageSid, MessageStatus) changes nothing; an unknown MessageSid
    answers 200 and is logged, so that Twilio does not retry it for ever.
    """
    params = await signed_params(request)
    db: Database = request.state.db
    metrics: Metrics = request.state.metrics
    sid = params.get("MessageSid") or params.get("SmsSid")
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
    if not sid:
        raise HTTPException(400, "MessageSid is missing")
    if status not in delivery.KNOWN:
        raise HTTPException(400, f"MessageStatus {status!r} is not a delivery status")
    error_code = _error_code(params.get("ErrorCode"))
    error_message = params.get("ErrorMessage") or None

    result = await db.write(
        partial(_apply, sid, status, error_code, error_message), priority=Priority.BULK
    )
    metrics.delivery_callbacks.labels(result=result).inc()
    if result != "duplicate":
        metrics.delivery_statuses.labels(status=status).inc()
    return Response(status_code=200)


def _apply(
    sid: str,
    status: str,
    error_code: int | None,
    error_message: str | None,
    conn: sqlite3.Connection,
) -> str:
    """Record one delivery status in one transaction; says what became of it."""
    cursor = conn.execute(
        """
        INSERT OR IGNORE INTO webhook_events (provider, event_id, received_at)
        VALUES (?, ?, ?)
        """,
        (STATUS_EVENTS_PROVIDER, f"{sid}:{status}", now_iso()),
    )
    if cursor.rowcount == 0:
        result = "duplicate"
    else:
        message = conn.execute(
            "SELECT id, thread_id, delivery_status FROM messages WHERE provider_sid = ?",
            (sid,),
        ).fetchone()
        if message is None:
            # kept in webhook_events: the sender applies it if the SID shows up later
            log.info("delivery status %s for unknown MessageSid %s", status, sid)
            result = "unknown"
        elif not delivery.advances(message["delivery_status"], status):
            result = "stale"
        else:
            result = "applied"
            problem = status in delivery.PROBLEMS
            conn.execute(
                """
                UPDATE messages SET delivery_status = ?,
                    error_code = coalesce(?, error_code),
                    error_message = coalesce(?, error_message), updated_at = ?
                WHERE id = ?
                """,
                (
                    status,
                    error_code if problem else None,
                    error_message if problem else None,
                    now_iso(),
                    message["id"],
                ),
            )
            audit.record(
                conn,
                audit.AuditEvent(
                    event=DELIVERY_UPDATE,
                    thread_id=message["thread_id"],
                    message_id=message["id"],
                    metadata={
                        "sid": sid,
                        "from": message["delivery_status"],
                        "to": status,
                        "error_code": error_code,
                    },
                ),
            )
            if problem and error_code is not None:
                workflow.flag_conversation(
                    conn, message["thread_id"], f"a reply was {status} (Twilio {error_code})"
                )
    return result
