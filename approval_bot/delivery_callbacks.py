"""Delivery callbacks from Twilio, recorded: each (MessageSid, status) once, forward only."""

from __future__ import annotations

import logging

from . import audit, delivery, events, workflow
from .models import now_iso
from .sending import STATUS_EVENTS_PROVIDER
from .store import Tx, inbound_dedupe
from .store import messages as message_rows

log = logging.getLogger(__name__)

DELIVERY_UPDATE = "Delivery Status"


def _locked(conn: Tx, sid: str) -> message_rows.Delivered | None:
    """The message Twilio's `sid` names, read again once its thread's lock and its own are
    held: two callbacks for one message at once (sent, then delivered) are applied one
    after the other, each from the status the other left."""
    found = message_rows.by_provider_sid(conn, sid)
    if found is None:
        return None
    message_rows.lock(conn, found.id)
    return message_rows.by_provider_sid(conn, sid)


def record(
    sid: str,
    status: str,
    error_code: int | None,
    error_message: str | None,
    conn: Tx,
) -> str:
    """Record one delivery status in the caller's transaction; says what became of it:
    applied, duplicate, stale or unknown (kept, for the sender to apply later)."""
    if not inbound_dedupe.first_time(conn, STATUS_EVENTS_PROVIDER, f"{sid}:{status}", now_iso()):
        result = "duplicate"
    else:
        message = _locked(conn, sid)
        if message is None:
            # kept in webhook_events: the sender applies it if the SID shows up later
            log.info("delivery status %s for unknown MessageSid %s", status, sid)
            result = "unknown"
        elif not delivery.advances(message.delivery_status, status):
            result = "stale"
        else:
            result = "applied"
            problem = status in delivery.PROBLEMS
            message_rows.set_delivery_status(
                conn,
                message.id,
                status,
                error_code=error_code if problem else None,
                error_message=error_message if problem else None,
                now=now_iso(),
            )
            audit.record(
                conn,
                audit.AuditEvent(
                    event=DELIVERY_UPDATE,
                    thread_id=message.thread_id,
                    message_id=message.id,
                    metadata={
                        "sid": sid,
                        "from": message.delivery_status,
                        "to": status,
                        "error_code": error_code,
                    },
                ),
            )
            events.emit(
                conn,
                "delivery.updated",
                thread_id=message.thread_id,
                correlation_id=message.correlation_id,
                data={
                    "message_id": message.id,
                    "provider_sid": sid,
                    "from": message.delivery_status,
                    "to": status,
                    "error_code": error_code if problem else None,
                    "error_message": error_message if problem else None,
                },
            )
            if problem:
                cause = f"Twilio {error_code}" if error_code is not None else "no error code"
                workflow.flag_conversation(
                    conn, message.thread_id, f"a reply was {status} ({cause})"
                )
    return result
