"""The audit page: filters, keyset pages, CSV and JSON exports, and the hash chain's health."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from .. import audit, queries
from ..accounts import Reviewer
from ..db import Database
from ..models import now_iso
from . import auth
from .common import render

EXPORT_COLUMNS = [
    "id",
    "timestamp",
    "event",
    "actor",
    "actor_id",
    "actor_name",
    "thread_id",
    "message_id",
    "metadata",
    "hash",
]
_FORMULA = re.compile(r"^(?:[=@\t\r]|[+-](?!\d))")


def csv_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: a leading =, @, or a sign before a non-digit is quoted.

    Phone numbers such as +14155550100 are left alone.
    """
    text = "" if value is None else str(value)
    return "'" + text if _FORMULA.match(text) else text


def _time(value: str | None, name: str) -> str | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(
            400, f"{name} must be a date or time such as 2026-01-31T09:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def audit_filter(request: Request) -> queries.AuditFilter:
    """The filter the query string asks for; 400 on a value that cannot be one."""
    params = request.query_params
    actor = params.get("actor", "")
    actor_id = None
    if actor and actor != "system":
        if not actor.isdigit():
            raise HTTPException(400, "actor must be a reviewer's id or 'system'")
        actor_id = int(actor)
    return queries.AuditFilter(
        thread_id=params.get("thread") or None,
        actor_id=actor_id,
        system_only=actor == "system",
        event=params.get("event") or None,
        since=_time(params.get("since"), "since"),
        until=_time(params.get("until"), "until"),
    )


@dataclass
class ChainStatus:
    """How far the hash chain was verified, so each page checks only the rows added since."""

    rows: int = 0
    last_id: int = 0
    last_hash: str = audit.GENESIS_HASH
    broken: audit.Verification | None = None
    checked_at: str | None = None

    def __post_init__(self) -> None:
        self.lock = asyncio.Lock()

    async def check(self, db: Database, *, from_start: bool = False) -> audit.Verification:
        """Verify the rows added since the last check (or all of them, `from_start`)."""
        async with self.lock:
            if from_start:
                self.rows, self.last_id, self.last_hash, self.broken = (
                    0,
                    0,
                    audit.GENESIS_HASH,
                    None,
                )
            if self.broken is None:
                self.broken = await self._walk(db)
            self.checked_at = now_iso()
            return self.broken or audit.Verification(self.rows)

    async def _walk(self, db: Database) -> audit.Verification | None:
        async with db.snapshot() as conn:
            async with conn.execute(
                "SELECT * FROM audit_log WHERE id > ? ORDER BY id", (self.last_id,)
            ) as cursor:
                async for row in cursor:
                    expected = self.last_id + 1
                    if row["id"] != expected:
                        return audit.Verification(self.rows, expected, f"row {expected} is missing")
                    if row["prev_hash"] != self.last_hash:
                        return audit.Verification(
                            self.rows, row["id"], "its prev_hash does not match the row before it"
                        )
                    if audit.row_hash(row) != row["hash"]:
                        return audit.Verification(
                            self.rows, row["id"], "its hash does not match its contents"
                        )
                    self.rows, self.last_id, self.last_hash = self.rows + 1, row["id"], row["hash"]
            async with conn.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'"
            ) as cursor:
                seq = await cursor.fetchone()
        if seq is not None and seq[0] > self.last_id:
            return audit.Verification(
                self.rows, self.last_id + 1, f"rows {self.last_id + 1} to {seq[0]} are missing"
            )
        return None


def _query_without(request: Request, *names: str) -> str:
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in names and v]
    return urlencode(kept)


@auth.page()
async def audit_page(request: Request, reviewer: Reviewer) -> Response:
    where = audit_filter(request)
    before_text = request.query_params.get("before")
    if before_text and not before_text.isdigit():
        raise HTTPException(400, "before must be an audit row id")
    db: Database = request.state.db
    chain: ChainStatus = request.app.state.audit_chain
    verification = await chain.check(db, from_start=request.query_params.get("verify") == "full")
    page = await queries.audit_page(db, where, int(before_text) if before_text else None)
    for row in page.rows:
        row["metadata_pretty"] = json.dumps(json.loads(row["metadata"]), ensure_ascii=False)
    return render(
        request,
        "audit.html",
        {
            "page": page,
            "filter": where,
            "params": request.query_params,
            "events": await queries.audit_events(db),
            "reviewers": await queries.reviewer_names(db),
            "verification": verification,
            "checked_at": chain.checked_at,
            "query": _query_without(request, "before", "verify"),
            "view": "audit",
        },
    )


async def _csv_lines(db: Database, where: queries.AuditFilter) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    async for batch in queries.audit_batches(db, where):
        for row in batch:
            writer.writerow([csv_cell(row[c]) for c in EXPORT_COLUMNS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


async def _json_lines(db: Database, where: queries.AuditFilter) -> AsyncIterator[str]:
    yield "["
    first = True
    async for batch in queries.audit_batches(db, where):
        for row in batch:
            item = {c: row[c] for c in EXPORT_COLUMNS}
            item["metadata"] = json.loads(row["metadata"])
            yield ("" if first else ",\n") + json.dumps(item, ensure_ascii=False)
            first = False
    yield "]\n"


@auth.page()
async def audit_export(request: Request, reviewer: Reviewer) -> Response:
    where = audit_filter(request)
    kind = request.path_params["kind"]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if kind == "csv":
        body, media = _csv_lines(request.state.db, where), "text/csv; charset=utf-8"
    elif kind == "json":
        body, media = _json_lines(request.state.db, where), "application/json"
    else:
        raise HTTPException(404, "exports are .csv or .json")
    return StreamingResponse(
        body,
        media_type=media,
        headers={"content-disposition": f'attachment; filename="audit-{stamp}.{kind}"'},
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/audit", audit_page, name="audit"),
        Route("/audit/export.{kind}", audit_export, name="audit_export"),
    ]
