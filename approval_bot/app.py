"""The application factory: routes, middleware and the lifespan that owns the resources."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TypedDict

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import event_delivery, jobs, review, review_clocks, sending_gate, understanding
from .config import Settings
from .drafting import DraftingService, build_drafter
from .gateways import SmsGateway, build_gateway
from .logs import RequestLog
from .metrics import Metrics
from .paths import STATIC_DIR
from .scheduler import build_scheduler
from .sending import Sender
from .store import Store, open_store
from .store.views import monitoring
from .web import (
    api,
    audit_pages,
    auth,
    business_page,
    directives_page,
    form_errors,
    inbound_webhooks,
    metrics_endpoint,
    pages,
    reviewers_page,
    settings_page,
    setup_page,
    signin,
    simulator,
    stats_page,
    status_webhook,
    templates_page,
    webhooks_page,
)
from .web.common import BodyLimit, SecurityHeaders, build_templates
from .web.twilio_edge import few_at_once

log = logging.getLogger(__name__)


class State(TypedDict):
    settings: Settings
    db: Store
    scheduler: AsyncIOScheduler
    metrics: Metrics
    drafting: DraftingService
    gateway: SmsGateway
    sender: Sender
    ingest: asyncio.Semaphore  # Twilio's webhooks at work at once (web.twilio_edge)


async def healthz(request: Request) -> JSONResponse:
    """Whether the database answers, at which schema version, on which backend (and, on
    PostgreSQL, how its connection pool is used)."""
    db: Store = request.state.db
    try:
        await monitoring.ping(db)
        version = await db.schema_version()
    except Exception as error:  # any database failure is what this endpoint reports
        log.exception("health check failed")
        return JSONResponse(
            {"status": "error", "database": f"unreachable: {type(error).__name__}"},
            status_code=503,
        )
    return JSONResponse(
        {
            "status": "ok",
            "database": "ok",
            "schema_version": version,
            "sandbox": request.state.settings.sandbox,
            **db.info(),
        }
    )


def create_app(settings: Settings) -> Starlette:
    """Build the app for `settings`; nothing is opened until the lifespan starts."""
    templates = build_templates()
    chain = audit_pages.ChainStatus()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        # closed in reverse: sends and deliveries in flight are recorded, the scheduler
        # stops once its other runs finish, drafting stops, the clients close, and the
        # database closes last
        async with AsyncExitStack() as stack:
            db = await open_store(settings.database_target)
            stack.push_async_callback(db.close)
            await db.migrate()
            # the first start decides the gate's first status; later ones leave it alone
            await sending_gate.ensure(db, sandbox=settings.sandbox)
            # the review policy the clocks are timed by; a changed one reschedules them
            policy = review_clocks.Policy.of(settings)
            await db.write(lambda conn: review_clocks.store_policy(conn, policy))
            review.listen(db, metrics.record_decision)
            review.listen_opt_out_confirmed(db, metrics.plain_opt_outs_confirmed.inc)
            review.listen_threads(
                db, lambda action, by: metrics.thread_actions.labels(action=action, by=by).inc()
            )
            drafter, remote = build_drafter(settings, metrics)
            if remote is not None:
                stack.push_async_callback(remote.aclose)
            gateway = build_gateway(settings, db)
            stack.push_async_callback(gateway.aclose)
            await asyncio.to_thread(understanding.warm_up)
            drafting = DraftingService(db, drafter, metrics, settings.business_timezone)
            stack.push_async_callback(drafting.aclose)
            # stopped after the sender and the deliverer have finished their passes
            scheduler = build_scheduler()
            stack.push_async_callback(scheduler.stop)
            sender = Sender(db, gateway, settings, metrics=metrics)
            stack.push_async_callback(sender.stop)
            deliverer = event_delivery.Deliverer(db, settings, metrics=metrics)
            stack.push_async_callback(deliverer.stop)
            stack.push_async_callback(chain.stop)
            jobs.register(scheduler, db, settings, drafting)
            event_delivery.register_retention(scheduler, db, settings)
            sender.schedule(scheduler)
            deliverer.schedule(scheduler)
            scheduler.start()
            yield {
                "settings": settings,
                "db": db,
                "scheduler": scheduler,
                "metrics": metrics,
                "drafting": drafting,
                "gateway": gateway,
                "sender": sender,
                "ingest": asyncio.Semaphore(settings.ingest_concurrency),
            }

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        again = await form_errors.rerender(request, exc.status_code, exc.detail)
        if again is not None:
            return again
        if "text/html" in request.headers.get("accept", ""):
            return templates.TemplateResponse(
                request,
                "error.html",
                {"status_code": exc.status_code, "detail": exc.detail},
                status_code=exc.status_code,
                headers=exc.headers,
            )
        return JSONResponse(
            {"error": {"code": exc.status_code, "message": exc.detail}},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    async def server_error(request: Request, exc: Exception) -> Response:
        # the traceback is logged by the server; the reviewer gets the site's own page
        if "text/html" in request.headers.get("accept", ""):
            return templates.TemplateResponse(
                request,
                "error.html",
                {"status_code": 500, "detail": "Something went wrong on our side."},
                status_code=500,
            )
        return JSONResponse(
            {"error": {"code": 500, "message": "internal server error"}}, status_code=500
        )

    async def client_gone(request: Request, exc: Exception) -> Response:
        # the client hung up (or was cut off by the receive deadline) before its body was
        # all in: nothing was done, and nobody is left to read an answer
        return Response("the request did not arrive whole", status_code=400)

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/metrics", metrics_endpoint.metrics),
            *inbound_webhooks.routes,
            Route(
                "/webhooks/twilio/status",
                few_at_once(status_webhook.receive),
                methods=["POST"],
            ),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
            *signin.routes(),
            *pages.routes(),
            *audit_pages.routes(),
            *reviewers_page.routes(),
            *settings_page.routes(),
            *api.routes(),
            *directives_page.routes(),
            *business_page.routes(),
            *setup_page.routes(),
            *templates_page.routes(),
            *simulator.routes(),
            *stats_page.routes(),
            *webhooks_page.routes(),
        ],
        middleware=[
            Middleware(RequestLog),
            Middleware(SecurityHeaders),
            Middleware(BodyLimit),
            auth.session_middleware(settings),
        ],
        exception_handlers={
            HTTPException: http_error,
            ClientDisconnect: client_gone,
            500: server_error,
        },
        lifespan=lifespan,
    )
    app.state.templates = templates
    app.state.audit_chain = chain
    return app
