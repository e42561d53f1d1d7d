"""The application factory and its lifespan, through Starlette's TestClient."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from approval_bot.app import create_app, healthz
from approval_bot.config import Settings
from approval_bot.store import SchemaTooNew, load_migrations, opened

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


def schema_versions(db_path: Path) -> list[int]:
    with closing(sqlite3.connect(db_path)) as conn:
        return [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]


def test_create_app_opens_nothing(settings: Settings) -> None:
    create_app(settings)

    assert not settings.database.exists()


def test_healthz(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "schema_version": len(load_migrations()),
        "sandbox": True,
        "backend": "sqlite",
    }


def test_healthz_reports_postgresql_and_its_pool(settings: Settings, pg_url: str) -> None:
    # the endpoint alone on a PostgreSQL store (the whole app on PostgreSQL waits for every
    # module's SQL to move into approval_bot/store)
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with opened(pg_url) as db:
            yield {"db": db, "settings": settings}

    app = Starlette(routes=[Route("/healthz", healthz)], lifespan=lifespan)
    with TestClient(app) as client:
        response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["backend"]) == ("ok", "postgresql")
    assert body["schema_version"] == len(load_migrations())
    assert set(body["pool"]) >= {"size", "in_use", "waiting"}
    assert set(body["writers"]) == {"size", "in_use", "waiting"}


def test_healthz_reports_live_mode(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN="f" * 32,
        TWILIO_FROM_NUMBER="+14155550100",
    )

    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").json()["sandbox"] is False


def test_lifespan_migrates_and_runs_the_scheduler_until_shutdown(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        assert schema_versions(settings.database) == [m.version for m in load_migrations()]
        # the lifespan state, as every request sees it
        scheduler = client.app_state["scheduler"]
        assert scheduler.running

    assert not scheduler.running
    # the app's connections are closed: the last one to close checkpoints and removes the WAL
    wal = settings.database.with_name(settings.database.name + "-wal")
    assert not wal.exists()


def test_restart_on_a_migrated_database(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200

    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").json()["schema_version"] == len(load_migrations())

    assert schema_versions(settings.database) == [m.version for m in load_migrations()]


def test_startup_refuses_a_database_from_a_newer_version(settings: Settings) -> None:
    with TestClient(create_app(settings)):
        pass
    newer = len(load_migrations()) + 1
    with closing(sqlite3.connect(settings.database, isolation_level=None)) as conn:
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', '')",
            (newer,),
        )

    with pytest.raises(SchemaTooNew), TestClient(create_app(settings)):
        pass  # pragma: no cover - startup fails first


def test_static_files_are_served(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        response = client.get("/static/app.css")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert response.text.strip()


def test_unknown_page_for_a_browser_is_the_html_error_page(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        response = client.get("/no/such/page", headers=HTML)

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    # a headline in words, the status number below it (issue 16)
    assert "<title>Not found · approval-bot</title>" in response.text
    assert '<section class="error">' in response.text
    assert "<h1>Not found</h1>" in response.text and "Error 404" in response.text
    assert "/static/app.css" in response.text  # base.html, with its stylesheet


@pytest.mark.parametrize("accept", [None, "application/json", "*/*"])
def test_unknown_path_for_a_program_is_json(settings: Settings, accept: str | None) -> None:
    headers = {"Accept": accept} if accept else {}
    with TestClient(create_app(settings)) as client:
        response = client.get("/no/such/page", headers=headers)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": {"code": 404, "message": "Not Found"}}


def test_missing_static_file_is_404(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        response = client.get("/static/missing.css")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == 404


@pytest.mark.parametrize("headers", [{}, HTML], ids=["json", "html"])
def test_wrong_method_is_405_with_allow(settings: Settings, headers: dict[str, str]) -> None:
    with TestClient(create_app(settings)) as client:
        response = client.post("/healthz", headers=headers)

    assert response.status_code == 405
    assert "GET" in response.headers["allow"]


def test_healthz_is_503_when_the_database_cannot_be_queried(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        # damage the database under the running app, from outside it
        with closing(sqlite3.connect(settings.database, isolation_level=None)) as conn:
            conn.execute("DROP TABLE schema_migrations")
            conn.execute("CREATE TABLE schema_migrations (garbage TEXT)")

        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["status"] == "error"
    assert body["database"].startswith("unreachable")
    assert "health check failed" in caplog.text
