"""One query text for both drivers: `:name` for sqlite3, `%(name)s` for psycopg."""

from __future__ import annotations

import sqlite3

import pytest
from psycopg._queries import PostgresQuery
from psycopg.adapt import Transformer

from approval_bot.store import sql


def test_parameters_become_psycopg_placeholders_and_literal_percents_are_doubled() -> None:
    q = sql("SELECT id FROM messages WHERE body LIKE '%' || :word || '%' AND thread_id = :thread")
    assert (
        q.sqlite
        == "SELECT id FROM messages WHERE body LIKE '%' || :word || '%' AND thread_id = :thread"
    )
    assert q.postgres == (
        "SELECT id FROM messages WHERE body LIKE '%%' || %(word)s || '%%'"
        " AND thread_id = %(thread)s"
    )
    assert q.names == {"word", "thread"}


def test_colons_inside_quotes_and_casts_are_not_parameters() -> None:
    q = sql("SELECT '12:30' AS at, \"odd:name\", value::text FROM t WHERE a = :a")
    assert q.names == {"a"}
    assert q.postgres == "SELECT '12:30' AS at, \"odd:name\", value::text FROM t WHERE a = %(a)s"


def test_psycopg_accepts_the_rewritten_text_with_its_parameters() -> None:
    # psycopg's own query parser, as it runs before sending: $1, $2 … in order of use
    q = sql("SELECT :a, '5%', :b, :a")
    parsed = PostgresQuery(Transformer())
    parsed.convert(q.postgres.encode(), {"a": 1, "b": 2})
    assert parsed.query == b"SELECT $1, '5%', $2, $1"


def test_sqlite_runs_the_portable_text_with_named_parameters() -> None:
    q = sql("SELECT :a + :b AS total, '10%' AS pct")
    row = sqlite3.connect(":memory:").execute(q.sqlite, {"a": 2, "b": 3}).fetchone()
    assert row == (5, "10%")


def test_a_postgresql_text_must_take_the_same_parameters() -> None:
    with pytest.raises(ValueError, match="PostgreSQL text takes"):
        sql("SELECT :a", postgres="SELECT %(b)s")
    with pytest.raises(ValueError, match="PostgreSQL text takes"):
        sql("SELECT :a", postgres="SELECT :a, :b")
    q = sql("SELECT strftime('%Y', :at)", postgres="SELECT to_char(:at::timestamptz, 'YYYY')")
    assert q.postgres == "SELECT to_char(%(at)s::timestamptz, 'YYYY')"
