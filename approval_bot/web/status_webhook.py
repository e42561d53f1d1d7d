"""POST /webhooks/twilio/status: Twilio's delivery callbacks for the messages we sent."""

from __future__ import annotations

from functools import partial

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from .. import delivery, delivery_callbacks, twilio_params
from ..metrics import Metrics
from ..numbers import whole_number
from ..store import Priority, Store
from .common import MAX_ROW_ID
from .twilio_edge import signed_params


def _error_code(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    # past MAX_ROW_ID the error_code column overflows
    code = whole_number(value, MAX_ROW_ID)
    if code is None:
        raise HTTPException(400, f"ErrorCode must be a number, not {value!r}")
    return code


async def receive(request: Request) -> Response:
    """Apply a delivery callback once, only ever moving `delivery_status` forward.

    A replay of the same (MessageSid, MessageStatus) changes nothing; an unknown MessageSid
    answers 200 and is logged, so that Twilio does not retry it for ever.
    """
    params = await signed_params(request, twilio_params.check_status)
    db: Store = request.state.db
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
        partial(delivery_callbacks.record, sid, status, error_code, error_message),
        priority=Priority.BULK,
    )
    metrics.delivery_callbacks.labels(result=result).inc()
    if result != "duplicate":
        metrics.delivery_statuses.labels(status=status).inc()
    return Response(status_code=200)
