"""The audit chain's checkpoint: a walk after a restart reads only the rows added since.

Each test runs the app, stops it and starts it again on the same database, as a restart
does; tampering is what someone with the file (or the database's owner) could do (drop the
guard, update).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row
from starlette.testclient import TestClient

from approval_bot import audit, cli
from approval_bot.app import create_app
from approval_bot.audit import AuditEvent
from approval_bot.config import Settings
from approval_bot.models import Role
from approval_bot.store import Tx
from approval_bot.store.views import audit as audit_views
from approval_bot.web.audit_pages import ChainStatus
from tests.builders import make_inbound
from tests.settings_env import clear_settings
from tests.webclient import Web

pytestmark = pytest.mark.both_backends


@contextmanager
def running(make_settings: Callable[..., Settings]) -> Iterator[Web]:
    """The app started on the test's database file, with Boss (an admin) signed in."""
    with TestClient(create_app(make_settings()), base_url="http://127.0.0.1:8000") as client:
        web = Web(client)
        if not web.rows("SELECT 1 FROM reviewers WHERE name = 'Boss'"):
            web.reviewer("Boss", role=Role.ADMIN)
        web.sign_in("Boss")
        yield web


def chain(web: Web) -> ChainStatus:
    status: ChainStatus = web.client.app.state.audit_chain  # type: ignore[attr-defined]
    return status


def sql(target: str | Path, statement: str) -> list[tuple[object, ...]]:
    """A statement on the driver's own connection to the test's database, outside the app."""
    if isinstance(target, Path):
        with closing(sqlite3.connect(target, isolation_level=None)) as conn:
            return conn.execute(statement).fetchall()
    with psycopg.connect(target, autocommit=True) as pg:
        cursor = pg.execute(statement)
        return list(cursor.fetchall()) if cursor.description else []


def tamper(target: str | Path, row_id: int) -> None:
    on = "" if isinstance(target, Path) else " ON audit_log"
    sql(target, f"DROP TRIGGER IF EXISTS audit_log_no_update{on}")
    sql(target, f'UPDATE audit_log SET metadata = \'{{"to":"SENT"}}\' WHERE id = {row_id}')


def checkpoint(database_target: str | Path) -> list[tuple[object, ...]]:
    return sql(database_target, "SELECT last_id, last_hash FROM audit_checkpoint")


def last_row(database_target: str | Path) -> tuple[object, ...]:
    return sql(database_target, "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")[0]


def fill(web: Web, *numbers: str) -> None:
    for number in numbers:
        web.call(make_inbound, web.db, number)


def test_a_walk_after_a_restart_reads_only_the_rows_added_since(make_settings, database_target):
    with running(make_settings) as web:
        fill(web, "+14155550101", "+14155550102", "+14155550103")
        assert "Hash chain verified" in web.client.get("/audit").text
    assert checkpoint(database_target) == [last_row(database_target)]
    (verified, _), total_before = checkpoint(database_target)[0], last_row(database_target)[0]
    assert verified == total_before

    with running(make_settings) as web:
        fill(web, "+14155550104")
        page = web.client.get("/audit").text
        total = int(last_row(database_target)[0])  # type: ignore[call-overload]
        assert f"Hash chain verified: {total} rows intact" in page
        assert f"rows 1 to {verified} by an earlier walk" in page
        # the checkpoint's own row, to see it unchanged, and each row added since
        assert chain(web).read == 1 + total - int(verified)  # type: ignore[call-overload]
    assert checkpoint(database_target) == [last_row(database_target)]


def test_a_tampered_row_after_the_checkpoint_is_found(make_settings, database_target):
    with running(make_settings) as web:
        fill(web, "+14155550101")
        web.client.get("/audit")
    before = checkpoint(database_target)
    (verified, _) = before[0]

    with running(make_settings) as web:
        fill(web, "+14155550102", "+14155550103")
        tamper(database_target, int(verified) + 2)  # type: ignore[call-overload]
        page = web.client.get("/audit").text
        assert f"Hash chain broken at row {int(verified) + 2}" in page  # type: ignore[call-overload]
    assert checkpoint(database_target) == before  # never moved past the broken row


def test_a_tampered_checkpoint_row_is_found(make_settings, database_target):
    with running(make_settings) as web:
        fill(web, "+14155550101")
        web.client.get("/audit")
    (verified, _) = checkpoint(database_target)[0]
    tamper(database_target, int(verified))  # type: ignore[call-overload]

    with running(make_settings) as web:
        page = web.client.get("/audit").text
        assert f"Hash chain broken at row {verified}" in page
    assert (
        checkpoint(database_target) == []
    )  # nothing is vouched for: the next walk starts at row 1


def test_a_tampered_row_before_the_checkpoint_takes_a_walk_from_the_start(
    make_settings, database_target, db_path, monkeypatch, capsys
):
    with running(make_settings) as web:
        fill(web, "+14155550101", "+14155550102")
        web.client.get("/audit")
    tamper(database_target, 3)

    with running(make_settings) as web:
        # the resumed walk starts after the checkpoint: it cannot see row 3 (see README)
        assert "Hash chain verified" in web.client.get("/audit").text
        assert "Hash chain broken at row 3" in web.client.get("/audit?verify=full").text
    # pulled back to the last intact row, so a restart finds the break again
    assert checkpoint(database_target) == sql(
        database_target, "SELECT id, hash FROM audit_log WHERE id = 2"
    )

    clear_settings(monkeypatch)
    monkeypatch.setenv("APPROVAL_BOT_DATABASE", str(db_path))
    if isinstance(database_target, str):
        monkeypatch.setenv("DATABASE_URL", database_target)
    assert cli.main(["audit", "verify"]) == 1
    assert "audit log broken at row 3" in capsys.readouterr().err


def test_audit_verify_walks_from_the_start_and_refreshes_the_checkpoint(
    make_settings, database_target, db_path, monkeypatch, capsys
):
    with running(make_settings) as web:
        fill(web, "+14155550101")
        web.client.get("/audit")
        fill(web, "+14155550102")
    tamper(database_target, 2)
    clear_settings(monkeypatch)
    monkeypatch.setenv("APPROVAL_BOT_DATABASE", str(db_path))
    if isinstance(database_target, str):
        monkeypatch.setenv("DATABASE_URL", database_target)

    assert cli.main(["audit", "verify"]) == 1
    assert "audit log broken at row 2" in capsys.readouterr().err
    assert checkpoint(database_target) == sql(
        database_target, "SELECT id, hash FROM audit_log WHERE id = 1"
    )


@pytest.mark.parametrize("rows", [0, 1])
def test_an_intact_audit_verify_moves_the_checkpoint_to_the_last_row(
    make_settings, database_target, db_path, monkeypatch, capsys, rows
):
    with running(make_settings) as web:
        fill(web, *[f"+1415555010{n}" for n in range(rows)])
    clear_settings(monkeypatch)
    monkeypatch.setenv("APPROVAL_BOT_DATABASE", str(db_path))
    if isinstance(database_target, str):
        monkeypatch.setenv("DATABASE_URL", database_target)

    assert cli.main(["audit", "verify"]) == 0
    assert "hash chain intact" in capsys.readouterr().out
    assert checkpoint(database_target) == [last_row(database_target)]


def forge(target: str | Path, row_id: int, sets: str) -> None:
    """Change a row and give it the hash of its new contents, as someone who knows the
    hashing could: only the chain's head still holds the hash it was appended with."""
    on = "" if isinstance(target, Path) else " ON audit_log"
    sql(target, f"DROP TRIGGER IF EXISTS audit_log_no_update{on}")
    sql(target, f"UPDATE audit_log SET {sets} WHERE id = {row_id}")
    columns = "id, event, actor, actor_id, thread_id, message_id, metadata, timestamp, prev_hash"
    (values,) = sql(target, f"SELECT {columns} FROM audit_log WHERE id = {row_id}")
    forged = audit.row_hash(dict(zip(columns.split(", "), values, strict=True)))
    sql(target, f"UPDATE audit_log SET hash = '{forged}' WHERE id = {row_id}")


def insert_past_the_head(target: str | Path) -> int:
    """A row chained after the last one but appended behind the head's back; its id."""
    (last_id, last_hash) = last_row(target)
    row = {
        "id": int(last_id),  # type: ignore[call-overload]
        "event": "Approved",
        "actor": "System",
        "actor_id": None,
        "thread_id": None,
        "message_id": None,
        "metadata": "{}",
        "timestamp": "2026-01-01T00:00:00+00:00",
        "prev_hash": last_hash,
    }
    row["id"] += 1
    hashed = audit.row_hash(row)
    sql(
        target,
        "INSERT INTO audit_log (id, event, actor, metadata, timestamp, prev_hash, hash) "
        f"VALUES ({row['id']}, 'Approved', 'System', '{{}}', '{row['timestamp']}', "
        f"'{last_hash}', '{hashed}')",
    )
    return int(row["id"])


def verify_by_cli(database_target, db_path, monkeypatch, capsys) -> tuple[int, str]:
    clear_settings(monkeypatch)
    monkeypatch.setenv("APPROVAL_BOT_DATABASE", str(db_path))
    if isinstance(database_target, str):
        monkeypatch.setenv("DATABASE_URL", database_target)
    code = cli.main(["audit", "verify"])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("tampering", ["last row forged", "row past the head"])
def test_the_page_and_audit_verify_agree_on_a_tampered_tail(
    make_settings, database_target, db_path, monkeypatch, capsys, tampering
):
    with running(make_settings) as web:
        fill(web, "+14155550101", "+14155550102")
        if tampering == "last row forged":
            broken = int(last_row(database_target)[0])  # type: ignore[call-overload]
            forge(database_target, broken, "event = 'Approved'")
        else:
            broken = insert_past_the_head(database_target)
        page = web.client.get("/audit").text
        assert f"Hash chain broken at row {broken}" in page
        assert "Hash chain verified" not in page
    # a restart's walk does not take the tampered row for intact either
    assert checkpoint(database_target) in (
        [],
        sql(database_target, f"SELECT id, hash FROM audit_log WHERE id = {broken - 1}"),
    )
    code, said = verify_by_cli(database_target, db_path, monkeypatch, capsys)
    assert (code, f"audit log broken at row {broken}") == (1, said.split(":")[0])


def test_rows_committed_while_the_page_walks_are_not_missing(
    make_settings, database_target, monkeypatch
):
    """A reply decided while the walk reads is no gap: the walk reads one moment."""
    real_rows_after = audit_views.rows_after
    appended: list[int] = []

    def rows_after(tx, after, limit):
        found = real_rows_after(tx, after, limit)
        if not found and not appended:  # the walk has read the last row: others commit
            appended.append(append_elsewhere(database_target))
        return found

    with running(make_settings) as web:
        fill(web, "+14155550101")
        monkeypatch.setattr(audit_views, "rows_after", rows_after)
        page = web.client.get("/audit?verify=full").text
        assert appended, "the walk did not reach the end of the log"
        assert "Hash chain verified" in page, page.split("Hash chain")[1][:200]
        total = int(last_row(database_target)[0])  # type: ignore[call-overload]
        assert f"Hash chain verified: {total} rows intact" in web.client.get("/audit").text


def append_elsewhere(target: str | Path) -> int:
    """One audit row appended and committed on a connection of its own, as another writer
    (a second instance, or this one's writer thread) does; the new row's id."""
    event = AuditEvent("Tested", metadata={"by": "another writer"})
    if isinstance(target, Path):
        with closing(sqlite3.connect(target)) as conn:
            conn.row_factory = sqlite3.Row
            audit.record(Tx.on(conn), event)
            conn.commit()
    else:
        with psycopg.connect(target, row_factory=dict_row) as pg:
            audit.record(Tx.on(pg, "postgres"), event)
    return int(str(last_row(target)[0]))


def test_a_break_audit_verify_found_is_not_vouched_for_by_a_running_page(
    make_settings, database_target, db_path, monkeypatch, capsys
):
    """The page walked the chain before row 2 was changed; `audit verify` then finds the
    break and pulls the checkpoint back. The running page must not push it forward again
    over row 2 from what it verified before: a restart would then call the chain intact."""
    with running(make_settings) as web:
        fill(web, "+14155550101", "+14155550102")
        assert "Hash chain verified" in web.client.get("/audit").text
        tamper(database_target, 2)
        code, said = verify_by_cli(database_target, db_path, monkeypatch, capsys)
        assert (code, said.split(":")[0]) == (1, "audit log broken at row 2")
        row_1 = sql(database_target, "SELECT id, hash FROM audit_log WHERE id = 1")
        assert checkpoint(database_target) == row_1

        fill(web, "+14155550103")
        assert "Hash chain broken at row 2" in web.client.get("/audit").text
    assert checkpoint(database_target) == row_1

    with running(make_settings) as web:
        assert "Hash chain broken at row 2" in web.client.get("/audit").text
