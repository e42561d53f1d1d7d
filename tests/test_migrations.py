"""Numbered migrations: applied in order with their record, once, and never backwards."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from approval_bot.store import (
    Migration,
    SchemaTooNew,
    SqliteStore,
    Tx,
    add_functions,
    load_migrations,
    split_statements,
)

pytestmark = pytest.mark.anyio

TABLES = {
    "messages",
    "approvals",
    "audit_log",
    "thread_controls",
    "conversations",
    "reviewers",
    "directives",
    "webhook_events",
    "notifications",
    "api_tokens",
    "schema_migrations",
}


async def test_a_fresh_database_is_migrated_to_the_latest(db_path):
    db = await SqliteStore.open(db_path)
    try:
        applied = await db.migrate()
        assert applied == [m.version for m in load_migrations()]
        assert await db.schema_version() == len(load_migrations())
        rows = await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
        assert TABLES <= {row["name"] for row in rows}
        journal = await db.fetchone("PRAGMA journal_mode")
        assert journal is not None and journal[0] == "wal"
        foreign_keys = await db.fetchone("PRAGMA foreign_keys")
        assert foreign_keys is not None and foreign_keys[0] == 1
    finally:
        await db.close()


async def test_running_migrations_again_changes_nothing(db, db_path):
    before = await db.fetchall("SELECT * FROM schema_migrations")
    assert await db.migrate() == []
    assert [tuple(r) for r in await db.fetchall("SELECT * FROM schema_migrations")] == [
        tuple(r) for r in before
    ]


async def test_a_newer_database_is_refused(db, db_path):
    newest = len(load_migrations())

    def change(conn: Tx) -> Any:
        conn.execute(
            "INSERT INTO schema_migrations VALUES (?, 'from_the_future', '2030-01-01')",
            (newest + 1,),
        )

    await db.write(change)
    with pytest.raises(SchemaTooNew) as error:
        await db.migrate()
    assert f"version {newest + 1}" in str(error.value)
    assert "newer" in str(error.value)


async def test_a_failing_migration_leaves_no_trace(db_path):
    broken = [
        *load_migrations(),
        Migration(
            len(load_migrations()) + 1,
            "broken",
            "CREATE TABLE half (id INTEGER);\nINSERT INTO no_such_table VALUES (1);\n",
        ),
    ]
    db = await SqliteStore.open(db_path)
    try:
        with pytest.raises(sqlite3.OperationalError):
            await db.migrate(broken)
        assert await db.schema_version() == len(load_migrations())
        assert await db.fetchone("SELECT 1 FROM sqlite_master WHERE name = 'half'") is None
    finally:
        await db.close()


@pytest.mark.parametrize(
    ("table", "values"),
    [
        ("messages", "status = 'LOST'"),
        ("messages", "type = 'SPAM'"),
        ("messages", "channel = 'fax'"),
        ("messages", "delivery_status = 'teleported'"),
        ("messages", "sentiment = 'SMUG'"),
        ("messages", "media = 'not json'"),
        ("conversations", "state = 'SLEEPING'"),
        ("conversations", "sentiment = 'SMUG'"),
        ("reviewers", "role = 'owner'"),
        ("reviewers", "phone = '4155550100'"),
        ("approvals", "action = 'MAYBE'"),
        ("approvals", "channel = 'fax'"),
        ("audit_log", "actor = 'Robot'"),
        ("notifications", "status = 'LOST'"),
        ("thread_controls", "pause_kind = 'whim'"),
        ("messages", "sender_role = 'robot'"),
        ("messages", "mode = 'spam'"),
        ("messages", "understanding = 'not json'"),
        ("conversations", "appointment_status = 'MAYBE'"),
        ("conversations", "facts = '[1, 2]'"),
        ("conversations", "soft_no_count = -1"),
        ("conversations", "contact_count = 0"),
        ("templates", "channel = 'fax'"),
        ("templates", "key = 'Greeting!'"),
        ("templates", "content_sid = 'MG00000000000000000000000000000000'"),
        ("auto_replies", "trigger = 'whim'"),
        ("messages", "content_variables = 'not json'"),
        ("reviewers", "backup = 2"),
        ("review_clocks", "step = 'whim'"),
        ("review_clocks", "outcome = 'MAYBE'"),
        ("review_step_days", "step = 'whim'"),
    ],
)
def test_every_enum_column_has_its_check(db_path, table, values):
    column, value = (part.strip() for part in values.split("="))
    migrations = load_migrations()
    with sqlite3.connect(":memory:") as conn:
        add_functions(conn)
        for migration in migrations:
            for statement in split_statements(migration.sql):
                conn.execute(statement)
        conn.commit()  # a migration's INSERT opened a transaction: keep the schema it built
        info = conn.execute(f"SELECT sql FROM sqlite_master WHERE name = '{table}'").fetchone()
        assert column in info[0]
        conn.execute("PRAGMA foreign_keys = OFF")
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
        insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({{}})"
        conn.execute(insert.format(", ".join(_sample(table, c) for c in columns)))
        conn.rollback()  # the valid row went in: only the column under test can fail below
        invalid = ", ".join(value if c == column else _sample(table, c) for c in columns)
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute(insert.format(invalid))


def _sample(table: str, column: str) -> str:
    """A valid value for each column, so only the column under test can fail its check."""
    valid = {
        "status": "'RECEIVED'" if table == "messages" else "'PENDING'",
        "type": "'INBOUND'",
        "channel": "'sms'",
        "media": "'[]'",
        "state": "'ACTIVE'",
        "sentiment": "'UNKNOWN'",
        "role": "'reviewer'",
        "step": "'reminded'",
        "next_step": "NULL",
        "outcome": "NULL",
        "contact": "1",
        "started_at": "'2026-01-01'",
        "due_at": "'2026-01-01'",
        "urgency": "'1'",
        "phone": "'+14155550100'",
        "action": "'APPROVE'",
        "actor": "'System'",
        "metadata": "'{}'",
        "prev_hash": "'" + "0" * 64 + "'",
        "hash": "'" + "1" * 64 + "'",
        "notify_sms": "1",
        "backup": "0",
        "active": "1",
        "opted_out": "0",
        "sms_opted_out": "0",
        "quiet_start": "NULL",
        "quiet_end": "NULL",
        "time_zone": "'UTC'",
        "draft_version": "1",
        "send_attempts": "0",
        "paused": "0",
        "pause_kind": "NULL",
        "id": "'x'" if table == "messages" else "NULL",
        "draft_meta": "NULL",
        "delivery_status": "NULL",
        "actor_id": "NULL",
        "in_reply_to_id": "NULL",
        "superseded_by": "NULL",
        "reviewer_id": "1",
        "draft_id": "'x'",
        "understanding": "NULL",
        "sender_role": "'customer'",
        "mode": "'reply'",
        "appointment_status": "'NONE'",
        "appointment_at": "NULL",
        "facts": "'{}'",
        "soft_no_count": "0",
        "confusion_count": "0",
        "contact_count": "1",
        "content_sid": "NULL",
        "content_variables": "NULL",
        "trigger": "'help'",
        "body": "'x'" if table != "templates" else "'Hello'",
        "key": "'greeting_2'",
        "variables": "'[]'",
        "pre_approved_by": "NULL",
        "pre_approved_at": "NULL",
        "pre_approved_hash": "NULL",
        "updated_by": "NULL",
    }
    return valid.get(column, "'x'")


def test_split_statements_keeps_trigger_bodies_whole():
    script = """
    CREATE TABLE t (a);
    -- a comment
    CREATE TRIGGER t_guard BEFORE DELETE ON t
    BEGIN
        SELECT RAISE(ABORT, 'no; never');
    END;
    INSERT INTO t VALUES ('a;b');
    """
    statements = split_statements(script)
    assert len(statements) == 3
    assert statements[1].endswith("END;")


def test_split_statements_refuses_a_cut_off_script():
    with pytest.raises(ValueError, match="incomplete"):
        split_statements("CREATE TABLE t (a);\nINSERT INTO t VALUES (1)")


async def test_0011_gives_existing_messages_a_role_and_a_mode_and_keeps_pauses(db_path):
    """Rows written before the understanding migration: roles and modes from their type and
    draft metadata; an edited version keeps its predecessor's mode; pauses survive the
    thread_controls rebuild; conversations start at contact 1 with empty facts."""
    migrations = load_migrations()
    (understanding,) = [m for m in migrations if m.name == "understanding"]
    db = await SqliteStore.open(db_path)
    try:
        await db.migrate([m for m in migrations if m.version < understanding.version])

        def seed(conn: Tx) -> None:
            now = "2026-01-01T00:00:00+00:00"
            conn.execute(
                "INSERT INTO conversations (thread_id, last_activity_at, created_at)"
                " VALUES ('+1415', ?, ?)",
                (now, now),
            )
            conn.execute(
                "INSERT INTO thread_controls (thread_id, paused, paused_reason, last_updated,"
                " pause_kind) VALUES ('+1415', 1, 'opt-out', ?, 'opt_out')",
                (now,),
            )
            rows = [
                ("in", "INBOUND", None),
                ("call", "DRAFT", '{"intent": "missed_call"}'),
                ("book", "DRAFT", '{"intent": "booking"}'),
                ("book2", "DRAFT", None),  # a reviewer's edit of "book"
                ("own", "OUTBOUND", None),
            ]
            for message_id, type_, meta in rows:
                conn.execute(
                    "INSERT INTO messages (id, thread_id, sender, receiver, body, status, type,"
                    " timestamp, draft_meta, superseded_by, updated_at)"
                    " VALUES (?, '+1415', 'a', 'b', 'x', 'SENT', ?, ?, ?, NULL, ?)",
                    (message_id, type_, now, meta, now),
                )
            conn.execute("UPDATE messages SET superseded_by = 'book2' WHERE id = 'book'")

        await db.write(seed)
        await db.migrate()
        found = {
            row["id"]: (row["sender_role"], row["mode"])
            for row in await db.fetchall("SELECT id, sender_role, mode FROM messages")
        }
        assert found == {
            "in": ("customer", "reply"),
            "call": ("bot", "missed_call"),
            "book": ("bot", "appointment"),
            "book2": ("human", "appointment"),
            "own": ("human", "manual"),
        }
        controls = await db.fetchone("SELECT paused, pause_kind FROM thread_controls")
        assert controls is not None and tuple(controls) == (1, "opt_out")
        conversation = await db.fetchone(
            "SELECT contact_count, facts, appointment_status, soft_no_count FROM conversations"
        )
        assert conversation is not None and tuple(conversation) == (1, "{}", "NONE", 0)
    finally:
        await db.close()


async def test_0017_settles_the_needs_reply_texts_already_answered_or_dismissed(db_path):
    """Texts waiting for a written reply before the migration: answered by a reply made and
    sent after them, or dismissed, they are settled; one still waiting, or whose later reply
    has not gone out yet, stays open."""
    migrations = load_migrations()
    (settled,) = [m for m in migrations if m.name == "settled_texts"]
    db = await SqliteStore.open(db_path)
    try:
        await db.migrate([m for m in migrations if m.version < settled.version])

        def seed(conn: Tx) -> None:
            for thread in ("+1", "+2", "+3", "+4"):
                conn.execute(
                    "INSERT INTO conversations (thread_id, last_activity_at, created_at)"
                    " VALUES (?, 't', 't')",
                    (thread,),
                )
            rows = [
                ("answered", "+1", "INBOUND", "NEEDS_REVIEW", "2026-01-01T10:00"),
                ("reply", "+1", "OUTBOUND", "SENT", "2026-01-01T10:05"),
                ("dismissed", "+2", "INBOUND", "NEEDS_REVIEW", "2026-01-01T10:00"),
                ("waiting", "+3", "INBOUND", "NEEDS_REVIEW", "2026-01-01T10:00"),
                ("older", "+3", "OUTBOUND", "SENT", "2026-01-01T09:00"),
                ("queued", "+4", "INBOUND", "NEEDS_REVIEW", "2026-01-01T10:00"),
                ("unsent", "+4", "OUTBOUND", "APPROVED_TO_SEND", "2026-01-01T10:05"),
            ]
            for message_id, thread, type_, status, at in rows:
                conn.execute(
                    "INSERT INTO messages (id, thread_id, sender, receiver, body, status, type,"
                    " timestamp, updated_at) VALUES (?, ?, 'a', 'b', 'x', ?, ?, ?, ?)",
                    (message_id, thread, status, type_, at, at),
                )
            conn.execute(
                "INSERT INTO dismissals (message_id, reason, created_at)"
                " VALUES ('dismissed', 'spam', 't')"
            )

        await db.write(seed)
        await db.migrate()
        found = {
            row["id"]: row["settled_at"] is not None
            for row in await db.fetchall(
                "SELECT id, settled_at FROM messages WHERE type = 'INBOUND'"
            )
        }
        assert found == {"answered": True, "dismissed": True, "waiting": False, "queued": False}
    finally:
        await db.close()


async def test_unique_codes_keep_the_latest_row_of_a_code_issued_twice(db_path):
    """Before unique_draft_codes a code could be issued twice (two instances at once, or
    reuse after the quiet period); a reviewer's text named the latest, so that row is kept."""
    migrations = load_migrations()
    (unique,) = [m for m in migrations if m.name == "unique_draft_codes"]
    db = await SqliteStore.open(db_path)
    try:
        await db.migrate([m for m in migrations if m.version < unique.version])

        def seed(conn: Tx) -> None:
            conn.execute(
                "INSERT INTO conversations (thread_id, last_activity_at, created_at)"
                " VALUES ('+1', 't', 't')"
            )
            for message_id, code, at in (
                ("old", "AAAA", "2026-01-01T10:00"),
                ("new", "AAAA", "2026-02-01T10:00"),
                ("other", "BBBB", "2026-01-01T10:00"),
            ):
                conn.execute(
                    "INSERT INTO messages (id, thread_id, sender, receiver, body, status,"
                    " type, timestamp, updated_at)"
                    " VALUES (?, '+1', 'a', 'b', 'x', 'SENT', 'DRAFT', ?, ?)",
                    (message_id, at, at),
                )
                conn.execute(
                    "INSERT INTO draft_codes (code, message_id, issued_at) VALUES (?, ?, ?)",
                    (code, message_id, at),
                )

        await db.write(seed)
        await db.migrate()
        rows = await db.fetchall("SELECT code, message_id FROM draft_codes ORDER BY code")
        assert [tuple(row) for row in rows] == [("AAAA", "new"), ("BBBB", "other")]
    finally:
        await db.close()
