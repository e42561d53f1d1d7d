"""What the drafters are told: directives (global or per thread), FAQ entries, the business
profile; and the first-run setup checklist's marks and what it finds present."""

from __future__ import annotations

from . import conversations
from .base import Reads, Row, Tx
from .sql import sql

# -- directives --------------------------------------------------------------------------------

# the body a change replaces, for its audit row: locked until the transaction ends
# (PostgreSQL), so a second change of the scope records this one's body as its previous
_DIRECTIVE_BODY = sql(
    "SELECT body FROM directives WHERE scope = :scope",
    postgres="SELECT body FROM directives WHERE scope = :scope FOR UPDATE",
)
_CLAIM_DIRECTIVE = sql(
    """
    INSERT INTO directives (scope, body, updated_at, updated_by)
    VALUES (:scope, '', :updated_at, NULL)
    ON CONFLICT (scope) DO NOTHING RETURNING scope
    """
)
# the row is there: held_directive_body made it if it was not
_PUT_DIRECTIVE = sql(
    """
    UPDATE directives SET body = :body, updated_at = :updated_at, updated_by = :updated_by
     WHERE scope = :scope
    """
)
# the global scope's first, then the thread's (`thread` is 'global' when there is none)
_DIRECTIVES_FOR = sql(
    """
    SELECT scope, body FROM directives WHERE scope IN ('global', :thread) AND body != ''
    ORDER BY scope != 'global'
    """
)
_DIRECTIVE_SHOWN = sql(
    """
    SELECT d.body, d.updated_at, r.name AS updated_by
    FROM directives d LEFT JOIN reviewers r ON r.id = d.updated_by
    WHERE d.scope = :scope
    """
)


def held_directive_body(tx: Tx, scope: str, now: str) -> str | None:
    """The directive of `scope` as stored (perhaps empty), or None when it was never set,
    its row held for the rest of the transaction: made (empty) when there was none, so a
    writer setting the same scope's first directive at the same moment waits for this one
    and then reads what it wrote."""
    if tx.one(_CLAIM_DIRECTIVE, scope=scope, updated_at=now) is not None:
        return None
    row = tx.one(_DIRECTIVE_BODY, scope=scope)
    return None if row is None else str(row["body"])


def put_directive(tx: Tx, scope: str, body: str, updated_at: str, updated_by: int | None) -> None:
    tx.run(_PUT_DIRECTIVE, scope=scope, body=body, updated_at=updated_at, updated_by=updated_by)


async def directives_for(db: Reads, thread_id: str | None) -> list[Row]:
    """The non-empty directives (scope, body) of the global scope, then of the thread's."""
    return await db.all(_DIRECTIVES_FOR, thread="global" if thread_id is None else thread_id)


async def directive_shown(db: Reads, scope: str) -> Row | None:
    """The directive of `scope` with its setter's name (body, updated_at, updated_by)."""
    return await db.one(_DIRECTIVE_SHOWN, scope=scope)


# -- FAQ entries -------------------------------------------------------------------------------

_ADD_FAQ = sql(
    """
    INSERT INTO faq_entries (scope, keywords, answer, created_at, updated_by)
    VALUES (:scope, :keywords, :answer, :created_at, :updated_by)
    RETURNING id
    """
)
# one statement: of two removals at once only the one that deleted the row answers it
_DELETE_FAQ = sql("DELETE FROM faq_entries WHERE id = :id RETURNING scope, keywords, answer")
_FAQ_IDS = sql("SELECT id FROM faq_entries WHERE scope = :scope ORDER BY id")
_FAQ_FOR = sql(
    """
    SELECT scope, keywords, answer FROM faq_entries WHERE scope IN ('global', :thread)
    ORDER BY scope != 'global', id
    """
)
_ALL_FAQ = sql("SELECT id, scope, keywords, answer FROM faq_entries ORDER BY id")
_FAQ_SCOPE = sql("SELECT scope FROM faq_entries WHERE id = :id")


def add_faq(
    tx: Tx, scope: str, keywords: str, answer: str, created_at: str, updated_by: int | None
) -> int:
    """Insert an FAQ entry (`keywords` as its JSON text); returns its id."""
    return tx.insert(
        _ADD_FAQ,
        scope=scope,
        keywords=keywords,
        answer=answer,
        created_at=created_at,
        updated_by=updated_by,
    )


def delete_faq(tx: Tx, entry_id: int) -> Row | None:
    """Delete an FAQ entry; its scope, keywords (JSON text) and answer, or None when there
    was no such entry."""
    return tx.one(_DELETE_FAQ, id=entry_id)


def faq_ids(tx: Tx, scope: str) -> list[int]:
    """The ids of a scope's FAQ entries, oldest first."""
    return [int(row["id"]) for row in tx.all(_FAQ_IDS, scope=scope)]


async def faq_for(db: Reads, thread_id: str | None) -> list[Row]:
    """The FAQ entries (scope, keywords, answer) of the global scope, then of the thread's."""
    return await db.all(_FAQ_FOR, thread="global" if thread_id is None else thread_id)


async def all_faq(db: Reads) -> list[Row]:
    """Every FAQ entry (id, scope, keywords, answer), by id."""
    return await db.all(_ALL_FAQ)


async def faq_scope(db: Reads, entry_id: int) -> str | None:
    """The scope of an FAQ entry, or None when there is no such entry."""
    row = await db.one(_FAQ_SCOPE, id=entry_id)
    return None if row is None else str(row["scope"])


async def conversation_exists(db: Reads, thread_id: str) -> bool:
    """Whether the thread has a conversation (the directives page asks; web/ keeps its name)."""
    return await conversations.exists(db, thread_id)


# -- the business profile ----------------------------------------------------------------------

_PROFILE = sql("SELECT document FROM business_profile WHERE id = 1")
_PUT_PROFILE = sql(
    """
    INSERT INTO business_profile (id, document, updated_at, updated_by)
    VALUES (1, :document, :updated_at, :updated_by)
    ON CONFLICT (id) DO UPDATE SET document = excluded.document,
        updated_at = excluded.updated_at, updated_by = excluded.updated_by
    """
)


def profile_document(tx: Tx) -> str | None:
    """The profile's JSON document inside a write transaction, or None when none is set."""
    row = tx.one(_PROFILE)
    return None if row is None else str(row["document"])


async def read_profile_document(db: Reads) -> str | None:
    """The profile's JSON document, or None when none is set."""
    row = await db.one(_PROFILE)
    return None if row is None else str(row["document"])


def put_profile(tx: Tx, document: str, updated_at: str, updated_by: int | None) -> None:
    tx.run(_PUT_PROFILE, document=document, updated_at=updated_at, updated_by=updated_by)


# -- the setup checklist -----------------------------------------------------------------------

# reads tables of other store modules too (reviewers, messages): what the steps ask for
_PRESENT = sql(
    """
    SELECT EXISTS (SELECT 1 FROM business_profile) AS profile,
           (SELECT count(*) FROM faq_entries WHERE scope = 'global') AS faq,
           (SELECT count(*) FROM reviewers WHERE active = 1 AND phone IS NOT NULL)
               AS reviewers,
           EXISTS (SELECT 1 FROM messages WHERE type = 'INBOUND') AS simulator
    """
)
_MARKS = sql("SELECT step, state FROM setup_steps")
_MARK = sql(
    """
    INSERT INTO setup_steps (step, state, updated_at, updated_by)
    VALUES (:step, :state, :updated_at, :updated_by)
    ON CONFLICT (step) DO UPDATE SET state = excluded.state,
        updated_at = excluded.updated_at, updated_by = excluded.updated_by
    """
)


async def setup_present(db: Reads) -> Row:
    """Whether a profile exists (profile), how many global FAQ entries (faq), active
    reviewers with phones (reviewers), and whether a customer ever wrote (simulator)."""
    row = await db.one(_PRESENT)
    assert row is not None
    return row


async def setup_marks(db: Reads) -> dict[str, str]:
    """The state an admin marked each step with, by step."""
    return {row["step"]: row["state"] for row in await db.all(_MARKS)}


def mark_setup_step(tx: Tx, step: str, state: str, updated_at: str, updated_by: int | None) -> None:
    tx.run(_MARK, step=step, state=state, updated_at=updated_at, updated_by=updated_by)
