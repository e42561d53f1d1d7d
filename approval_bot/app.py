"""The application factory: routes, middleware and the lifespan that owns the resources."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .config import Settings
from .db import Database
from .metrics import Metrics
from .paths import STATIC_DIR
from .scheduler import build_scheduler
from .web import audit_pages, auth, pages, reviewers_page, signin
from .web.common import SecurityHeaders, build_templates

log = logging.getLogger(__name__)


class State(TypedDict):
    settings: Settings
    db: Database
    scheduler: AsyncIOScheduler
    metrics: Metrics


async def healthz(request: Request) -> JSONResponse:
    """Whether the database answers, and at which schema version."""
    db: Database = request.state.db
    try:
        await db.fetchone("SELECT 1")
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
        }
    )


def create_app(settings: Settings) -> Starlette:
    """Build the app for `settings`; nothing is opened until the lifespan starts."""
    templates = build_templates()
    chain = audit_pages.ChainStatus()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        db = await Database.open(settings.database)
        try:
            await db.migrate()
            scheduler = build_scheduler()
            scheduler.start()
            try:
                yield {"settings": settings, "db": db, "scheduler": scheduler, "metrics": metrics}
            finally:
                await chain.stop()
                scheduler.shutdown(wait=False)
        finally:
            await db.close()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
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

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
            *signin.routes(),
            *pages.routes(),
            *audit_pages.routes(),
            *reviewers_page.routes(),
        ],
        middleware=[Middleware(SecurityHeaders), auth.session_middleware(settings)],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.templates = templates
    app.state.audit_chain = chain
    return app
