"""Server-side sessions: a saved cookie stops opening pages once its session is revoked."""

from __future__ import annotations

from datetime import UTC, datetime

from approval_bot import accounts, sessions
from approval_bot.models import Role
from approval_bot.store import Priority
from approval_bot.web.auth import SESSION_COOKIE
from tests.webclient import Web


def saved_cookie(web: Web) -> str:
    value = web.client.cookies.get(SESSION_COOKIE)
    assert value, "not signed in"
    return value


def opens_home(web: Web, cookie: str) -> bool:
    """Whether a browser holding only this cookie gets the queue page."""
    web.client.cookies.clear()
    response = web.client.get(
        "/", headers={"cookie": f"{SESSION_COOKIE}={cookie}"}, follow_redirects=False
    )
    web.client.cookies.clear()
    assert response.status_code in (200, 303), response.text
    return response.status_code == 200


def revoked_reasons(web: Web, name: str) -> list[str | None]:
    rows = web.rows(
        """
        SELECT revoked_reason FROM sessions JOIN reviewers ON reviewers.id = reviewer_id
        WHERE reviewers.name = ? ORDER BY sessions.created_at
        """,
        name,
    )
    return [row[0] for row in rows]


def test_a_cookie_saved_before_logout_opens_nothing_after_it(web: Web) -> None:
    web.reviewer("Ana")
    web.sign_in("Ana")
    cookie = saved_cookie(web)
    assert opens_home(web, cookie)

    web.client.cookies.set(SESSION_COOKIE, cookie)
    assert web.post("/logout").status_code == 303

    assert not opens_home(web, cookie)
    assert revoked_reasons(web, "Ana") == ["logout"]


def test_logout_ends_only_that_browsers_session(web: Web) -> None:
    web.reviewer("Ana")
    web.sign_in("Ana")
    laptop = saved_cookie(web)
    web.client.cookies.clear()
    web.sign_in("Ana")
    phone = saved_cookie(web)

    assert web.post("/logout").status_code == 303

    assert not opens_home(web, phone)
    assert opens_home(web, laptop)


def test_a_password_reset_ends_the_reviewers_sessions(web: Web) -> None:
    ana = web.reviewer("Ana")
    web.sign_in("Ana")
    cookie = saved_cookie(web)

    web.call(accounts.reset_password, web.db, ana.id, by=None)

    assert not opens_home(web, cookie)
    assert revoked_reasons(web, "Ana") == ["password"]


def test_disabling_ends_sessions_for_good_even_after_enabling_again(web: Web) -> None:
    ana = web.reviewer("Ana")
    web.sign_in("Ana")
    cookie = saved_cookie(web)

    web.call(accounts.set_active, web.db, ana.id, False, by=None)
    web.call(accounts.set_active, web.db, ana.id, True, by=None)

    assert not opens_home(web, cookie)
    assert revoked_reasons(web, "Ana") == ["disabled"]


def test_an_admin_who_resets_their_own_password_stays_signed_in(web: Web) -> None:
    boss = web.reviewer("Boss", role=Role.ADMIN)
    web.sign_in("Boss")
    before = saved_cookie(web)

    response = web.post(f"/reviewers/{boss.id}/password")

    assert response.status_code in (200, 303)
    assert web.client.get("/", follow_redirects=False).status_code == 200
    assert not opens_home(web, before)
    assert revoked_reasons(web, "Boss") == ["password", None]


def test_signing_in_again_in_the_same_browser_replaces_its_session(web: Web) -> None:
    web.reviewer("Ana")
    web.sign_in("Ana")
    first = saved_cookie(web)
    web.sign_in("Ana")

    assert not opens_home(web, first)
    assert revoked_reasons(web, "Ana") == ["replaced", None]


def test_an_idle_session_expires_and_a_used_one_is_seen(web: Web) -> None:
    web.reviewer("Ana")
    web.sign_in("Ana")
    cookie = saved_cookie(web)
    long_ago = (datetime.now(UTC) - sessions.TOUCH_EVERY * 2).isoformat()

    def age(conn: object, when: str) -> None:
        conn.execute("UPDATE sessions SET last_seen_at = ?", (when,))  # type: ignore[attr-defined]

    web.call(web.db.write, lambda conn: age(conn, long_ago), priority=Priority.BULK)
    assert opens_home(web, cookie)
    (seen,) = web.rows("SELECT last_seen_at FROM sessions")
    assert seen[0] > long_ago  # the page view refreshed it

    idle = (datetime.now(UTC) - sessions.IDLE_LIMIT).isoformat()
    web.call(web.db.write, lambda conn: age(conn, idle), priority=Priority.BULK)
    assert not opens_home(web, cookie)
