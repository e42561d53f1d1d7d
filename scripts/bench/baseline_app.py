"""The benchmark's yardstick: a minimal Starlette endpoint doing one SQLite insert (WAL)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl

import aiosqlite
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def create_baseline(path: str) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, aiosqlite.Connection]]:
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            for pragma in ("PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL"):
                async with conn.execute(pragma):
                    pass
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS hits (sid TEXT PRIMARY KEY, body TEXT NOT NULL)"
            )
            yield {"conn": conn}
        finally:
            await conn.close()

    async def hit(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        conn: aiosqlite.Connection = request.state.conn
        await conn.execute(
            "INSERT OR IGNORE INTO hits (sid, body) VALUES (?, ?)",
            (form.get("MessageSid", ""), form.get("Body", "")),
        )
        return Response('<?xml version="1.0" encoding="UTF-8"?><Response/>', media_type="text/xml")

    return Starlette(routes=[Route("/hit", hit, methods=["POST"])], lifespan=lifespan)


def app() -> Starlette:
    return create_baseline(os.environ["BASELINE_DATABASE"])
