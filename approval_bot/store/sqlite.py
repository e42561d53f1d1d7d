"""The SQLite backend: the one writer thread, the reader connection, and migrations."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
from rapidfuzz.distance import Levenshtein

from ..models import now_iso
from .base import Priority, Row, Tx
from .hooks import Attempt, Job, call_after_commit, flush
from .migrate import Migration, SchemaTooNew, load_migrations
from .sql import Dialect, Query

BUSY_TIMEOUT_MS = 5000
# how many queued transactions of one priority the writer commits together at most
GROUP_COMMIT_LIMIT = 64
T = TypeVar("T")


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


def _pragmas(*, read_only: bool) -> list[str]:
    pragmas = [
        f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
        "PRAGMA foreign_keys = ON",
        "PRAGMA synchronous = NORMAL",
    ]
    if read_only:
        pragmas.append("PRAGMA query_only = ON")
    else:
        pragmas.insert(0, "PRAGMA journal_mode = WAL")
    return pragmas


def add_functions(conn: sqlite3.Connection) -> None:
    """The SQL functions migrations call: levenshtein(a, b), for 0010's edit sizes."""
    conn.create_function("levenshtein", 2, Levenshtein.distance, deterministic=True)


def _connect_writer(path: Path) -> sqlite3.Connection:
    # made here, used only by the writer's thread from then on
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        for pragma in _pragmas(read_only=False):
            conn.execute(pragma).close()
        add_functions(conn)
    except BaseException:
        conn.close()
        raise
    return conn


async def _connect_reader(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        for pragma in _pragmas(read_only=True):
            # a pragma that answers a row holds its statement open until the cursor closes
            async with conn.execute(pragma):
                pass
    except BaseException:
        await conn.close()
        raise
    return conn


class Writer:
    """The one writer: a thread with its own connection that runs whole transactions.

    A transaction is a plain synchronous function of the connection, run between
    BEGIN IMMEDIATE and COMMIT on this thread: one thread hop per transaction, however
    many statements it holds, so the write lock is never held across the event loop.
    Queued transactions run by priority, then arrival; several queued ones of the same
    priority are committed together (group commit), each inside its own SAVEPOINT, so
    one that raises is rolled back alone and the others still commit. A group stops
    early when a transaction of higher priority arrives, so a decision waits for at
    most one running transaction, not a whole group. Each caller is answered only after
    the COMMIT that made its change durable.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._heap: list[Job] = []
        self._ready = threading.Condition()
        self._seq = itertools.count()
        self._closing = False
        self._committing = 0
        self._thread = threading.Thread(target=self._run, name="approval-bot-writer", daemon=True)
        self._thread.start()

    async def run(self, fn: Callable[[Tx], T], priority: Priority) -> T:
        loop = asyncio.get_running_loop()
        job = Job(int(priority), next(self._seq), fn, loop, loop.create_future())
        with self._ready:
            if self._closing:
                raise RuntimeError("the database is closed")
            heapq.heappush(self._heap, job)
            self._ready.notify()
        result: T = await job.future
        return result

    def queued(self) -> int:
        """How many transactions wait for the writer or are being committed (read without
        the lock: a hint). Group commit empties the queue at each batch, so a burst shows
        as the batch in progress as much as the queue."""
        return len(self._heap) + self._committing

    def close(self) -> None:
        """Finish the queued transactions, stop the thread and close the connection."""
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join()
        self._conn.close()

    def _next_batch(self) -> list[Job] | None:
        with self._ready:
            while not self._heap and not self._closing:
                self._ready.wait()
            if not self._heap:
                return None
            batch = [heapq.heappop(self._heap)]
            while (
                self._heap
                and self._heap[0].priority == batch[0].priority
                and len(batch) < GROUP_COMMIT_LIMIT
            ):
                batch.append(heapq.heappop(self._heap))
        return [job for job in batch if not job.future.cancelled()]

    def _outranked(self, priority: int) -> bool:
        with self._ready:
            return bool(self._heap) and self._heap[0].priority < priority

    def _requeue(self, jobs: list[Job]) -> None:
        with self._ready:
            for job in jobs:  # each keeps its place: (priority, arrival)
                heapq.heappush(self._heap, job)

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            if batch:
                self._committing = len(batch)
                self._commit(batch)
                self._committing = 0

    def _commit(self, batch: list[Job]) -> None:
        conn = self._conn
        outcomes: list[tuple[Any, BaseException | None]] = []
        logged: list[tuple[str, dict[str, Any]]] = []
        committed: list[Callable[[], None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for done, job in enumerate(batch):
                if done and self._outranked(job.priority):
                    # a decision arrived: commit what ran, and give the rest back
                    self._requeue(batch[done:])
                    batch = batch[:done]
                    break
                outcomes.append(self._attempt(job, logged, committed))
            conn.execute("COMMIT")
        except BaseException as failure:  # the BEGIN or the COMMIT failed: nothing was kept
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            outcomes = [(None, failure)] * len(batch)
            logged, committed = [], []
        flush(logged, committed)
        for job, (result, error) in zip(batch, outcomes, strict=True):
            job.answer(result, error)

    def _attempt(
        self,
        job: Job,
        logged: list[tuple[str, dict[str, Any]]],
        committed: list[Callable[[], None]],
    ) -> tuple[Any, BaseException | None]:
        conn = self._conn
        attempt = Attempt()
        conn.execute("SAVEPOINT job")
        try:
            result = attempt.run(job.fn, Tx(conn, "sqlite", call_after_commit))
        except Exception as error:
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            return None, error
        conn.execute("RELEASE job")
        logged.extend(attempt.logged)
        committed.extend(attempt.callbacks)
        return result, None


def _bound(params: Iterable[Any] | Mapping[str, Any]) -> tuple[Any, ...] | Mapping[str, Any]:
    return params if isinstance(params, Mapping) else tuple(params)


class SqliteReader:
    """Reads on the reader connection (aiosqlite), inside a snapshot or one at a time."""

    dialect: Dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def all(self, q: Query, /, **params: Any) -> list[Row]:
        async with self._conn.execute(q.sqlite, params) as cursor:
            return list(await cursor.fetchall())

    async def one(self, q: Query, /, **params: Any) -> Row | None:
        async with self._conn.execute(q.sqlite, params) as cursor:
            row: Row | None = await cursor.fetchone()
            return row

    # SQLite's own statements, for tests and scripts on SQLite
    def execute(self, statement: str, params: Iterable[Any] | Mapping[str, Any] = ()) -> Any:
        return self._conn.execute(statement, _bound(params))

    async def execute_fetchall(
        self, statement: str, params: Iterable[Any] | Mapping[str, Any] = ()
    ) -> Any:
        return await self._conn.execute_fetchall(statement, _bound(params))


class SqliteStore:
    """The one writer (a thread running whole transactions) and one reader connection.

    Every write is a synchronous function run by `write()` between BEGIN IMMEDIATE and
    COMMIT on the writer's thread, so a transaction that reads then writes never fails
    with SQLITE_BUSY halfway and the write lock is never held across the event loop.
    """

    dialect: Dialect = "sqlite"
    backend = "sqlite"

    def __init__(self, path: Path, reader: aiosqlite.Connection, writer: Writer):
        self.path = path
        self._reader = reader
        self._reads = SqliteReader(reader)
        self._writer = writer
        self._read_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = Writer(await asyncio.to_thread(_connect_writer, path))
        try:
            reader = await _connect_reader(path)
        except BaseException:
            await asyncio.to_thread(writer.close)
            raise
        return cls(path, reader, writer)

    async def close(self) -> None:
        await self._reader.close()
        await asyncio.to_thread(self._writer.close)

    def queued_writes(self) -> int:
        """How many write transactions wait for the writer or are being committed: load."""
        return self._writer.queued()

    def info(self) -> dict[str, Any]:
        """The backend, for /healthz: one file, one writer, no pool."""
        return {"backend": self.backend}

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """Always True: one process owns a SQLite file, so a job never runs on two
        instances (PostgreSQL takes an advisory lock here)."""
        yield True

    def on_notify(self, channel: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Nothing: no other instance shares the file, and this one wakes its own jobs."""
        return lambda: None

    async def write(self, fn: Callable[[Tx], T], *, priority: Priority = Priority.BULK) -> T:
        """Run `fn(tx)` as one write transaction on the writer's thread; returns its result.

        `fn` is synchronous and does only database work: it runs between BEGIN IMMEDIATE
        and COMMIT, and anything it raises rolls its changes back and is raised here.
        Lines given to `log_after_commit` inside it are logged once it commits, so a log
        line never tells of a change that was rolled back.
        """
        return await self._writer.run(fn, priority)

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[SqliteReader]:
        """A read transaction on the reader connection: one consistent view of the database."""
        async with self._read_lock:
            await self._reader.execute("BEGIN")
            try:
                yield self._reads
            finally:
                await self._reader.execute("COMMIT")

    # a read waits for an open snapshot to end: on the one reader connection it would run
    # inside that read transaction and see the database as it was when the snapshot began
    async def all(self, q: Query, /, **params: Any) -> list[Row]:
        async with self._read_lock:
            return await self._reads.all(q, **params)

    async def one(self, q: Query, /, **params: Any) -> Row | None:
        async with self._read_lock:
            return await self._reads.one(q, **params)

    # the two below take SQLite's own statements, for tests and scripts on SQLite
    async def fetchall(
        self, sql: str, params: Iterable[Any] | Mapping[str, Any] = ()
    ) -> list[sqlite3.Row]:
        async with self._read_lock, self._reader.execute(sql, _bound(params)) as cursor:
            return list(await cursor.fetchall())

    async def fetchone(
        self, sql: str, params: Iterable[Any] | Mapping[str, Any] = ()
    ) -> sqlite3.Row | None:
        async with self._read_lock, self._reader.execute(sql, _bound(params)) as cursor:
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
        await self.write(_create_history)
        current = await self.schema_version()
        if current > known:
            raise SchemaTooNew(current, known)
        applied = []
        for migration in migrations:
            if migration.version > current:
                await self.write(partial(_apply, migration))
                applied.append(migration.version)
        return applied


def _create_history(conn: Tx) -> None:
    conn.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INTEGER PRIMARY KEY,
            name       TEXT NOT NULL,
            applied_at TEXT NOT NULL
        )
        """
    )


def _apply(migration: Migration, conn: Tx) -> None:
    """One migration's statements and its record in schema_migrations, in one transaction."""
    for statement in split_statements(migration.sql):
        conn.execute(statement)
    conn.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
        (migration.version, migration.name, now_iso()),
    )
