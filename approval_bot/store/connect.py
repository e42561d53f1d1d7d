"""Which backend a database URL names, and opening it.

`DATABASE_URL` unset: the SQLite file at `APPROVAL_BOT_DATABASE` (as before); a
`sqlite:///path` URL: that SQLite file (`sqlite:////abs/path` for an absolute one); a
`postgresql://…` (or `postgres://…`) URL: that PostgreSQL database. Anything else is
refused with `UnknownDatabaseUrl` before anything is opened.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg

from .base import Store, Tx
from .postgres import PostgresStore, redact
from .sqlite import SqliteStore

Target = Path | str

# what either backend's driver raises when the database itself fails a statement (a
# locked or corrupt file, a role without the rights it needs): callers that report to a
# person catch these, so the message is the same whichever backend is in use
DRIVER_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, psycopg.Error)


class UnknownDatabaseUrl(ValueError):
    """A DATABASE_URL whose scheme names no backend approval-bot has."""


def backend_of(target: Target) -> tuple[str, Path | str]:
    """("sqlite", path) or ("postgresql", url) for a path or a database URL."""
    if isinstance(target, Path):
        return "sqlite", target
    if "://" not in target:
        return "sqlite", Path(target)  # a plain path, as APPROVAL_BOT_DATABASE takes it
    scheme = urlsplit(target).scheme.lower()
    if scheme == "sqlite":
        path = unquote(target.split("://", 1)[1])
        if not path.startswith("/") or path == "/":
            raise UnknownDatabaseUrl(
                f"a SQLite URL is sqlite:///relative/path or sqlite:////absolute/path, "
                f"not {target!r}"
            )
        return "sqlite", Path(path[1:])
    if scheme in ("postgresql", "postgres"):
        return "postgresql", target
    raise UnknownDatabaseUrl(
        f"DATABASE_URL {redact(target)!r}: unknown scheme {scheme!r}; "
        "use sqlite:///path or postgresql://user:password@host:port/dbname"
    )


async def open_store(target: Target) -> Store:
    """Open (not migrate) the database `target` names: a path or a database URL."""
    backend, where = backend_of(target)
    if backend == "sqlite":
        return await SqliteStore.open(Path(where))
    return await PostgresStore.open(str(where))


@asynccontextmanager
async def opened(target: Target, *, migrate: bool = True) -> AsyncIterator[Store]:
    """The database `target` names, migrated to the latest schema, closed afterwards."""
    db = await open_store(target)
    try:
        if migrate:
            await db.migrate()
        yield db
    finally:
        await db.close()


@contextmanager
def walk_connection(db: Store) -> Iterator[Tx]:
    """A read-only connection to `db` of its own, for a long walk on a thread of its own
    (hashing a million audit rows must hold neither the event loop nor the app's readers).

    Its reads are one snapshot, so the rows and the chain's head are read at one moment.
    """
    if isinstance(db, PostgresStore):
        with db.walk_connection() as tx:
            yield tx
        return
    assert isinstance(db, SqliteStore), db
    conn = sqlite3.connect(f"file:{db.path}?mode=ro", uri=True)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("BEGIN")  # one read transaction: its first read fixes the snapshot
        yield Tx.on(conn)
    finally:
        conn.close()
