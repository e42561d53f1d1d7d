"""All SQL lives in approval_bot/store/: the modules outside it hold none (issue 18).

A string in the code that starts like an SQL statement or clause counts as SQL.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import approval_bot

PACKAGE = Path(approval_bot.__file__).parent

_SQL = re.compile(
    r"""^\s*(
        SELECT\s | INSERT\s+(OR\s+\w+\s+)?INTO\s | UPDATE\s+\w+\s+SET\s | DELETE\s+FROM\s
      | WITH\s+(RECURSIVE\s+)?\w+(\s*\([^)]*\))?\s+AS\s*\( | CREATE\s | DROP\s | ALTER\s
      | PRAGMA\s | BEGIN\b | COMMIT\b | ROLLBACK\b | SAVEPOINT\s | RELEASE\s
      | ((LEFT|INNER|CROSS)\s+)?JOIN\s | FROM\s+\w | WHERE\s | ORDER\s+BY\s | GROUP\s+BY\s
      | VALUES\s*\( | ON\s+CONFLICT\b | AND\s+[\w.]+\s*(=|!=|<|>|IN\b|IS\b|LIKE\b)
    )""",
    re.VERBOSE,
)

# the SQLite-only pass-throughs of store/base.py and store/sqlite.py, kept for scripts and
# tests: the package itself reads and writes through store functions
_RAW = {"execute", "executemany", "fetchall", "fetchone", "execute_fetchall"}


def sql_lines(source: str) -> list[int]:
    """The lines where a string in `source` starts like SQL (f-strings' parts included), or
    where a raw statement method is called."""
    return sorted(
        node.lineno
        for node in ast.walk(ast.parse(source))
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _SQL.match(node.value)
        )
        or (isinstance(node, ast.Attribute) and node.attr in _RAW)
    )


def holding_sql() -> dict[str, list[int]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if name.startswith("store/"):
            continue
        lines = sql_lines(path.read_text(encoding="utf-8"))
        if lines:
            found[name] = lines
    return found


def test_the_scan_sees_statements_and_clauses_but_not_words() -> None:
    assert sql_lines('q = "SELECT id FROM messages WHERE thread_id = ?"') == [1]
    assert sql_lines('q = f"""\n  UPDATE messages SET status = ? WHERE id = {x}"""') == [1]
    assert sql_lines('q = " AND status = ?"') == [1]
    assert sql_lines('q = "LEFT JOIN thread_controls tc ON tc.thread_id = m.thread_id"') == [1]
    assert sql_lines('methods = ["GET", "DELETE"]\nwords = "Select a reviewer"') == []
    assert sql_lines('"""Update the draft: from the queue, where the reviewer left it."""') == []
    assert sql_lines("rows = await db.fetchall(query)\ntx.execute(statement)") == [1, 2]


def test_no_sql_outside_the_store() -> None:
    found = holding_sql()
    assert not found, f"SQL outside approval_bot/store/ (module: lines): {found}"
