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
from starlette.testclient import TestClient

from approval_bot import cli
from approval_bot.app import create_app
from approval_bot.config import Settings
from approval_bot.models import Role
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
