"""`approval-bot db copy`: a whole SQLite database into an empty PostgreSQL one.

The target is migrated to the latest schema first (a fresh database needs nothing else) and
must hold no rows but the ones its migrations wrote (the built-in texts). The source must be
at the schema version this approval-bot knows (start it once, or run `init-db`, to migrate
it). Every table is copied in one transaction, in foreign-key order (a self-reference, as a
draft's `superseded_by`, is filled in after its table's rows), the identity sequences are
moved past the copied ids (and past SQLite's highest id ever handed out), the audit chain's
head is moved to the source's (so `audit verify` still sees a deleted tail), and the audit
chain is walked on the target before the COMMIT: a copy with a broken chain, or with a
count that differs, leaves the target as it was.

PostgreSQL's text columns cannot hold a NUL character, which SQLite stores (texts written
before the edges refused it): each NUL is copied as U+FFFD, the replacement character, so
the rest of the text is kept, and the values changed are counted per column.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql as pgsql
from psycopg.rows import dict_row

from ..audit import GENESIS_HASH, row_hash
from .migrate import load_migrations
from .postgres import PostgresUrl, migrate_connection

# tables a copy leaves alone: the migration history (the target has its own), SQLite's own
SKIPPED = {"schema_migrations", "sqlite_sequence", "sqlite_stat1", "sqlite_stat4"}
# rows PostgreSQL's migrations write themselves: replaced by the source's
SEEDED = {"templates"}
# the audit chain's head (one row, which its triggers keep and move only forward): moved
# to the source's, not copied
HEAD = "audit_chain"
# what a NUL character, which PostgreSQL's text columns refuse, is copied as
NUL, REPLACEMENT = "\x00", "\ufffd"


class CopyRefused(Exception):
    """The copy was not made: the message says why; the target is unchanged."""


@dataclass(frozen=True)
class Copied:
    counts: dict[str, int]  # rows per table, in the order copied
    audit_rows: int
    # "table.column": how many of its values held a NUL, copied as U+FFFD
    replaced: dict[str, int] = field(default_factory=dict)


def _source_tables(source: sqlite3.Connection) -> list[str]:
    names = [
        row[0]
        for row in source.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        )
    ]
    return [name for name in names if name not in SKIPPED]


def _references(source: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    """(referenced table, column) for each foreign key of `table`."""
    return [(row[2], row[3]) for row in source.execute(f'PRAGMA foreign_key_list("{table}")')]


def foreign_key_order(source: sqlite3.Connection, tables: Iterable[str]) -> list[str]:
    """The tables, each after every table it references (self-references aside)."""
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for table in sorted(tables):
        sorter.add(table, *{ref for ref, _ in _references(source, table) if ref != table})
    try:
        return list(sorter.static_order())
    except CycleError as error:
        raise CopyRefused(f"the tables' foreign keys form a cycle: {error.args[1]}") from None


def _columns(target: psycopg.Connection[Any], table: str) -> list[str]:
    rows = target.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [row["column_name"] for row in rows]


def _identity(target: psycopg.Connection[Any], table: str) -> str | None:
    row = target.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s AND is_identity = 'YES'",
        (table,),
    ).fetchone()
    return row["column_name"] if row else None


def _check_empty(target: psycopg.Connection[Any], tables: list[str]) -> None:
    full = []
    for table in tables:
        query = pgsql.SQL("SELECT count(*) AS n FROM {}").format(pgsql.Identifier(table))
        row = target.execute(query).fetchone()
        if table in SEEDED:
            row = target.execute(
                "SELECT count(*) AS n FROM templates "
                "WHERE updated_by IS NOT NULL OR pre_approved_by IS NOT NULL"
            ).fetchone()
        if table == HEAD:
            row = target.execute(
                "SELECT count(*) AS n FROM audit_chain WHERE last_id > 0"
            ).fetchone()
        if row and row["n"]:
            full.append(f"{table} ({row['n']} rows)")
    if full:
        raise CopyRefused(f"the target database is not empty: {', '.join(full)}")


def _source_version(source: sqlite3.Connection) -> int:
    known = source.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if not known:
        return 0
    row = source.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0


def _highest_ids(source: sqlite3.Connection) -> dict[str, int]:
    known = source.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
    ).fetchone()
    if not known:
        return {}
    return {name: int(seq) for name, seq in source.execute("SELECT name, seq FROM sqlite_sequence")}


def _verify_audit(target: psycopg.Connection[Any]) -> int:
    expected_prev, expected_id = GENESIS_HASH, 1
    with target.cursor(name="audit_walk") as cursor:  # server-side: rows a batch at a time
        cursor.execute("SELECT * FROM audit_log ORDER BY id")
        for row in cursor:
            if row["id"] != expected_id:
                raise CopyRefused(f"audit log broken after the copy: row {expected_id} is missing")
            if row["prev_hash"] != expected_prev or row_hash(row) != row["hash"]:
                raise CopyRefused(f"audit log broken after the copy at row {row['id']}")
            expected_prev, expected_id = row["hash"], expected_id + 1
    return expected_id - 1


def copy_database(source_path: Path, target_url: str) -> Copied:
    """Copy the SQLite database at `source_path` into the PostgreSQL one at `target_url`."""
    if not source_path.is_file():
        raise CopyRefused(f"no SQLite database at {source_path}")
    latest = len(load_migrations())
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    try:
        version = _source_version(source)
        if version != latest:
            raise CopyRefused(
                f"the source is at schema version {version}, this approval-bot at {latest}: "
                "migrate it first (run `approval-bot init-db` with it)"
            )
        tables = foreign_key_order(source, _source_tables(source))
        highest = _highest_ids(source)
        conninfo = PostgresUrl.parse(target_url).conninfo
        with psycopg.connect(conninfo, autocommit=True, row_factory=dict_row) as target:
            migrate_connection(target)
            with target.transaction():
                target.execute("LOCK TABLE schema_migrations IN EXCLUSIVE MODE")  # one copy
                _check_empty(target, tables)
                target.execute("DELETE FROM templates")  # the migrations' built-in texts
                replaced: dict[str, int] = {}
                counts = {
                    t: _copy_head(source, target)
                    if t == HEAD
                    else _copy_table(source, target, t, highest.get(t, 0), replaced)
                    for t in tables
                }
                audit_rows = _verify_audit(target)
        return Copied(counts, audit_rows, replaced)
    finally:
        source.close()


def _copy_head(source: sqlite3.Connection, target: psycopg.Connection[Any]) -> int:
    """The target's chain head (last id 0, as its migration left it) moved to the source's."""
    rows = source.execute("SELECT last_id, last_hash FROM audit_chain").fetchall()
    for last_id, last_hash in rows:
        if last_id > 0:
            target.execute(
                "UPDATE audit_chain SET last_id = %s, last_hash = %s WHERE id = 1",
                (last_id, last_hash),
            )
    return len(rows)


def _without_nul(
    row: tuple[Any, ...], table: str, columns: list[str], replaced: dict[str, int]
) -> tuple[Any, ...]:
    """`row` with each NUL in its text values as U+FFFD, counted in `replaced`."""
    if not any(isinstance(value, str) and NUL in value for value in row):
        return row
    kept = []
    for column, value in zip(columns, row, strict=True):
        if isinstance(value, str) and NUL in value:
            key = f"{table}.{column}"
            replaced[key] = replaced.get(key, 0) + 1
            value = value.replace(NUL, REPLACEMENT)
        kept.append(value)
    return tuple(kept)


def _copy_table(
    source: sqlite3.Connection,
    target: psycopg.Connection[Any],
    table: str,
    highest: int,
    replaced: dict[str, int],
) -> int:
    columns = _columns(target, table)
    if not columns:
        raise CopyRefused(f"the target has no table {table}: is it migrated by this version?")
    source_columns = [row[1] for row in source.execute(f'PRAGMA table_info("{table}")')]
    if source_columns != columns:
        raise CopyRefused(f"{table}'s columns differ: {source_columns} here, {columns} there")
    own = sorted({column for ref, column in _references(source, table) if ref == table})
    selected = ", ".join("NULL" if c in own else f'"{c}"' for c in columns)
    count = 0
    copy = pgsql.SQL("COPY {} ({}) FROM STDIN").format(
        pgsql.Identifier(table), pgsql.SQL(", ").join(map(pgsql.Identifier, columns))
    )
    with target.cursor().copy(copy) as writer:
        for row in source.execute(f'SELECT {selected} FROM "{table}"'):  # noqa: S608
            writer.write_row(_without_nul(row, table, columns, replaced))
            count += 1
    if own:  # self-references, once every row of the table is there
        key = _primary_key(source, table)
        assignments = ", ".join(f"{c} = %({c})s" for c in own)
        rows = source.execute(
            f'SELECT "{key}", {", ".join(own)} FROM "{table}" '  # noqa: S608
            f"WHERE {' OR '.join(f'{c} IS NOT NULL' for c in own)}"
        ).fetchall()
        with target.cursor() as cursor:
            cursor.executemany(
                f'UPDATE "{table}" SET {assignments} WHERE "{key}" = %(key)s',
                [{"key": r[0], **dict(zip(own, r[1:], strict=True))} for r in rows],
            )
    identity = _identity(target, table)
    if identity is not None:
        query = pgsql.SQL("SELECT coalesce(max({}), 0) AS n FROM {}").format(
            pgsql.Identifier(identity), pgsql.Identifier(table)
        )
        row = target.execute(query).fetchone()
        last = max(int(row["n"]) if row else 0, highest)
        if last > 0:
            target.execute(
                "SELECT setval(pg_get_serial_sequence(%s, %s), %s)", (table, identity, last)
            )
    return count


def _primary_key(source: sqlite3.Connection, table: str) -> str:
    keys = [row[1] for row in source.execute(f'PRAGMA table_info("{table}")') if row[5] == 1]
    if len(keys) != 1:
        raise CopyRefused(f"{table} references itself but has no one-column primary key")
    return str(keys[0])
