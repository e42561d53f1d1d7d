"""Every query of the store parses and names real tables and columns, on both dialects.

The queries are found by importing every module under approval_bot/store and collecting
the `Query` objects they hold at module level (directly, or in a tuple, list or dict). None
is run: SQLite compiles each (EXPLAIN) against a migrated database, PostgreSQL prepares each
(libpq's Parse, which also types every parameter) against a migrated database. A failure
names the query's module and name, the dialect, the database's error and the text.

A parameter PostgreSQL cannot type from its context (`SELECT :x`, `:x IS NULL`, `coalesce(:x,
…)` alone) fails with "could not determine data type of parameter $n": give it a cast in the
query's PostgreSQL text (`CAST(:x AS TEXT)` works on both).
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import approval_bot.store
from approval_bot.store import Query, opened, sql

Found = tuple[str, Query]  # "module.name", the query

_PARAMETER = re.compile(r"%\(([A-Za-z_][A-Za-z0-9_]*)\)s|%%")


def store_modules() -> list[str]:
    package = approval_bot.store
    return sorted(
        info.name for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}.")
    )


def _held(value: object) -> Iterator[tuple[str, Query]]:
    if isinstance(value, Query):
        yield "", value
    elif isinstance(value, (tuple, list)):
        for index, item in enumerate(value):
            if isinstance(item, Query):
                yield f"[{index}]", item
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, Query):
                yield f"[{key!r}]", item
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            if isinstance(item, Query):
                yield f".{field.name}", item


def store_queries() -> list[Found]:
    """Every module-level Query under approval_bot/store, each once, named where it is
    first found (a query imported by another module keeps its home's name when the home
    module sorts first; either name leads to it)."""
    found: list[Found] = []
    seen: set[int] = set()
    for name in store_modules():
        module = importlib.import_module(name)
        for attribute, value in sorted(vars(module).items()):
            for suffix, query in _held(value):
                if id(query) not in seen:
                    seen.add(id(query))
                    found.append((f"{name}.{attribute}{suffix}", query))
    return found


def numbered(text: str) -> str:
    """psycopg's `%(name)s` text with libpq's `$1, $2 …` (one number per name), as Parse
    takes it."""
    numbers: dict[str, int] = {}

    def swap(match: re.Match[str]) -> str:
        if match[0] == "%%":
            return "%"
        return f"${numbers.setdefault(match[1], len(numbers) + 1)}"

    return _PARAMETER.sub(swap, text)


def sqlite_errors(path: Path, queries: list[Found]) -> list[str]:
    errors = []
    with sqlite3.connect(path) as conn:
        for where, query in queries:
            params = dict.fromkeys(query.names)
            try:
                conn.execute(f"EXPLAIN {query.sqlite}", params).fetchall()
            except sqlite3.Error as error:
                errors.append(f"{where} on SQLite: {error}\n    {query.sqlite}")
    return errors


def postgres_errors(url: str, queries: list[Found]) -> list[str]:
    errors = []
    with psycopg.connect(url, autocommit=True) as conn:
        for where, query in queries:
            text = numbered(query.postgres)
            result = conn.pgconn.prepare(b"", text.encode())
            if result.status != psycopg.pq.ExecStatus.COMMAND_OK:
                message = (result.error_message or b"").decode(errors="replace").strip()
                errors.append(f"{where} on PostgreSQL: {message}\n    {text}")
    return errors


@pytest.fixture(scope="module")
def queries() -> list[Found]:
    return store_queries()


@pytest.mark.anyio
async def test_every_store_query_compiles_on_sqlite(queries: list[Found], db_path: Path):
    async with opened(db_path):
        pass
    errors = sqlite_errors(db_path, queries)
    assert not errors, f"{len(errors)} of {len(queries)} queries fail:\n" + "\n".join(errors)


def test_every_store_query_prepares_on_postgresql(queries: list[Found], pg_url: str):
    errors = postgres_errors(pg_url, queries)
    assert not errors, f"{len(errors)} of {len(queries)} queries fail:\n" + "\n".join(errors)


# the check itself: a broken query is caught, and named

BROKEN = [
    ("tests.broken.MISSING_COLUMN", sql("SELECT no_such_column FROM messages WHERE id = :id")),
    ("tests.broken.NOT_SQL", sql("SELEKT 1")),
]
FINE = [
    ("tests.fine.TYPED", sql("SELECT id FROM messages WHERE thread_id = :t AND body LIKE '%x'")),
    ("tests.fine.TWICE", sql("SELECT id FROM messages WHERE id = :a OR in_reply_to_id = :a")),
]


@pytest.mark.anyio
async def test_the_sqlite_check_names_the_broken_queries(db_path: Path):
    async with opened(db_path):
        pass
    errors = sqlite_errors(db_path, BROKEN + FINE)
    assert [e.split(" on ")[0] for e in errors] == [name for name, _ in BROKEN]
    assert "no such column: no_such_column" in errors[0]


def test_the_postgres_check_names_the_broken_queries(pg_url: str):
    untyped = [("tests.broken.UNTYPED", sql("SELECT :x IS NULL AS missing"))]
    errors = postgres_errors(pg_url, BROKEN + untyped + FINE)
    assert [e.split(" on ")[0] for e in errors] == [name for name, _ in BROKEN + untyped]
    assert 'column "no_such_column" does not exist' in errors[0]
    assert "could not determine data type of parameter $1" in errors[2]


def test_parameters_are_numbered_once_per_name():
    query = sql("SELECT :a, :b, :a, '100%'")
    assert numbered(query.postgres) == "SELECT $1, $2, $1, '100%'"


def test_the_collector_finds_queries_held_by_store_modules(monkeypatch: pytest.MonkeyPatch):
    home = importlib.import_module("approval_bot.store.sql")  # the module, not sql()
    monkeypatch.setattr(home, "PROBE", sql("SELECT 1"), raising=False)
    monkeypatch.setattr(home, "PROBES", {"one": sql("SELECT 2")}, raising=False)
    names = [name for name, _ in store_queries()]
    assert "approval_bot.store.sql.PROBE" in names
    assert "approval_bot.store.sql.PROBES['one']" in names
