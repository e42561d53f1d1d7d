"""The numbered schema history shipped in `approval_bot/migrations`, one for every backend.

SQLite's files are `approval_bot/migrations/NNNN_name.sql`, PostgreSQL's
`approval_bot/migrations/postgres/NNNN_name.sql`: the same numbers and names, each the same
change written in its dialect, so a database of either backend at version N has the same
tables and columns. Both record what they applied in `schema_migrations`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable

from .sql import Dialect

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class SchemaTooNew(Exception):
    """The database was migrated by a newer approval-bot than this one."""

    def __init__(self, database_version: int, code_version: int) -> None:
        super().__init__(
            f"the database is at schema version {database_version}, newer than the "
            f"{code_version} this approval-bot knows; run a newer approval-bot or restore a backup"
        )
        self.database_version = database_version
        self.code_version = code_version


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def _folder(dialect: Dialect) -> Traversable:
    root = resources.files("approval_bot.migrations")
    return root if dialect == "sqlite" else root.joinpath("postgres")


def _read(folder: Traversable) -> list[Migration]:
    migrations = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            migrations.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    migrations.sort(key=lambda m: m.version)
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"migrations must be numbered 1, 2, 3 … without gaps; found {versions}")
    return migrations


def load_migrations(dialect: Dialect = "sqlite") -> list[Migration]:
    """The numbered SQL files of `dialect`, in order.

    PostgreSQL's history must be SQLite's, number for number and name for name: one
    history, written twice.
    """
    migrations = _read(_folder(dialect))
    if dialect != "sqlite":
        expected = [(m.version, m.name) for m in _read(_folder("sqlite"))]
        found = [(m.version, m.name) for m in migrations]
        if found != expected:
            missing = sorted(set(expected) - set(found))
            extra = sorted(set(found) - set(expected))
            raise RuntimeError(
                f"the {dialect} migrations differ from SQLite's: missing {missing}, unknown {extra}"
            )
    return migrations
