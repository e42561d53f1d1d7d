from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from approval_bot.config import Settings, load_settings
from approval_bot.db import Database, opened


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
async def db(db_path: Path) -> AsyncIterator[Database]:
    """A fresh, migrated database file for one test."""
    async with opened(db_path) as database:
        yield database
