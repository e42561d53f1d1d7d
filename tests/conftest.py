from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from hypothesis import settings
from starlette.testclient import TestClient

from approval_bot.app import create_app
from approval_bot.config import Settings, load_settings
from approval_bot.store import Store, opened
from approval_bot.store.postgres import migrate_connection

from .webclient import Web

# scripts/mutate runs each test once per mutant: the same few examples every time, so a
# score does not move from run to run and the fixed cases carry the weight
settings.register_profile("mutate", max_examples=20, derandomize=True, database=None)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "approval_bot.sqlite3"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked `both_backends` (a module's `pytestmark` does it for its tests) runs once
    on SQLite and once on PostgreSQL: its `db`, `make_settings` and `web` follow `backend`."""
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "both_backends"
    ):
        metafunc.parametrize("backend", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The backend the test's database is on: SQLite unless the test is `both_backends`."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def database_target(backend: str, db_path: Path, request: pytest.FixtureRequest) -> str | Path:
    """The test's fresh database: the SQLite file's path, or a migrated PostgreSQL one's URL."""
    if backend == "sqlite":
        return db_path
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def make_settings(db_path: Path, database_target: str | Path) -> Callable[..., Settings]:
    """Settings from an environment of test values plus `overrides`."""

    def make(**overrides: str) -> Settings:
        # the secret key and other files stay beside db_path whatever the backend
        environ = {"APPROVAL_BOT_DATABASE": str(db_path), **overrides}
        if isinstance(database_target, str):
            environ.setdefault("DATABASE_URL", database_target)
        return load_settings(environ)

    return make


@pytest.fixture
async def db(database_target: str | Path) -> AsyncIterator[Store]:
    """A fresh, migrated database for one test (SQLite, or each backend: `both_backends`)."""
    async with opened(database_target) as database:
        yield database


@pytest.fixture
def web(make_settings: Callable[..., Settings]) -> Iterator[Web]:
    """The app running on a fresh database, with a client that keeps its cookies."""
    app = create_app(make_settings())
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        yield Web(client)


# The PostgreSQL backend's tests: TEST_DATABASE_URL names a server where the tests may
# create and drop databases (scripts/test starts a throwaway cluster and sets it; by hand:
# `eval "$(scripts/pg-cluster start)"`). Unset, they are skipped, unless
# APPROVAL_BOT_REQUIRE_POSTGRES is set (scripts/test sets it): then they fail.
NO_POSTGRES = (
    "TEST_DATABASE_URL is unset: no PostgreSQL server to test on "
    '(run `eval "$(scripts/pg-cluster start)"` first, or scripts/test)'
)
_databases = itertools.count()


def postgres_url() -> str:
    """The test server's URL, or skip (fail under scripts/test) without one."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        if os.environ.get("APPROVAL_BOT_REQUIRE_POSTGRES"):
            pytest.fail(NO_POSTGRES, pytrace=False)
        pytest.skip(NO_POSTGRES)
    return url


def database_url(server: str, name: str) -> str:
    """`server`'s URL, naming the database `name` instead."""
    return urlunsplit(urlsplit(server)._replace(path=f"/{name}"))


def _admin(server: str) -> psycopg.Connection:
    return psycopg.connect(server, autocommit=True)


class _Databases:
    """Fresh databases copied from a template, one made ahead in a thread while a test
    runs (CREATE DATABASE copies the template's files: about a second on a busy machine)."""

    def __init__(self, server: str, template: str) -> None:
        self._server, self._template = server, template
        self._maker = ThreadPoolExecutor(1, thread_name_prefix="test-databases")
        self._next: Future[str] = self._maker.submit(self._create)

    def _create(self) -> str:
        name = f"approval_bot_test_{os.getpid()}_{next(_databases)}"
        with _admin(self._server) as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"')
        return name

    def take(self) -> str:
        name = self._next.result()
        self._next = self._maker.submit(self._create)
        return name

    def drop(self, name: str) -> None:
        with _admin(self._server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.drop(self._next.result())
        self._maker.shutdown()


def _new_template(server: str, name: str, migrated: bool) -> None:
    with _admin(server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING UTF8')
    if migrated:
        with psycopg.connect(database_url(server, name), autocommit=True) as conn:
            migrate_connection(conn)


@pytest.fixture(scope="session")
def _pg_databases() -> Iterator[tuple[_Databases, _Databases]]:
    """Makers of migrated and of empty databases: the migrated ones are copies of a
    template migrated once per session (far faster than migrating each)."""
    server = postgres_url()
    migrated, empty = f"approval_bot_template_{os.getpid()}", f"approval_bot_empty_{os.getpid()}"
    _new_template(server, migrated, migrated=True)
    _new_template(server, empty, migrated=False)
    makers = (_Databases(server, migrated), _Databases(server, empty))
    yield makers
    for maker in makers:
        maker.close()
    with _admin(server) as admin:
        for name in (migrated, empty):
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _fresh(maker: _Databases) -> Iterator[str]:
    name = maker.take()
    try:
        yield database_url(postgres_url(), name)
    finally:
        maker.drop(name)


@pytest.fixture
def pg_url(_pg_databases: tuple[_Databases, _Databases]) -> Iterator[str]:
    """The URL of a fresh, migrated PostgreSQL database for one test."""
    yield from _fresh(_pg_databases[0])


@pytest.fixture
def empty_pg_url(_pg_databases: tuple[_Databases, _Databases]) -> Iterator[str]:
    """The URL of a fresh PostgreSQL database without any table, for one test."""
    yield from _fresh(_pg_databases[1])


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, db_path: Path) -> str | Path:
    """A fresh, migrated database of each backend: its path (SQLite) or URL (PostgreSQL)."""
    if request.param == "sqlite":
        return db_path
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def store(store_url: str | Path) -> AsyncIterator[Store]:
    """A fresh, migrated database for one test, on each backend in turn."""
    async with opened(store_url) as database:
        yield database
