"""Twilio's inbound webhooks: a customer's text (`/webhooks/twilio/sms`) and a missed call
(`/webhooks/twilio/voice`). They store, answer TwiML at once, and draft afterwards."""

from __future__ import annotations

from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.twiml.voice_response import VoiceResponse

from .. import inbound, review, reviewer_sms, twilio_params
from ..config import Settings
from ..drafting import DraftingService
from ..metrics import Metrics
from ..scheduler import wake_sender
from ..store import Store
from .twilio_edge import few_at_once, signed_params, twiml


async def sms(request: Request) -> Response:
    """Store a customer's message; draft it after the answer, never during the request."""
    params = await signed_params(request, twilio_params.check_message)
    try:
        message = inbound.parse_sms(params)
    except inbound.BadInbound as error:
        raise HTTPException(400, str(error)) from None
    db: Store = request.state.db
    metrics: Metrics = request.state.metrics
    drafting: DraftingService = request.state.drafting
    settings: Settings = request.state.settings
    received = await inbound.receive_sms(
        db,
        message,
        settings.business_timezone,
        override_seconds=settings.human_override_window_seconds,
    )
    metrics.inbound_messages.labels(channel=message.channel, outcome=received.outcome).inc()
    if received.pause_cause is not None:
        metrics.rule_pauses.labels(cause=received.pause_cause).inc()
    if received.appointment is not None:
        metrics.appointments.labels(status=received.appointment).inc()
    if received.outcome is inbound.Outcome.OPTED_OUT:
        metrics.opt_outs.labels(direction="out").inc()
        if received.closed:
            review.closed(db, "opt_out", released=received.released)
    elif received.outcome is inbound.Outcome.OPTED_IN:
        metrics.opt_outs.labels(direction="in").inc()
    if received.auto_reply_id is not None:
        metrics.auto_replies.labels(trigger="help").inc()
        wake_sender(request.state.scheduler)
    response = twiml()
    if received.wants_draft and received.thread_id is not None:
        response.background = BackgroundTask(drafting.schedule_after_response, received.thread_id)
    elif received.reviewer_id is not None:
        response.background = BackgroundTask(
            reviewer_sms.respond,
            db,
            request.state.scheduler,
            received.reviewer_id,
            message.body,
            drafting.schedule,
            received.reviewer_keyword,
        )
    return response


async def voice(request: Request) -> Response:
    """Say one sentence and hang up; record the missed call and draft a text-back for review."""
    params = await signed_params(request, twilio_params.check_call)
    try:
        call = inbound.parse_call(params)
    except inbound.BadInbound as error:
        raise HTTPException(400, str(error)) from None
    settings: Settings = request.state.settings
    db: Store = request.state.db
    metrics: Metrics = request.state.metrics
    drafting: DraftingService = request.state.drafting
    received = await inbound.receive_missed_call(db, call)
    if not received.duplicate:
        metrics.missed_calls.inc()
    answer = VoiceResponse()
    answer.say(settings.missed_call_message)
    answer.hangup()
    response = twiml(str(answer))
    if received.wants_draft and received.thread_id is not None:
        response.background = BackgroundTask(drafting.schedule_after_response, received.thread_id)
    return response


routes = [
    Route("/webhooks/twilio/sms", few_at_once(sms), methods=["POST"]),
    Route("/webhooks/twilio/voice", few_at_once(voice), methods=["POST"]),
]
