"""The numbered schema history shipped in `approval_bot/migrations`, one for every backend."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

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


def load_migrations() -> list[Migration]:
    """The numbered SQL files shipped in `approval_bot/migrations`, in order."""
    migrations = []
    for entry in resources.files("approval_bot.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            migrations.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    migrations.sort(key=lambda m: m.version)
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"migrations must be numbered 1, 2, 3 … without gaps; found {versions}")
    return migrations
