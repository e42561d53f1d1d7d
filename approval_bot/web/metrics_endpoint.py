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
from ..models import MessageStatus
from ..store import Store

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
    row = await db.fetchone(
        """
        SELECT count(*) AS depth, min(timestamp) AS oldest FROM messages
        WHERE status = ? AND type != 'INBOUND'
        """,
        (MessageStatus.DRAFT_PENDING_APPROVAL,),
    )
    depth, oldest = (row["depth"], row["oldest"]) if row else (0, None)
    instruments.queue_depth.set(depth)
    age = (datetime.now(UTC) - datetime.fromisoformat(oldest)).total_seconds() if oldest else 0
    instruments.oldest_pending_age.set(age)
    # both through partial indexes: as many rows as are failed or waiting, not the history
    failed = await db.fetchone(
        "SELECT count(*) AS n FROM webhook_deliveries INDEXED BY webhook_deliveries_failed"
        " WHERE status = 'failed'"
    )
    pending = await db.fetchone(
        "SELECT count(*) AS n FROM webhook_deliveries INDEXED BY webhook_deliveries_due"
        " WHERE status = 'pending'"
    )
    instruments.webhook_deliveries_failed.set(failed["n"] if failed else 0)
    instruments.webhook_deliveries_pending.set(pending["n"] if pending else 0)
    week_ago = (datetime.now(UTC) - TAKEOVER_WINDOW).isoformat(timespec="microseconds")
    active = await db.fetchone(
        """
        SELECT count(*) AS threads,
               coalesce(sum(thread_controls.last_takeover_at >= ?), 0) AS taken_over
        FROM conversations JOIN thread_controls USING (thread_id)
        WHERE conversations.last_activity_at >= ?
        """,
        (week_ago, week_ago),
    )
    threads, taken = (active["threads"], active["taken_over"]) if active else (0, 0)
    instruments.human_takeover_ratio.set(taken / threads if threads else 0.0)
    gate = await sending_gate.fetch(db)
    for status in sending_gate.ComplianceStatus:
        instruments.sending_gate_status.labels(status=status).set(int(gate.status is status))
    instruments.sending_stopped.set(int(gate.stopped))
    instruments.held_by_sending_gate.set(await sending_gate.held_count(db))
    # the review deadlines' all-time rollups: a row per step and per bucket
    deadlines = instruments.review_deadlines
    steps = await db.fetchall("SELECT step, steps FROM review_step_totals")
    deadlines.steps = {row["step"]: float(row["steps"]) for row in steps}
    buckets = await db.fetchall("SELECT le, decisions, seconds FROM review_wait_buckets")
    deadlines.buckets = [(r["le"], float(r["decisions"]), float(r["seconds"])) for r in buckets]
    return Response(generate_latest(instruments.registry), media_type=CONTENT_TYPE_LATEST)
