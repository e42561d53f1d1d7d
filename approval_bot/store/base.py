"""What every backend offers: write transactions run whole, reads, and their handles.

A write transaction is a plain synchronous function of a `Tx`, run by `Store.write` on the
backend's own thread between BEGIN and COMMIT, so the write lock is never held across the
event loop. Reads are awaited on the store, or inside `Store.snapshot()` for several reads
that must see one moment. Store functions (`approval_bot/store/*.py`) take a `Tx` or a
`Reader` first and return dataclasses.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from enum import IntEnum
from typing import Any, Protocol, TypeVar

from .migrate import Migration
from .sql import Dialect, Query

T = TypeVar("T")


class Row(Protocol):
    """A row as the driver gives it, read by column name (sqlite3.Row, psycopg's dict rows)."""

    def __getitem__(self, key: str, /) -> Any: ...

    def keys(self) -> Any: ...


class Priority(IntEnum):
    """Which queued write transaction runs first: the lowest number."""

    DECISION = 0  # reviewers' decisions and the sender: a person or Twilio is waiting
    DRAFT = 1  # a draft waits for the transaction in progress, not for the webhooks queued
    BULK = 2  # webhooks, jobs, everything else


def _check(q: Query, params: Mapping[str, Any]) -> None:
    missing = q.names - params.keys()
    if missing:
        raise TypeError(f"the query needs {sorted(missing)}: {q.sqlite[:60]!r}")


class Tx:
    """One write transaction's handle, used on the thread that runs the transaction.

    It runs `Query`s on the backend's DB-API connection (sqlite3 or psycopg), choosing the
    query's text for the dialect; what it runs commits or rolls back with the transaction.
    """

    def __init__(
        self, conn: Any, dialect: Dialect, on_commit: Callable[[Callable[[], None]], None]
    ):
        self._conn = conn
        self.dialect: Dialect = dialect
        self._on_commit = on_commit

    @classmethod
    def on(cls, conn: Any, dialect: Dialect = "sqlite") -> Tx:
        """A handle on a connection of its own, outside the store's writer (a script, a
        read-only walk in a thread): after-commit callbacks are called at once."""
        return cls(conn, dialect, lambda callback: callback())

    def all(self, q: Query, /, **params: Any) -> list[Row]:
        _check(q, params)
        return list(self._conn.execute(q.text(self.dialect), params).fetchall())

    def one(self, q: Query, /, **params: Any) -> Row | None:
        _check(q, params)
        row: Row | None = self._conn.execute(q.text(self.dialect), params).fetchone()
        return row

    def run(self, q: Query, /, **params: Any) -> int:
        """Run a statement; how many rows it changed."""
        _check(q, params)
        return int(self._conn.execute(q.text(self.dialect), params).rowcount)

    def insert(self, q: Query, /, **params: Any) -> int:
        """Run an `INSERT … RETURNING id`; the new row's id."""
        row = self.one(q, **params)
        if row is None:
            raise RuntimeError(f"the insert answered no id: {q.sqlite[:60]!r}")
        return int(row["id"])

    def many(self, q: Query, rows: Iterable[Mapping[str, Any]]) -> None:
        """Run one statement once per row of parameters."""
        rows = list(rows)
        for params in rows:
            _check(q, params)
        cursor = self._conn.cursor()
        try:
            cursor.executemany(q.text(self.dialect), rows)
        finally:
            cursor.close()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` once this transaction commits; never when it rolls back."""
        self._on_commit(callback)

    def execute(
        self, statement: str, params: Iterable[Any] | Mapping[str, Any] = ()
    ) -> sqlite3.Cursor:
        """SQLite's own statement with `?` parameters, for tests and scripts on SQLite (the
        package runs store queries only: tests/test_sql_in_store.py)."""
        if self.dialect != "sqlite":
            raise RuntimeError("raw SQLite statements run only on the SQLite backend")
        bound = params if isinstance(params, Mapping) else tuple(params)
        cursor: sqlite3.Cursor = self._conn.execute(statement, bound)
        return cursor

    def executemany(self, statement: str, rows: Iterable[Iterable[Any]]) -> sqlite3.Cursor:
        """As `execute`, once per row."""
        if self.dialect != "sqlite":
            raise RuntimeError("raw SQLite statements run only on the SQLite backend")
        cursor: sqlite3.Cursor = self._conn.executemany(statement, rows)
        return cursor


class Reads(Protocol):
    """What a read function of a store module takes: the store, or a snapshot of it."""

    dialect: Dialect

    async def all(self, q: Query, /, **params: Any) -> list[Row]: ...

    async def one(self, q: Query, /, **params: Any) -> Row | None: ...


class Reader(Reads, Protocol):
    """Reads inside one snapshot: each sees the database as it was when the snapshot began."""

    # SQLite's own statements with `?` parameters, for tests and scripts on SQLite
    def execute(self, statement: str, params: Iterable[Any] | Mapping[str, Any] = ()) -> Any: ...

    async def execute_fetchall(
        self, statement: str, params: Iterable[Any] | Mapping[str, Any] = ()
    ) -> Any: ...


class Store(Reads, Protocol):
    """A database: write transactions run whole, reads, and one consistent view for several."""

    backend: str  # "sqlite" or "postgresql", as /healthz names it

    async def write(self, fn: Callable[[Tx], T], *, priority: Priority = Priority.BULK) -> T: ...

    def snapshot(self) -> AbstractAsyncContextManager[Reader]: ...

    def exclusive(self, name: str) -> AbstractAsyncContextManager[bool]:
        """Whether this instance may run the job `name` now, for the block's length: on
        PostgreSQL while it holds the name's advisory lock (False: another instance runs
        it, skip), on SQLite always."""
        ...

    def on_notify(self, channel: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` on the event loop when any instance commits a NOTIFY on `channel`
        (PostgreSQL; SQLite: never, one process); returns what stops it."""
        ...

    def queued_writes(self) -> int: ...

    def info(self) -> dict[str, Any]:
        """The backend's name (`sqlite`, `postgresql`) and, where it has one, its pool."""
        ...

    async def close(self) -> None: ...

    async def schema_version(self) -> int: ...

    async def migrate(self, migrations: list[Migration] | None = None) -> list[int]: ...

    # SQLite's own statements with `?` parameters, for tests and scripts on SQLite (the
    # package reads and writes through store functions: tests/test_sql_in_store.py)
    async def fetchall(
        self, sql: str, params: Iterable[Any] | Mapping[str, Any] = ()
    ) -> list[sqlite3.Row]: ...

    async def fetchone(
        self, sql: str, params: Iterable[Any] | Mapping[str, Any] = ()
    ) -> sqlite3.Row | None: ...
