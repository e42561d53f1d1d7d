"""Message templates: one row per key, with the names of who pre-approved and last edited it."""

from __future__ import annotations

from functools import lru_cache

from .base import Reads, Row, Tx
from .sql import Query, sql

_SELECT = """
    SELECT templates.*, approver.name AS pre_approved_by_name, editor.name AS updated_by_name
    FROM templates
    LEFT JOIN reviewers AS approver ON approver.id = templates.pre_approved_by
    LEFT JOIN reviewers AS editor ON editor.id = templates.updated_by
"""
_ONE = sql(_SELECT + " WHERE templates.key = :key")
_ALL = sql(_SELECT + " ORDER BY templates.key")
_PUT = sql(
    """
    INSERT INTO templates (key, body, channel, content_sid, variables, pre_approved_by,
                           pre_approved_at, pre_approved_hash, updated_by, updated_at)
    VALUES (:key, :body, :channel, :content_sid, :variables, :pre_approved_by,
            :pre_approved_at, :pre_approved_hash, :updated_by, :updated_at)
    ON CONFLICT (key) DO UPDATE SET
        body = excluded.body, channel = excluded.channel,
        content_sid = excluded.content_sid, variables = excluded.variables,
        pre_approved_by = excluded.pre_approved_by,
        pre_approved_at = excluded.pre_approved_at,
        pre_approved_hash = excluded.pre_approved_hash,
        updated_by = excluded.updated_by, updated_at = excluded.updated_at
    """
)


def get(tx: Tx, key: str) -> Row | None:
    """One template's row (with `pre_approved_by_name`, `updated_by_name`) by key."""
    return tx.one(_ONE, key=key)


async def read(db: Reads, key: str) -> Row | None:
    """As `get`, outside a write transaction."""
    return await db.one(_ONE, key=key)


async def read_all(db: Reads) -> list[Row]:
    """Every template's row, by key (a handful of rows)."""
    return await db.all(_ALL)


def put(
    tx: Tx,
    *,
    key: str,
    body: str,
    channel: str,
    content_sid: str | None,
    variables: str,
    pre_approved_by: int | None,
    pre_approved_at: str | None,
    pre_approved_hash: str | None,
    updated_by: int | None,
    updated_at: str,
) -> None:
    """Create or replace the template of `key` (`variables` as its JSON text)."""
    tx.run(
        _PUT,
        key=key,
        body=body,
        channel=channel,
        content_sid=content_sid,
        variables=variables,
        pre_approved_by=pre_approved_by,
        pre_approved_at=pre_approved_at,
        pre_approved_hash=pre_approved_hash,
        updated_by=updated_by,
        updated_at=updated_at,
    )


# the drafting service's read: a few keys' bodies and channels, without the names
@lru_cache(maxsize=4)
def _templates_query(count: int) -> Query:
    keys = ", ".join(f":k{i}" for i in range(count))
    return sql(f"SELECT key, body, channel FROM templates WHERE key IN ({keys})")


async def by_keys(db: Reads, keys: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(key, body, channel) of the templates among `keys` that exist."""
    params = {f"k{i}": key for i, key in enumerate(keys)}
    rows = await db.all(_templates_query(len(keys)), **params)
    return [(row["key"], row["body"], row["channel"]) for row in rows]
