"""The guidance the pages, the API and the CLI show: directives and FAQ entries."""

from __future__ import annotations

from typing import Any

from ..base import Reads, Store, Tx
from ..sql import sql
from .common import as_dict, json_list

_DIRECTIVE_BODY = sql("SELECT body FROM directives WHERE scope = :scope")
_FAQ_ANSWERS = sql("SELECT answer FROM faq_entries")
_DIRECTIVES = sql(
    """
    SELECT scope, body, updated_at, updated_by FROM directives
    ORDER BY scope != 'global', scope
    """
)
_DIRECTIVES_OF = sql(
    """
    SELECT scope, body, updated_at, updated_by FROM directives WHERE scope = :scope
    ORDER BY scope != 'global', scope
    """
)
_FAQ = sql(
    """
    SELECT id, scope, keywords, answer FROM faq_entries
    ORDER BY scope != 'global', scope, id
    """
)
_FAQ_OF = sql(
    """
    SELECT id, scope, keywords, answer FROM faq_entries WHERE scope = :scope
    ORDER BY scope != 'global', scope, id
    """
)


async def directive_body(db: Reads, scope: str) -> str | None:
    """The directive of a scope ('global' or a thread), or None when it has none."""
    row = await db.one(_DIRECTIVE_BODY, scope=scope)
    return None if row is None else row["body"]


def faq_answers(tx: Tx) -> set[str]:
    """The answers of every FAQ entry, inside a write transaction."""
    return {row["answer"] for row in tx.all(_FAQ_ANSWERS)}


async def guidance(db: Store, scope: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Directives and FAQ entries, of one scope or of all; global first."""
    async with db.snapshot() as r:
        if scope is None:
            directives, faq = await r.all(_DIRECTIVES), await r.all(_FAQ)
        else:
            directives = await r.all(_DIRECTIVES_OF, scope=scope)
            faq = await r.all(_FAQ_OF, scope=scope)
    return {
        "directives": [as_dict(row) for row in directives],
        "faq": [{**as_dict(row), "keywords": json_list(row["keywords"])} for row in faq],
    }
