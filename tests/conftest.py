from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from starlette.testclient import TestClient

from approval_bot.app import create_app
from approval_bot.config import Settings, load_settings
from approval_bot.store import Store, opened

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


@pytest.fixture
def make_settings(db_path: Path) -> Callable[..., Settings]:
    """Settings from an environment of test values plus `overrides`."""

    def make(**overrides: str) -> Settings:
        environ = {"APPROVAL_BOT_DATABASE": str(db_path), **overrides}
        return load_settings(environ)

    return make


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[Store]:
    """A fresh, migrated database file for one test."""
    async with opened(db_path) as database:
        yield database


@pytest.fixture
def web(make_settings: Callable[..., Settings]) -> Iterator[Web]:
    """The app running on a fresh database, with a client that keeps its cookies."""
    app = create_app(make_settings())
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        yield Web(client)
