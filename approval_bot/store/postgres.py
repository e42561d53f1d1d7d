"""The PostgreSQL backend: psycopg 3, a pool of writer threads, async reads, migrations.

Write transactions are the same synchronous `fn(tx)` functions the SQLite writer runs. A
priority queue sits in front of a few writer threads; each thread takes the most urgent
transaction (lowest `Priority`, then arrival), runs it whole on a pooled connection between
BEGIN (READ COMMITTED unless the store was opened with another level) and COMMIT, rolls
it back on any exception, and retries the whole function when PostgreSQL reports a
serialization failure or a deadlock. Logs and callbacks left with `log_after_commit` /
`call_after_commit` run only after the COMMIT.

Reads run on psycopg's `AsyncConnectionPool`: they are awaited on the event loop, so a
read needs no thread of its own (the writer threads stay free for writes, and a snapshot
that spans several awaits holds a connection, not a thread). A snapshot is one REPEATABLE
READ READ ONLY transaction.

Several instances share one database: `exclusive(name)` takes a session-level advisory
lock (one fixed key per name) on a connection of its own, so a job runs on one instance at
a time and the others skip it; `on_notify(channel, callback)` LISTENs on another connection
of its own and calls back on the event loop whenever any instance's transaction that ran
NOTIFY on the channel commits.

The URL is libpq's (`postgresql://user:password@host:port/dbname?sslmode=…`) plus two
parameters of approval-bot's own, taken out before it reaches libpq:
`pool_size` (the read pool's connections at most, default 10) and `write_pool_size` (the
writer threads, each with one connection, default 4).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors
from psycopg import sql as pgsql
from psycopg.abc import AdaptContext
from psycopg.adapt import Dumper
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from ..models import now_iso
from .base import Priority, Row, Tx
from .hooks import Attempt, Job, call_after_commit
from .migrate import Migration, SchemaTooNew, load_migrations
from .sql import Dialect, Query

T = TypeVar("T")
log = logging.getLogger(__name__)

DEFAULT_POOL_SIZE = 10
DEFAULT_WRITE_POOL_SIZE = 4
CONNECT_TIMEOUT_S = 10
# a transaction that meets a serialization failure or a deadlock is run again, whole
RETRIES = 5
ISOLATION_LEVELS = ("READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE")
# the advisory lock that lets one instance at a time migrate a shared database
MIGRATION_LOCK = 0x61707072  # "appr"
_RETRYABLE = (errors.SerializationFailure, errors.DeadlockDetected)
# `exclusive(name)`'s locks: two-int advisory keys (a key space apart from the migration
# lock's one bigint), this namespace and the CRC-32 of the name
EXCLUSIVE_LOCKS = MIGRATION_LOCK
# a listener whose connection failed connects again after this long at most
LISTEN_RETRY_MAX_S = 30.0
# how long a listener waits for notifications before it looks for new channels
LISTEN_POLL_S = 1.0


class DatabaseUnavailable(RuntimeError):
    """The database server cannot be reached (or refused us) at startup."""


@dataclass(frozen=True)
class PostgresUrl:
    """A `postgresql://` URL split into libpq's part and approval-bot's pool sizes."""

    conninfo: str
    pool_size: int = DEFAULT_POOL_SIZE
    write_pool_size: int = DEFAULT_WRITE_POOL_SIZE

    @classmethod
    def parse(cls, url: str) -> PostgresUrl:
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError(f"not a PostgreSQL URL: {redact(url)}")
        ours: dict[str, int] = {}
        kept = []
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key in ("pool_size", "write_pool_size"):
                try:
                    ours[key] = int(value)
                except ValueError:
                    raise ValueError(f"{key} must be a whole number, not {value!r}") from None
                if ours[key] < 1:
                    raise ValueError(f"{key} must be at least 1")
            else:
                kept.append((key, value))
        conninfo = urlunsplit(parts._replace(query=urlencode(kept)))
        return cls(conninfo, **ours)


def redact(url: str) -> str:
    """The URL without its password (`user:password@` or `?password=`), for messages and
    logs."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    query = urlencode(
        [
            (key, "***" if key == "password" else value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*",
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


class _BoolAsInteger(Dumper):
    """Python's True/False as 1/0: flags are integer columns on both backends (sqlite3
    stores a bool as 1/0 too), so `active = :active` with a bool means the same on both."""

    oid = psycopg.adapters.types["int8"].oid

    def dump(self, obj: bool) -> bytes:
        return b"1" if obj else b"0"


def _adapt(context: AdaptContext) -> None:
    context.adapters.register_dumper(bool, _BoolAsInteger)


def _configure(conn: psycopg.Connection[Any]) -> None:
    _adapt(conn)


async def _configure_async(conn: psycopg.AsyncConnection[Any]) -> None:
    _adapt(conn)


class Writers:
    """Writer threads behind one priority queue, each with a connection from `pool`."""

    def __init__(self, pool: ConnectionPool[Any], count: int, isolation: str) -> None:
        self._pool = pool
        self._isolation = isolation
        self._heap: list[Job] = []
        self._ready = threading.Condition()
        self._seq = itertools.count()
        self._closing = False
        self._running = 0
        self.count = count
        self._threads = [
            threading.Thread(target=self._run, name=f"approval-bot-pg-writer-{n}", daemon=True)
            for n in range(count)
        ]
        for thread in self._threads:
            thread.start()

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
        """How many transactions wait for a writer or are running (a hint, unlocked)."""
        return len(self._heap) + self._running

    def running(self) -> int:
        return self._running

    def waiting(self) -> int:
        return len(self._heap)

    def close(self) -> None:
        """Finish the queued transactions and stop the threads."""
        with self._ready:
            self._closing = True
            self._ready.notify_all()
        for thread in self._threads:
            thread.join()

    def _next(self) -> Job | None:
        with self._ready:
            while True:
                while not self._heap and not self._closing:
                    self._ready.wait()
                if not self._heap:
                    return None
                job = heapq.heappop(self._heap)
                if not job.future.cancelled():
                    self._running += 1
                    return job

    def _run(self) -> None:
        while (job := self._next()) is not None:
            try:
                result, error = self._transact(job.fn), None
            except BaseException as failure:
                result, error = None, failure
            finally:
                with self._ready:
                    self._running -= 1
            job.answer(result, error)

    def _transact(self, fn: Callable[[Tx], T]) -> T:
        for attempt_number in range(1, RETRIES + 1):
            with self._pool.connection() as conn:
                attempt = Attempt()
                try:
                    conn.execute(f"BEGIN ISOLATION LEVEL {self._isolation}")
                    result = attempt.run(fn, Tx(conn, "postgres", call_after_commit))
                    conn.execute("COMMIT")
                except _RETRYABLE as conflict:
                    _rollback(conn)
                    if attempt_number == RETRIES:
                        raise
                    log.info(
                        "write transaction retried after %s (attempt %d)",
                        type(conflict).__name__,
                        attempt_number,
                    )
                    time.sleep(0.005 * 2**attempt_number)
                    continue
                except BaseException:
                    _rollback(conn)
                    raise
            attempt.flush()
            return result
        raise AssertionError("unreachable")  # pragma: no cover


def _rollback(conn: psycopg.Connection[Any]) -> None:
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        try:
            conn.execute("ROLLBACK")
        except psycopg.Error:  # a broken connection: the pool discards it
            pass


class PostgresReader:
    """Reads on one pooled async connection, inside a snapshot."""

    dialect: Dialect = "postgres"

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    async def all(self, q: Query, /, **params: Any) -> list[Row]:
        cursor = await self._conn.execute(q.postgres, params)
        return list(await cursor.fetchall())

    async def one(self, q: Query, /, **params: Any) -> Row | None:
        cursor = await self._conn.execute(q.postgres, params)
        row: Row | None = await cursor.fetchone()
        return row

    def execute(self, statement: str, params: Iterable[Any] | Mapping[str, Any] = ()) -> Any:
        raise _raw_statement()

    async def execute_fetchall(
        self, statement: str, params: Iterable[Any] | Mapping[str, Any] = ()
    ) -> Any:
        raise _raw_statement()


def _raw_statement() -> RuntimeError:
    return RuntimeError(
        "raw SQLite statements (execute, execute_fetchall, fetchall, fetchone) run only on "
        "the SQLite backend: on PostgreSQL, read with a Query from approval_bot/store "
        "(`await db.all(q, …)` / `await db.one(q, …)`)"
    )


def lock_key(name: str) -> int:
    """The fixed advisory key of `exclusive(name)`: the name's CRC-32 as a signed int4."""
    key = zlib.crc32(name.encode("utf-8"))
    return key - 2**32 if key >= 2**31 else key


def _usable(conn: psycopg.AsyncConnection[Any] | None) -> bool:
    return conn is not None and not conn.closed and not conn.broken


class SessionLocks:
    """Session-level advisory locks on one connection outside the pools (a pooled
    connection would keep them when handed to another caller), one per name at a time."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._guard = asyncio.Lock()
        self._held: set[str] = set()

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        conn = self._conn
        if conn is not None and _usable(conn):
            return conn
        if self._held:
            # the server ended the session: its locks went with it, another instance may
            # take them; the holders here finish their run
            log.warning("the lock connection was lost while holding %s", sorted(self._held))
        self._conn = conn = await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, row_factory=tuple_row
        )
        return conn

    async def try_lock(self, name: str) -> bool:
        """Take the lock of `name` if no session holds it (this one included); whether taken."""
        async with self._guard:
            if name in self._held:
                return False
            for tries_left in (1, 0):
                conn = await self._connection()
                try:
                    cursor = await conn.execute(
                        "SELECT pg_try_advisory_lock(%s, %s)", (EXCLUSIVE_LOCKS, lock_key(name))
                    )
                    row = await cursor.fetchone()
                    break
                except psycopg.OperationalError:
                    # the server ended the session since its last use (a restart, a
                    # failover): once more, on a new one
                    if not tries_left or _usable(conn):
                        raise
            taken = bool(row and row[0])
            if taken:
                self._held.add(name)
            return taken

    async def unlock(self, name: str) -> None:
        async with self._guard:
            self._held.discard(name)
            conn = self._conn
            if conn is None or not _usable(conn):
                return  # the session, and its locks, are gone already
            try:
                await conn.execute(
                    "SELECT pg_advisory_unlock(%s, %s)", (EXCLUSIVE_LOCKS, lock_key(name))
                )
            except psycopg.Error:
                log.warning("releasing the lock of %s failed", name, exc_info=True)

    async def close(self) -> None:
        async with self._guard:
            if self._conn is not None:
                await self._conn.close()  # releases whatever the session held
                self._conn = None


class Listener:
    """LISTEN on a connection of its own; each notification calls its channel's callbacks
    on the event loop. After a lost connection it connects again (waiting longer each time,
    up to LISTEN_RETRY_MAX_S) and calls every callback once: a notification may have been
    sent meanwhile."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._callbacks: dict[str, list[Callable[[], None]]] = {}
        self._task: asyncio.Task[None] | None = None
        self.listening: set[str] = set()  # the channels the connection LISTENs on now

    def add(self, channel: str, callback: Callable[[], None]) -> Callable[[], None]:
        self._callbacks.setdefault(channel, []).append(callback)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="approval-bot-pg-listener"
            )

        def remove() -> None:
            with suppress(ValueError):
                self._callbacks.get(channel, []).remove(callback)

        return remove

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    def _call(self, channel: str) -> None:
        for callback in list(self._callbacks.get(channel, ())):
            try:
                callback()
            except Exception:
                log.exception("a listener of %s failed", channel)

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True
                ) as conn:
                    self.listening = set()
                    await self._listen(conn)
                    if failures:
                        log.info("listening for notifications again")
                        for channel in list(self._callbacks):
                            self._call(channel)
                    failures = 0
                    while True:
                        async for notice in conn.notifies(timeout=LISTEN_POLL_S):
                            self._call(notice.channel)
                        await self._listen(conn)
            except psycopg.Error as error:
                failures += 1
                self.listening = set()
                wait = min(LISTEN_RETRY_MAX_S, 0.5 * 2**failures)
                log.warning("listening for notifications failed (%s); again in %.1f s", error, wait)
                await asyncio.sleep(wait)

    async def _listen(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """LISTEN on the channels added since the connection last looked."""
        for channel in [c for c in self._callbacks if c not in self.listening]:
            await conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(channel)))
            self.listening.add(channel)


class PostgresStore:
    """A PostgreSQL database: writer threads for whole transactions, an async read pool."""

    dialect: Dialect = "postgres"
    backend = "postgresql"

    def __init__(
        self,
        url: PostgresUrl,
        writes: ConnectionPool[Any],
        reads: AsyncConnectionPool[Any],
        writers: Writers,
    ) -> None:
        self.url = url
        self._writes = writes
        self._reads = reads
        self._writers = writers
        self._locks = SessionLocks(url.conninfo)
        self._listener = Listener(url.conninfo)

    @classmethod
    async def open(cls, url: str, *, isolation: str = "READ COMMITTED") -> PostgresStore:
        """Connect to the server at `url`; DatabaseUnavailable when it cannot be reached."""
        if isolation not in ISOLATION_LEVELS:
            raise ValueError(f"isolation must be one of {ISOLATION_LEVELS}")
        parsed = PostgresUrl.parse(url)
        await asyncio.to_thread(_probe, parsed.conninfo, url)
        kwargs = {"autocommit": True, "row_factory": dict_row}
        # each connection handed out is checked first (one empty query): after the server
        # ended the pooled sessions (a restart, a failover, idle_session_timeout) a write or
        # a read gets a new connection, not the dead one's error
        writes: ConnectionPool[Any] = ConnectionPool(
            parsed.conninfo,
            min_size=1,
            max_size=parsed.write_pool_size,
            kwargs=kwargs,
            configure=_configure,
            check=ConnectionPool.check_connection,
            open=False,
            name="approval-bot-writes",
        )
        reads: AsyncConnectionPool[Any] = AsyncConnectionPool(
            parsed.conninfo,
            min_size=1,
            max_size=parsed.pool_size,
            kwargs=kwargs,
            configure=_configure_async,
            check=AsyncConnectionPool.check_connection,
            open=False,
            name="approval-bot-reads",
        )
        try:
            await asyncio.to_thread(writes.open, True, CONNECT_TIMEOUT_S)
            await reads.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except BaseException:
            await reads.close()
            await asyncio.to_thread(writes.close)
            raise
        writers = Writers(writes, parsed.write_pool_size, isolation)
        return cls(parsed, writes, reads, writers)

    async def close(self) -> None:
        await self._listener.close()
        await self._locks.close()
        await asyncio.to_thread(self._writers.close)
        await self._reads.close()
        await asyncio.to_thread(self._writes.close)

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """Whether this instance may run `name` now: True while it holds `name`'s advisory
        lock (no other instance, and no other caller here, holds it), False when another
        does. The lock is the session's, on a connection of its own, so it spans as many
        transactions as the block runs; it is released when the block ends."""
        if not await self._locks.try_lock(name):
            yield False
            return
        try:
            yield True
        finally:
            await self._locks.unlock(name)

    def on_notify(self, channel: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` on the event loop each time a transaction that NOTIFYs `channel`
        commits, on any instance (this one included); returns what stops it. Called on the
        event loop."""
        return self._listener.add(channel, callback)

    def queued_writes(self) -> int:
        """How many write transactions wait for a writer thread or are running: load."""
        return self._writers.queued()

    def info(self) -> dict[str, Any]:
        """The backend and its pools, for /healthz."""
        stats = self._reads.get_stats()
        opened = stats.get("pool_size", 0)
        return {
            "backend": self.backend,
            "pool": {
                "size": self.url.pool_size,
                "open": opened,
                "in_use": opened - stats.get("pool_available", 0),
                "waiting": stats.get("requests_waiting", 0),
            },
            "writers": {
                "size": self._writers.count,
                "in_use": self._writers.running(),
                "waiting": self._writers.waiting(),
            },
        }

    async def write(self, fn: Callable[[Tx], T], *, priority: Priority = Priority.BULK) -> T:
        """Run `fn(tx)` as one write transaction on a writer thread; returns its result.

        As on SQLite: `fn` is synchronous and does only database work, anything it raises
        rolls its changes back and is raised here, and what it leaves for after the commit
        runs only once it committed. It may run more than once (a serialization failure
        or a deadlock is retried), so it must not act outside the database.
        """
        return await self._writers.run(fn, priority)

    @contextmanager
    def walk_connection(self) -> Iterator[Tx]:
        """A read-only connection of its own, outside the pools, for a long walk on a thread
        of its own (the audit page's): it holds neither the event loop nor a pooled reader.
        Its reads are one REPEATABLE READ READ ONLY transaction, one snapshot."""
        with psycopg.connect(self.url.conninfo, autocommit=True, row_factory=dict_row) as conn:
            _adapt(conn)
            conn.execute("SET default_transaction_read_only = on")
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield Tx.on(conn, "postgres")
            finally:
                conn.execute("ROLLBACK")

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[PostgresReader]:
        """One REPEATABLE READ READ ONLY transaction: every read sees one moment."""
        async with self._reads.connection() as conn:
            await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield PostgresReader(conn)
            finally:
                if not conn.broken:
                    await conn.execute("ROLLBACK")  # it wrote nothing to keep

    async def all(self, q: Query, /, **params: Any) -> list[Row]:
        async with self._reads.connection() as conn:
            cursor = await conn.execute(q.postgres, params)
            return list(await cursor.fetchall())

    async def one(self, q: Query, /, **params: Any) -> Row | None:
        async with self._reads.connection() as conn:
            cursor = await conn.execute(q.postgres, params)
            row: Row | None = await cursor.fetchone()
            return row

    async def fetchall(self, sql: str, params: Iterable[Any] | Mapping[str, Any] = ()) -> Any:
        raise _raw_statement()

    async def fetchone(self, sql: str, params: Iterable[Any] | Mapping[str, Any] = ()) -> Any:
        raise _raw_statement()

    async def schema_version(self) -> int:
        async with self._reads.connection() as conn:
            return await _version_async(conn)

    async def migrate(self, migrations: list[Migration] | None = None) -> list[int]:
        """Apply the migrations this database lacks, each with its record in one transaction.

        Instances starting together take turns (an advisory lock); returns the versions
        applied, empty when the database was up to date; SchemaTooNew when it is newer.
        """
        migrations = load_migrations("postgres") if migrations is None else migrations
        return await asyncio.to_thread(self._migrate, migrations)

    def _migrate(self, migrations: list[Migration]) -> list[int]:
        with self._writes.connection() as conn:
            return migrate_connection(conn, migrations)


def migrate_connection(
    conn: psycopg.Connection[Any], migrations: list[Migration] | None = None
) -> list[int]:
    """Migrate the database of `conn` (in autocommit mode): what `PostgresStore.migrate`
    does, for a connection of one's own (the test template, `db copy`)."""
    migrations = load_migrations("postgres") if migrations is None else migrations
    known = migrations[-1].version if migrations else 0
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    BIGINT PRIMARY KEY,
                name       TEXT NOT NULL,
                applied_at TEXT NOT NULL
            )
            """
        )
        current = _version(conn)
        if current > known:
            raise SchemaTooNew(current, known)
        applied = []
        for migration in migrations:
            if migration.version <= current:
                continue
            with conn.transaction():
                conn.execute(migration.sql.encode())  # several statements at once
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, now_iso()),
                )
            applied.append(migration.version)
        return applied
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


def _version(conn: psycopg.Connection[Any]) -> int:
    with conn.cursor(row_factory=tuple_row) as cursor:
        cursor.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
        known = cursor.fetchone()
        if not known or not known[0]:
            return 0
        cursor.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
        row = cursor.fetchone()
        return int(row[0]) if row else 0


async def _version_async(conn: psycopg.AsyncConnection[Any]) -> int:
    cursor = await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL AS known")
    row = await cursor.fetchone()
    if not row or not row["known"]:
        return 0
    cursor = await conn.execute("SELECT coalesce(max(version), 0) AS v FROM schema_migrations")
    row = await cursor.fetchone()
    return int(row["v"]) if row else 0


def _probe(conninfo: str, url: str) -> None:
    """One connection before the pools open, so an unreachable server says why at once."""
    try:
        psycopg.connect(conninfo, connect_timeout=CONNECT_TIMEOUT_S).close()
    except psycopg.Error as error:
        text = str(error).strip()
        reason = text.splitlines()[0] if text else type(error).__name__
        raise DatabaseUnavailable(
            f"cannot connect to PostgreSQL at {redact(url)}: {reason}"
        ) from error
