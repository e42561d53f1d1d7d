"""The SQLite database: connections, the one writer, transactions and migrations."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from .models import now_iso

BUSY_TIMEOUT_MS = 5000
committed_log = logging.getLogger("approval_bot.audit")
_after_commit: ContextVar[list[tuple[str, dict[str, Any]]] | None] = ContextVar(
    "after_commit", default=None
)


def log_after_commit(message: str, extra: dict[str, Any]) -> None:
    """Log a line when the current write transaction commits (at once outside one)."""
    pending = _after_commit.get()
    if pending is None:
        committed_log.info(message, extra=extra)
    else:
        pending.append((message, extra))


_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class SchemaTooNew(Exception):
    """The database was migrated by a newer approval-bot than this one."""

    def __init__(self, database_version: int, code_version: int) -> None:
        super().__init__(
            f"the database is at schema version {database_version}, newer than the "
            f"{code_version} this approval-bot knows; run a newer approval-bot or restore a backup"
        )
        self.database_version = database_version
        self.code_version = code_version


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """The numbered SQL files shipped in `approval_bot/migrations`, in order."""
    migrations = []
    for entry in resources.files("approval_bot.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            migrations.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    migrations.sort(key=lambda m: m.version)
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"migrations must be numbered 1, 2, 3 … without gaps; found {versions}")
    return migrations


def split_statements(script: str) -> list[str]:
    """Cut an SQL script into whole statements, keeping trigger bodies together."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    leftover = [line for line in buffer.splitlines() if not line.strip().startswith("--")]
    if "".join(leftover).strip():
        raise ValueError(f"incomplete SQL statement at the end of a migration: {buffer.strip()!r}")
    return statements


async def _connect(path: Path, *, read_only: bool) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        pragmas = [
            f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
            "PRAGMA foreign_keys = ON",
            "PRAGMA synchronous = NORMAL",
        ]
        if read_only:
            pragmas.append("PRAGMA query_only = ON")
        else:
            pragmas.insert(0, "PRAGMA journal_mode = WAL")
        for pragma in pragmas:
            # a pragma that answers a row holds its statement open until the cursor closes
            async with conn.execute(pragma):
                pass
    except BaseException:
        await conn.close()
        raise
    return conn


class WriteLock:
    """An asyncio lock granted in arrival order, except that urgent waiters go first.

    Drafting writes are urgent: a draft waits for the transaction in progress, not for the
    whole queue of webhooks behind it, and each message has at most one draft to write.
    """

    def __init__(self) -> None:
        self._locked = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()

    async def acquire(self, *, urgent: bool = False) -> None:
        if not self._locked:
            self._locked = True
            return
        waiter = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._normal).append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed the lock as we were cancelled: pass it on
            raise

    def release(self) -> None:
        """Hand the lock to the next waiter still waiting, or unlock it."""
        for queue in (self._urgent, self._normal):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._locked = False


class Database:
    """One writer connection behind a lock, and one reader connection.

    Every write runs inside `transaction()`: BEGIN IMMEDIATE … COMMIT, rolled back on any
    exception, so a transaction that reads then writes never fails with SQLITE_BUSY halfway.
    """

    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection):
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_lock = WriteLock()
        self._read_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await _connect(path, read_only=False)
        try:
            reader = await _connect(path, read_only=True)
        except BaseException:
            await writer.close()
            raise
        return cls(path, writer, reader)

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()

    @asynccontextmanager
    async def transaction(self, *, urgent: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction on the one writer connection; `urgent` ones jump the queue.

        Lines given to `log_after_commit` inside it are logged once it commits, so a log
        line never tells of a change that was rolled back.
        """
        await self._write_lock.acquire(urgent=urgent)
        pending: list[tuple[str, dict[str, Any]]] = []
        token = _after_commit.set(pending)
        try:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise
            await self._writer.execute("COMMIT")
        finally:
            _after_commit.reset(token)
            self._write_lock.release()
        for message, extra in pending:
            committed_log.info(message, extra=extra)

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[aiosqlite.Connection]:
        """A read transaction on the reader connection: one consistent view of the database."""
        async with self._read_lock:
            await self._reader.execute("BEGIN")
            try:
                yield self._reader
            finally:
                await self._reader.execute("COMMIT")

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        async with self._reader.execute(sql, tuple(params)) as cursor:
            return list(await cursor.fetchall())

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        async with self._reader.execute(sql, tuple(params)) as cursor:
            return await cursor.fetchone()

    async def schema_version(self) -> int:
        row = await self.fetchone(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        )
        if row is None:
            return 0
        row = await self.fetchone("SELECT coalesce(max(version), 0) AS v FROM schema_migrations")
        return int(row["v"]) if row else 0

    async def migrate(self, migrations: list[Migration] | None = None) -> list[int]:
        """Apply the migrations this database lacks, each with its record in one transaction.

        Returns the versions applied; an empty list when the database was up to date.
        """
        migrations = load_migrations() if migrations is None else migrations
        known = migrations[-1].version if migrations else 0
        async with self.transaction() as conn:
            await conn.execute(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    INTEGER PRIMARY KEY,
                    name       TEXT NOT NULL,
                    applied_at TEXT NOT NULL
                )
                """
            )
        current = await self.schema_version()
        if current > known:
            raise SchemaTooNew(current, known)
        applied = []
        for migration in migrations:
            if migration.version <= current:
                continue
            async with self.transaction() as conn:
                for statement in split_statements(migration.sql):
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, now_iso()),
                )
            applied.append(migration.version)
        return applied


@asynccontextmanager
async def opened(path: Path) -> AsyncIterator[Database]:
    """Open the database at `path`, migrated to the latest schema, and close it afterwards."""
    db = await Database.open(path)
    try:
        await db.migrate()
        yield db
    finally:
        await db.close()
