"""SQL text written once, with `:name` parameters, and rewritten for each driver.

sqlite3 takes `:name` as it is. psycopg wants `%(name)s`, and every literal `%` doubled
(inside quotes too); `:name` inside a quoted string or identifier, and PostgreSQL's `::`
casts, are not parameters. Where the
dialects really differ (a date function, an index hint) a query carries a PostgreSQL text of
its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Dialect = Literal["sqlite", "postgres"]

# a quoted string or identifier (kept as it is), a `::` cast, a `:name` parameter, or a `%`
_TOKEN = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|::|:([A-Za-z_][A-Za-z0-9_]*)|%""")


def _pyformat(text: str) -> str:
    def swap(match: re.Match[str]) -> str:
        token = match[0]
        if match[1]:
            return f"%({match[1]})s"
        if token == "::":
            return token
        return token.replace("%", "%%")  # psycopg reads every `%`, inside quotes too

    return _TOKEN.sub(swap, text)


def parameters(text: str) -> frozenset[str]:
    """The `:name` parameters a query's text takes."""
    return frozenset(m[1] for m in _TOKEN.finditer(text) if m[1])


@dataclass(frozen=True)
class Query:
    """One statement: its SQLite text and its PostgreSQL text, both ready for the driver."""

    sqlite: str
    postgres: str
    names: frozenset[str]

    def text(self, dialect: Dialect) -> str:
        return self.sqlite if dialect == "sqlite" else self.postgres


def sql(text: str, *, postgres: str | None = None) -> Query:
    """A query from its portable text (and, where the dialects differ, PostgreSQL's own).

    Both texts must take the same parameters, so a caller's arguments fit either backend.
    """
    other = text if postgres is None else postgres
    names = parameters(text)
    if parameters(other) != names:
        raise ValueError(
            f"the PostgreSQL text takes {sorted(parameters(other))}, "
            f"the portable one {sorted(names)}"
        )
    return Query(text.strip(), _pyformat(other.strip()), names)
