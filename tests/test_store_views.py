"""Every read model's query prepares on the schema, the queries built per list length too."""

from __future__ import annotations

import importlib
import itertools
import pkgutil
import sqlite3
from pathlib import Path

import pytest

from approval_bot.store import opened
from approval_bot.store import views as views_package
from approval_bot.store.sql import Query
from approval_bot.store.views import audit, lists, queue, threads


def _queries() -> dict[str, Query]:
    found: dict[str, Query] = {}
    for module in pkgutil.iter_modules(views_package.__path__):
        loaded = importlib.import_module(f"{views_package.__name__}.{module.name}")
        for name, value in vars(loaded).items():
            if isinstance(value, Query):
                found[f"{module.name}.{name}"] = value
    # the queries built per length of an IN list, or per filter
    for n in (1, 3):
        found[f"recent({n})"] = queue._recent_query(n)
        found[f"claims({n})"] = queue._claims_query(n)
        found[f"left_queue({n})"] = queue._left_queue_query(n)
        found[f"codes({n})"] = queue._codes_query(n)
        found[f"approvals({n})"] = threads._approvals_query(n)
        found[f"understood({n})"] = threads._understood_query(n)
        found[f"bodies({n})"] = lists._bodies_query(n)
    for flags in itertools.product((False, True), repeat=3):
        found[f"threads{flags}"] = threads._threads_query(*flags)
    for order in ("", "DESC"):
        found[f"audit none {order}"] = audit._audit_query((), order)
        found[f"audit all {order}"] = audit._audit_query(tuple(audit._CLAUSES), order)
    return found


@pytest.mark.anyio
async def test_every_view_query_prepares_on_sqlite_with_its_index_hints(db_path: Path) -> None:
    async with opened(db_path):
        pass
    conn = sqlite3.connect(db_path)
    try:
        found = _queries()
        assert len(found) > 60
        for name, q in found.items():
            # a missing index named by INDEXED BY, a missing column: an error here
            conn.execute(f"EXPLAIN QUERY PLAN {q.sqlite}", dict.fromkeys(q.names)).fetchall()
            assert "INDEXED BY" not in q.postgres, name
    finally:
        conn.close()
