"""GET /metrics: the app's Prometheus metrics, for a scraper holding an API token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from .. import sending_gate
from ..accounts import reviewer_for_token
from ..config import Settings
from ..metrics import Metrics
from ..store import Store
from ..store.views import monitoring

TAKEOVER_WINDOW = timedelta(days=7)


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def metrics(request: Request) -> Response:
    """Prometheus text format; needs `Authorization: Bearer <API token>` unless METRICS_PUBLIC."""
    settings: Settings = request.state.settings
    db: Store = request.state.db
    instruments: Metrics = request.state.metrics
    if not settings.metrics_public:
        token = bearer_token(request)
        if token is None or await reviewer_for_token(db, token) is None:
            raise HTTPException(
                401,
                "a valid API token is needed: Authorization: Bearer <token>",
                headers={"WWW-Authenticate": "Bearer"},
            )
    pending = await monitoring.pending_replies(db)
    instruments.queue_depth.set(pending.depth)
    oldest = pending.oldest
    age = (datetime.now(UTC) - datetime.fromisoformat(oldest)).total_seconds() if oldest else 0
    instruments.oldest_pending_age.set(age)
    failed, waiting = await monitoring.webhook_deliveries(db)
    instruments.webhook_deliveries_failed.set(failed)
    instruments.webhook_deliveries_pending.set(waiting)
    week_ago = (datetime.now(UTC) - TAKEOVER_WINDOW).isoformat(timespec="microseconds")
    threads, taken = await monitoring.takeovers_since(db, week_ago)
    instruments.human_takeover_ratio.set(taken / threads if threads else 0.0)
    gate = await sending_gate.fetch(db)
    for status in sending_gate.ComplianceStatus:
        instruments.sending_gate_status.labels(status=status).set(int(gate.status is status))
    instruments.sending_stopped.set(int(gate.stopped))
    instruments.held_by_sending_gate.set(await sending_gate.held_count(db))
    # the review deadlines' all-time rollups: a row per step and per bucket
    deadlines = instruments.review_deadlines
    deadlines.steps = await monitoring.review_step_totals(db)
    deadlines.buckets = await monitoring.review_wait_buckets(db)
    return Response(generate_latest(instruments.registry), media_type=CONTENT_TYPE_LATEST)
