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

from .. import audit, audit_checkpoint
from ..accounts import Reviewer
from ..models import now_iso
from ..store import Row, Store, Tx
from ..store.audit import Head, chain_head
from ..store.connect import walk_connection
from ..store.views import audit as audit_rows
from ..store.views.audit import AuditFilter
from ..store.views.reviewers import reviewer_names
from . import auth
from .common import render, row_id

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
# a sign is a formula's start unless the whole cell is a number ("-2+3" is one: 1)
_FORMULA = re.compile(r"^(?:[=@\t\r]|[+-](?!\d+(?:\.\d+)?$))")


def csv_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: a leading =, @, or a sign not making a plain
    number is quoted.

    Phone numbers such as +14155550100 are left alone.
    """
    text = "" if value is None else str(value)
    return "'" + text if _FORMULA.match(text) else text


def _time(value: str | None, name: str) -> str | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        # OverflowError: a time at either end of the calendar that UTC puts past it
        return moment.astimezone(UTC).isoformat(timespec="microseconds")
    except (ValueError, OverflowError):
        raise HTTPException(
            400, f"{name} must be a date or time such as 2026-01-31T09:00"
        ) from None


def audit_filter(request: Request) -> AuditFilter:
    """The filter the query string asks for; 400 on a value that cannot be one."""
    params = request.query_params
    actor = params.get("actor", "")
    actor_id = None
    if actor and actor != "system":
        actor_id = row_id(actor)
        if actor_id is None:
            raise HTTPException(400, "actor must be a reviewer's id or 'system'")
    return AuditFilter(
        thread_id=params.get("thread") or None,
        actor_id=actor_id,
        system_only=actor == "system",
        event=params.get("event") or None,
        since=_time(params.get("since"), "since"),
        until=_time(params.get("until"), "until"),
    )


WALK_BATCH = 5000
WAIT_FOR_WALK_SECONDS = 0.5


@dataclass
class ChainStatus:
    """How far the hash chain was verified, so each page checks only the rows added since.

    The walk runs as a background task on its own read-only connection: a page waits for
    it briefly, then shows how far it got, so a large log never stalls the app. The first
    walk after a start resumes from the stored checkpoint (`audit_checkpoint`), and each
    walk that ends moves the checkpoint: a restart reads only the rows added since.
    """

    rows: int = 0
    last_id: int = 0
    last_hash: str = audit.GENESIS_HASH
    broken: audit.Verification | None = None
    checked_at: str | None = None
    # rows 1 to this were verified by a walk before this process started
    resumed_from: int = 0
    # audit_log rows this process's walks have read, the checkpoint's own row included
    read: int = 0

    def __post_init__(self) -> None:
        self._task: asyncio.Future[None] | None = None
        self._stopping = False
        self._resume = True
        # the checkpoint as this process last left it: one found behind it was pulled back
        # by a walk that found a break (`audit verify`, another instance)
        self._recorded = 0

    @property
    def walking(self) -> bool:
        return self._task is not None and not self._task.done()

    async def check(
        self, db: Store, *, from_start: bool = False
    ) -> tuple[audit.Verification, bool, str | None]:
        """Verify the rows added since the last check (or all of them, `from_start`).

        Returns the verification so far, whether the walk is still going, and when it ended.
        Only the request that starts a walk waits for it, and only briefly.
        """
        if not self.walking:
            if from_start:
                self.rows, self.last_id, self.last_hash = 0, 0, audit.GENESIS_HASH
                self.broken, self.resumed_from, self._resume = None, 0, False
                self._recorded = 0
            if self.broken is None:
                self._stopping = False
                self._task = asyncio.create_task(self._walk_and_record(db))
                await asyncio.wait({self._task}, timeout=WAIT_FOR_WALK_SECONDS)
        if self._task is not None and self._task.done():
            self._task.result()  # a failed walk is an error the page shows
        return self.broken or self._intact(), self.walking, self.checked_at

    async def stop(self) -> None:
        """Stop a walk in progress (the app is shutting down)."""
        self._stopping = True
        if self._task is not None:
            await asyncio.wait({self._task})

    async def _walk_and_record(self, db: Store) -> None:
        before = self.last_id
        await asyncio.to_thread(self._walk, db)
        if self._stopping:
            return
        if self.broken is not None or self.last_id > before:
            await audit_checkpoint.record(db, self.broken or self._intact())
            if self.broken is None:
                self._recorded = max(self._recorded, self.rows)

    def _intact(self) -> audit.Verification:
        return audit.Verification(self.rows, last_hash=self.last_hash)

    def _broken(self, at: int, reason: str) -> audit.Verification:
        return audit.Verification(self.rows, at, reason, self.last_hash)

    def _walk(self, db: Store) -> None:
        # a thread of its own with its own read-only connection: hashing a million rows
        # must not hold the event loop or the app's reader connection; one snapshot, so a
        # row committed during the walk is neither "missing" nor "past the head"
        with walk_connection(db) as tx:
            head = chain_head(tx)
            if head is None:
                self.broken = self._broken(self.last_id + 1, "the chain's head is missing")
            if not self._resume and self._pulled_back(tx):
                # what this process verified earlier no longer vouches for those rows: walk
                # again from the checkpoint, which finds the break
                self.rows, self.last_id, self.last_hash = 0, 0, audit.GENESIS_HASH
                self._resume, self._recorded = True, 0
            if self._resume:
                self._resume = False
                self.broken = self.broken or self._from_checkpoint(tx)
            while self.broken is None and head is not None and not self._stopping:
                rows = audit_rows.rows_after(tx, self.last_id, WALK_BATCH)
                if not rows:
                    break
                for row in rows:
                    self.read += 1
                    self.broken = self._next(row, head)
                    if self.broken is not None:
                        break
            if self._stopping:
                return
            if self.broken is None and head is not None and head.last_id > self.last_id:
                first = self.last_id + 1
                self.broken = self._broken(first, f"rows {first} to {head.last_id} are missing")
            self.checked_at = now_iso()

    def _pulled_back(self, conn: Tx) -> bool:
        """Whether the stored checkpoint stands behind where this process left it."""
        checkpoint = audit_checkpoint.load(conn)
        return (checkpoint.last_id if checkpoint else 0) < self._recorded

    def _from_checkpoint(self, conn: Tx) -> audit.Verification | None:
        """Start after the stored checkpoint, once its own row is seen to be unchanged."""
        checkpoint = audit_checkpoint.load(conn)
        if checkpoint is None:
            return None
        row = audit_rows.row_at(conn, checkpoint.last_id)
        self.read += 1
        if row is None or {row["hash"], audit.row_hash(row)} != {checkpoint.last_hash}:
            # nothing before it is known intact any more: the next walk starts from row 1
            return audit.Verification(
                0, checkpoint.last_id, "it no longer matches the checkpoint verified before"
            )
        self.rows = self.last_id = self.resumed_from = self._recorded = checkpoint.last_id
        self.last_hash = checkpoint.last_hash
        return None

    def _next(self, row: Row, head: Head) -> audit.Verification | None:
        # the checks of `audit.verify`, in its order, so the page and `audit verify` agree
        expected = self.last_id + 1
        if row["id"] != expected:
            return self._broken(expected, f"row {expected} is missing")
        if row["id"] > head.last_id:
            return self._broken(row["id"], "it is past the head")
        if row["prev_hash"] != self.last_hash:
            return self._broken(row["id"], "its prev_hash does not match the row before it")
        if audit.row_hash(row) != row["hash"]:
            return self._broken(row["id"], "its hash does not match its contents")
        if row["id"] == head.last_id and row["hash"] != head.last_hash:
            return self._broken(row["id"], "its hash is not the one the chain's head holds")
        self.rows, self.last_id, self.last_hash = self.rows + 1, row["id"], row["hash"]
        return None


def _query_without(request: Request, *names: str) -> str:
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in names and v]
    return urlencode(kept)


@auth.page()
async def audit_page(request: Request, reviewer: Reviewer) -> Response:
    where = audit_filter(request)
    before_text = request.query_params.get("before")
    before = row_id(before_text) if before_text else None
    if before_text and before is None:
        raise HTTPException(400, "before must be an audit row id")
    db: Store = request.state.db
    chain: ChainStatus = request.app.state.audit_chain
    verification, walking, checked_at = await chain.check(
        db, from_start=request.query_params.get("verify") == "full"
    )
    page = await audit_rows.audit_page(db, where, before)
    for row in page.rows:
        row["metadata_pretty"] = json.dumps(json.loads(row["metadata"]), ensure_ascii=False)
    return render(
        request,
        "audit.html",
        {
            "page": page,
            "filter": where,
            "params": request.query_params,
            "events": await audit_rows.audit_events(db),
            "reviewers": await reviewer_names(db),
            "verification": verification,
            "checked_at": checked_at,
            "walking": walking,
            "resumed_from": chain.resumed_from,
            "query": _query_without(request, "before", "verify"),
            "view": "audit",
        },
    )


async def _csv_lines(db: Store, where: AuditFilter) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    async for batch in audit_rows.audit_batches(db, where):
        for row in batch:
            writer.writerow([csv_cell(row[c]) for c in EXPORT_COLUMNS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


async def _json_lines(db: Store, where: AuditFilter) -> AsyncIterator[str]:
    yield "["
    first = True
    async for batch in audit_rows.audit_batches(db, where):
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
