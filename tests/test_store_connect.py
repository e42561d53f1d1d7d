"""DATABASE_URL chooses the backend: unset, the SQLite file as before; sqlite:///path, that
file; postgresql://…, that server; anything else is refused at start, in one sentence."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from approval_bot import cli
from approval_bot.config import Settings, SettingsError
from approval_bot.store import (
    PostgresStore,
    SqliteStore,
    UnknownDatabaseUrl,
    backend_of,
    opened,
)
from approval_bot.store.postgres import redact


def test_unset_is_the_sqlite_file_as_before(make_settings: Callable[..., Settings], db_path: Path):
    settings = make_settings()
    assert settings.database_url is None
    assert settings.database_target == settings.database == db_path


def test_a_sqlite_url_names_the_file(make_settings: Callable[..., Settings], tmp_path: Path):
    absolute = tmp_path / "other.sqlite3"
    settings = make_settings(DATABASE_URL=f"sqlite:///{absolute}")
    assert settings.database_url is None and settings.database == absolute
    assert backend_of("sqlite:///data/x.sqlite3") == ("sqlite", Path("data/x.sqlite3"))


def test_a_postgresql_url_names_the_server(make_settings: Callable[..., Settings]):
    url = "postgresql://bot:secret@db.example:5432/approvals"
    settings = make_settings(DATABASE_URL=url)
    assert settings.database_target == url
    assert settings.database_label == "postgresql://bot:***@db.example:5432/approvals"
    assert backend_of("postgres://h/d") == ("postgresql", "postgres://h/d")


@pytest.mark.parametrize("url", ["mysql://h/d", "sqlite://", "sqlite:///"])
def test_an_unknown_url_stops_the_start_in_one_sentence(
    make_settings: Callable[..., Settings], url: str
):
    with pytest.raises(SettingsError):
        make_settings(DATABASE_URL=url)
    with pytest.raises(UnknownDatabaseUrl):
        backend_of(url)


def test_the_password_never_shows():
    assert redact("postgresql://u:secret@h/d") == "postgresql://u:***@h/d"
    assert redact("postgresql://h/d") == "postgresql://h/d"
    # libpq takes the password as a query parameter too
    assert (
        redact("postgresql://u@h/d?sslmode=require&password=secret")
        == "postgresql://u@h/d?sslmode=require&password=***"
    )


def test_an_unreachable_server_is_one_line_from_the_command_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    monkeypatch.setenv("APPROVAL_BOT_DATABASE", str(tmp_path / "data" / "db.sqlite3"))
    # a loopback port nothing listens on (port 1 is privileged and unused here)
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody:pw@127.0.0.1:1/none")
    for argv in (["init-db"], ["serve", "--port", "18999"]):
        assert cli.main(argv) == 1
        err = capsys.readouterr().err
        assert "cannot connect to PostgreSQL at postgresql://nobody:***@127.0.0.1:1/none" in err
        assert "pw@" not in err and "Traceback" not in err


@pytest.mark.anyio
async def test_opened_takes_a_path_or_a_url(store_url: str | Path):
    async with opened(store_url) as db:
        assert isinstance(db, SqliteStore if isinstance(store_url, Path) else PostgresStore)
        assert db.info()["backend"] == db.backend
