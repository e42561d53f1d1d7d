"""Sign-in, sessions, CSRF, roles and failed sign-in limits, through the real app."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from approval_bot import signin_limits
from approval_bot.models import Role
from tests.webclient import PASSWORD

PAGES = ["/", "/needs-review", "/attention", "/paused", "/audit", "/threads/+14155550100"]


@pytest.mark.parametrize("path", PAGES + ["/reviewers", "/audit/export.csv"])
def test_pages_send_strangers_to_sign_in_and_back(web, path):
    response = web.client.get(path, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")
    assert response.headers["location"].endswith(path.replace("+", "%2B") if "+" in path else path)


@pytest.mark.parametrize("path", ["/queue/updates?ids=", "/fragments/cards/abc"])
def test_fragments_answer_401_to_strangers(web, path):
    assert web.client.get(path).status_code == 401


def test_sign_in_lands_on_next_and_sets_a_safe_cookie(web):
    web.reviewer("Ana")
    token = web.csrf("/login?next=/audit")
    response = web.client.post(
        "/login",
        data={"csrf_token": token, "name": "ana", "password": PASSWORD, "next": "/audit"},
        follow_redirects=False,
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/audit"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie  # PUBLIC_BASE_URL is http here
    assert web.client.get("/audit").status_code == 200
    assert web.rows("SELECT 1 FROM audit_log WHERE event = 'Signed In'")


# a URL's scheme is case-insensitive (RFC 3986 §3.1): HTTPS:// is https too
@pytest.mark.parametrize("base", ["https://bot.example.com", "HTTPS://bot.example.com"])
def test_cookie_is_secure_behind_https(make_settings, base):
    from starlette.testclient import TestClient

    from approval_bot.app import create_app
    from tests.webclient import Web

    app = create_app(make_settings(PUBLIC_BASE_URL=base))
    with TestClient(app, base_url="https://bot.example.com") as client:
        web = Web(client)
        web.reviewer("Ana")
        token = web.csrf("/login")
        response = client.post(
            "/login",
            data={"csrf_token": token, "name": "Ana", "password": PASSWORD},
            follow_redirects=False,
        )
    assert "secure" in response.headers["set-cookie"].lower()


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil"])
def test_sign_in_never_redirects_off_site(web, target):
    web.reviewer("Ana")
    token = web.csrf("/login")
    response = web.client.post(
        "/login",
        data={"csrf_token": token, "name": "Ana", "password": PASSWORD, "next": target},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_wrong_password_is_refused_and_counted(web):
    web.reviewer("Ana")
    token = web.csrf("/login")
    response = web.client.post(
        "/login", data={"csrf_token": token, "name": "Ana", "password": "nope nope"}
    )
    assert response.status_code == 401
    assert "Wrong name or password" in response.text
    assert web.client.get("/", follow_redirects=False).status_code == 303
    assert len(web.rows("SELECT * FROM signin_attempts")) == 1


def test_sign_in_without_csrf_is_403(web):
    web.reviewer("Ana")
    response = web.client.post("/login", data={"name": "Ana", "password": PASSWORD})
    assert response.status_code == 403
    assert web.client.get("/", follow_redirects=False).status_code == 303


def test_too_many_failures_for_an_account_answer_429_with_a_wait(web):
    web.reviewer("Ana")
    token = web.csrf("/login")
    for _ in range(signin_limits.ACCOUNT_LIMIT):
        bad = {"csrf_token": token, "name": "Ana", "password": "wrong password"}
        assert web.client.post("/login", data=bad).status_code == 401

    response = web.client.post(
        "/login", data={"csrf_token": token, "name": "Ana", "password": PASSWORD}
    )

    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert "Try again in" in response.text
    assert web.client.get("/", follow_redirects=False).status_code == 303


def test_too_many_failures_from_one_address_block_every_account(web):
    web.reviewer("Ana")
    token = web.csrf("/login")
    for i in range(signin_limits.ADDRESS_LIMIT):
        bad = {"csrf_token": token, "name": f"guess{i}", "password": "wrong password"}
        assert web.client.post("/login", data=bad).status_code == 401
    response = web.client.post(
        "/login", data={"csrf_token": token, "name": "Ana", "password": PASSWORD}
    )
    assert response.status_code == 429


NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ages_minutes", "limit", "expected"),
    [
        ([], 5, None),
        ([1, 2, 3, 4], 5, None),
        ([1, 2, 3, 4, 5], 5, 10 * 60),  # the 5th newest (5 min old) leaves in 10 min
        ([0, 0, 0, 0, 14], 5, 60),
        ([1, 2, 3, 4, 16], 5, None),  # one of them is outside the window
        ([1], 1, 14 * 60),
    ],
)
def test_retry_after(ages_minutes, limit, expected):
    times = [NOW - timedelta(minutes=m) for m in ages_minutes]
    assert signin_limits.retry_after(times, limit, timedelta(minutes=15), NOW) == expected


def test_logout_needs_csrf_and_ends_the_session(web):
    web.reviewer("Ana")
    web.sign_in("Ana")
    assert web.client.post("/logout").status_code == 403
    assert web.client.get("/", follow_redirects=False).status_code == 200
    assert web.post("/logout").status_code == 303
    assert web.client.get("/", follow_redirects=False).status_code == 303


def test_disabled_reviewer_is_signed_out(web):
    from approval_bot import accounts

    ana = web.reviewer("Ana")
    web.sign_in("Ana")
    web.call(accounts.set_active, web.db, ana.id, False, by=None)
    assert web.client.get("/", follow_redirects=False).status_code == 303


def test_reviewers_page_is_for_admins_only(web):
    web.reviewer("Ana")
    web.sign_in("Ana")
    assert web.client.get("/reviewers").status_code == 403


def test_every_page_carries_a_csp_without_inline_scripts(web):
    web.reviewer("Boss", role=Role.ADMIN)
    web.sign_in("Boss")
    for path in [*PAGES[:5], "/reviewers", "/login"]:
        csp = web.client.get(path).headers["content-security-policy"]
        script_src = next(p for p in csp.split(";") if p.strip().startswith("script-src"))
        assert "'self'" in script_src and "unsafe-inline" not in csp


MIB = 1024 * 1024  # SECURITY.md: a request body is at most 1 MiB


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_form_over_one_mib_is_refused_before_it_is_read(web, declared):
    """Starlette would take 1,000 fields of 1 MiB each: the app's own limit comes first."""
    web.reviewer("Ana")
    form = {"csrf_token": web.csrf("/login"), "name": "Ana", "password": PASSWORD}
    body = urlencode({**form, "pad1": "x" * (MIB // 2), "pad2": "x" * (MIB // 2)}).encode()
    assert len(body) > MIB

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = web.client.post(
        "/login",
        content=body if declared else chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )

    assert response.status_code == 413
    assert web.rows("SELECT 1 FROM audit_log WHERE event = 'Signed In'") == []
    assert web.rows("SELECT 1 FROM signin_attempts") == []
    # the same sign-in without the padding is fine
    assert web.client.post("/login", data=form, follow_redirects=False).status_code == 303


def test_a_download_asked_for_with_a_body_over_one_mib_is_sent_whole(web):
    """A body the page never reads is no reason to break its answer: the audit export is
    streamed, and starlette keeps reading the request while it streams (for a disconnect)."""
    web.reviewer("Boss", role=Role.ADMIN)
    web.sign_in("Boss")

    exported = web.client.request("GET", "/audit/export.csv", content=b"x" * (MIB + 1))

    assert exported.status_code == 200
    assert exported.text.splitlines()[0].startswith("id,timestamp,event,")
