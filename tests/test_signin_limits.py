"""Failed sign-in limits under concurrency, across app instances, and their pruning."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from approval_bot import signin_limits
from approval_bot.app import create_app
from approval_bot.store import Priority, Tx, add_functions, load_migrations, split_statements
from tests.webclient import PASSWORD, Web

GUESSES = 100


def _with_lifespan_state(app: Any, state: dict[str, Any]) -> Any:
    """The app as a server would call it: lifespan state in each request's scope."""

    async def with_state(scope: Any, receive: Any, send: Any) -> None:
        await app({**scope, "state": dict(state)}, receive, send)

    return with_state


@pytest.mark.both_backends
def test_parallel_guesses_never_get_more_than_the_account_limit_checked(web: Web) -> None:
    """100 simultaneous sign-ins, the right password last: only the allowed few are checked."""
    web.reviewer("Ana")
    token = web.csrf("/login")
    cookies = dict(web.client.cookies)
    forms = [{"csrf_token": token, "name": "Ana", "password": f"guess {i}"} for i in range(99)]
    forms.append({"csrf_token": token, "name": "Ana", "password": PASSWORD})
    transport = httpx.ASGITransport(
        app=_with_lifespan_state(web.client.app, web.client.app_state),
        client=("203.0.113.7", 40000),
    )

    async def all_at_once() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1:8000", cookies=cookies
        ) as client:
            return await asyncio.gather(
                *(client.post("/login", data=form, follow_redirects=False) for form in forms)
            )

    responses = web.call(all_at_once)

    statuses = [response.status_code for response in responses]
    assert statuses.count(303) == 0, "signed in past the limit"
    assert statuses.count(401) == signin_limits.ACCOUNT_LIMIT
    assert statuses.count(429) == GUESSES - signin_limits.ACCOUNT_LIMIT
    assert statuses[-1] == 429
    assert len(web.rows("SELECT 1 FROM signin_attempts")) == signin_limits.ACCOUNT_LIMIT
    assert web.rows("SELECT 1 FROM audit_log WHERE event = 'Signed In'") == []


@pytest.mark.both_backends
def test_the_limit_holds_for_another_app_on_the_same_database(make_settings) -> None:
    """Two processes (or a restart) share the limit: it lives in the database."""
    with TestClient(create_app(make_settings()), base_url="http://127.0.0.1:8000") as first:
        web = Web(first)
        web.reviewer("Ana")
        token = web.csrf("/login")
        for i in range(signin_limits.ACCOUNT_LIMIT):
            bad = {"csrf_token": token, "name": "Ana", "password": f"wrong {i}"}
            assert first.post("/login", data=bad).status_code == 401
    with TestClient(create_app(make_settings()), base_url="http://127.0.0.1:8000") as second:
        web = Web(second)
        right = {"csrf_token": web.csrf("/login"), "name": "Ana", "password": PASSWORD}
        assert second.post("/login", data=right).status_code == 429


def test_a_right_password_clears_the_account_and_signs_in(web: Web) -> None:
    web.reviewer("Ana")
    token = web.csrf("/login")
    for i in range(signin_limits.ACCOUNT_LIMIT - 1):
        bad = {"csrf_token": token, "name": "Ana", "password": f"wrong {i}"}
        assert web.client.post("/login", data=bad).status_code == 401
    web.sign_in("Ana")
    assert web.rows("SELECT 1 FROM signin_attempts WHERE account = 'ana'") == []


def test_a_disabled_reviewer_with_the_right_password_uses_up_an_attempt(web: Web) -> None:
    from approval_bot import accounts

    ana = web.reviewer("Ana")
    web.call(accounts.set_active, web.db, ana.id, False, by=None)
    token = web.csrf("/login")
    right = {"csrf_token": token, "name": "Ana", "password": PASSWORD}
    assert web.client.post("/login", data=right).status_code == 401
    assert len(web.rows("SELECT 1 FROM signin_attempts")) == 1


def test_each_attempt_prunes_a_bounded_batch_of_expired_rows(web: Web) -> None:
    now = datetime.now(UTC)
    old = (now - signin_limits.LIMIT_WINDOW - timedelta(minutes=1)).isoformat()
    expired = 2 * signin_limits.PRUNE_BATCH + 50

    def seed(conn: Any) -> None:
        conn.executemany(
            "INSERT INTO signin_attempts (account, address, attempted_at) VALUES (?, ?, ?)",
            [(f"old{i}", "198.51.100.1", old) for i in range(expired)],
        )

    web.call(web.db.write, seed, priority=Priority.BULK)
    token = web.csrf("/login")
    bad = {"csrf_token": token, "name": "nobody", "password": "wrong password"}

    counts = []
    for _ in range(3):
        assert web.client.post("/login", data=bad).status_code == 401
        counts.append(web.rows("SELECT count(*) FROM signin_attempts WHERE account LIKE 'old%'"))
    assert [c[0][0] for c in counts] == [expired - 100, expired - 200, 0]
    assert len(web.rows("SELECT 1 FROM signin_attempts WHERE account = 'nobody'")) == 3


NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [
        ({"account": 4, "address": 0}, None),
        ({"account": 5, "address": 0}, 15 * 60),
        ({"account": 0, "address": 19}, None),
        ({"account": 0, "address": 20}, 15 * 60),
    ],
)
def test_reserve_refuses_at_the_limits_and_records_nothing(tmp_path, attempts, expected):
    conn = sqlite3.connect(tmp_path / "plain.sqlite3", isolation_level=None)
    conn.row_factory = sqlite3.Row  # store functions read rows by column name, as the app's do
    add_functions(conn)  # the SQL functions migrations call, as the app's writer has them
    for migration in load_migrations():
        for statement in split_statements(migration.sql):
            conn.execute(statement)
    at = NOW.isoformat(timespec="microseconds")
    for _ in range(attempts["account"]):
        conn.execute("INSERT INTO signin_attempts VALUES (NULL, 'ana', '192.0.2.9', ?)", (at,))
    for i in range(attempts["address"]):
        conn.execute("INSERT INTO signin_attempts VALUES (NULL, ?, '192.0.2.1', ?)", (f"x{i}", at))
    before = conn.execute("SELECT count(*) FROM signin_attempts").fetchone()[0]

    if expected is None:
        signin_limits.reserve(Tx.on(conn), "ana", "192.0.2.1", NOW)
        assert conn.execute("SELECT count(*) FROM signin_attempts").fetchone()[0] == before + 1
    else:
        with pytest.raises(signin_limits.SignInRefused) as refused:
            signin_limits.reserve(Tx.on(conn), "ana", "192.0.2.1", NOW)
        assert refused.value.wait_seconds == expected
        assert conn.execute("SELECT count(*) FROM signin_attempts").fetchone()[0] == before
    conn.close()
