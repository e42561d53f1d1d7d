"""The store: every SQL statement of approval-bot, and the backends that run them.

`base` says what a backend offers (`Store`, `Tx`, `Reader`, `Priority`), `sql` how a query is
written once for both dialects, `sqlite` is the embedded backend and `postgres` the server
one, `connect` picks one from a path or a DATABASE_URL (`opened`, `open_store`), `hooks`
holds what a write transaction leaves for after its COMMIT, `migrate` the schema's
numbered history.
"""

from .base import Priority, Reader, Reads, Row, Store, Tx
from .connect import DRIVER_ERRORS, UnknownDatabaseUrl, backend_of, open_store, opened
from .hooks import at_transaction_end, call_after_commit, log_after_commit
from .migrate import Migration, SchemaTooNew, load_migrations
from .postgres import DatabaseUnavailable, PostgresStore
from .sql import Query, sql
from .sqlite import SqliteStore, add_functions, split_statements

__all__ = [
    "DRIVER_ERRORS",
    "DatabaseUnavailable",
    "PostgresStore",
    "UnknownDatabaseUrl",
    "backend_of",
    "open_store",
    "Migration",
    "Priority",
    "Query",
    "Reader",
    "Reads",
    "Row",
    "SchemaTooNew",
    "SqliteStore",
    "Store",
    "Tx",
    "add_functions",
    "at_transaction_end",
    "call_after_commit",
    "load_migrations",
    "log_after_commit",
    "opened",
    "split_statements",
    "sql",
]
