"""Guidance reviewers write for the drafters: directives (global or per thread) and FAQ entries.

Each change is one write transaction with its "Updated Directive" audit row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from . import audit
from .drafting.base import FaqEntry
from .models import Actor, Role, now_iso
from .phones import parse_address
from .store import Priority, Reads, Store, Tx
from .store import guidance as guidance_rows

GLOBAL = "global"
EVENT = "Updated Directive"
DIRECTIVE_LIMIT = 4000  # characters, whichever door it comes through
ANSWER_LIMIT = 1600  # an answer may be sent as it stands: one reply's most


class InvalidGuidance(ValueError):
    """A directive or FAQ entry that cannot be stored; the message says why."""


def check_scope(scope: str) -> str:
    """'global', or a thread as Twilio addresses it (E.164 or whatsapp:+E.164)."""
    if scope == GLOBAL:
        return scope
    try:
        parse_address(scope)
    except ValueError as error:
        raise InvalidGuidance(f"scope must be 'global' or a customer's number: {error}") from None
    return scope


def may_change(role: Role, scope: str) -> bool:
    """Who may change guidance: what the bot tells every customer (the global directive
    and global FAQ entries) needs an admin; one thread's own guidance, any reviewer."""
    return role is Role.ADMIN or scope != GLOBAL


ADMINS_ONLY = "only an admin can change what the bot tells every customer"


def split_keywords(text: str) -> tuple[str, ...]:
    """Comma-separated keywords, trimmed, lower case, without blanks or repeats."""
    words = (word.strip().lower() for word in text.split(","))
    return tuple(dict.fromkeys(word for word in words if word))


def _audit(scope: str, actor_id: int | None, metadata: dict[str, object]) -> audit.AuditEvent:
    return audit.AuditEvent(
        event=EVENT,
        actor=Actor.SYSTEM if actor_id is None else Actor.HUMAN,
        actor_id=actor_id,
        thread_id=None if scope == GLOBAL else scope,
        metadata={"scope": scope, **metadata},
    )


def _check_directive(body: str) -> None:
    if len(body.strip()) > DIRECTIVE_LIMIT:
        raise InvalidGuidance(
            f"a directive is at most {DIRECTIVE_LIMIT} characters, not {len(body.strip())}"
        )


async def set_directive(db: Store, scope: str, body: str, actor_id: int | None) -> None:
    """Replace the directive of `scope`; an empty body clears it."""
    check_scope(scope)
    _check_directive(body)
    await db.write(
        lambda conn: _set_directive(conn, scope, body, actor_id), priority=Priority.DECISION
    )


def _set_directive(conn: Tx, scope: str, body: str, actor_id: int | None) -> None:
    body, now = body.strip(), now_iso()
    previous = guidance_rows.held_directive_body(conn, scope, now)
    guidance_rows.put_directive(conn, scope, body, now, actor_id)
    audit.record(
        conn,
        _audit(
            scope,
            actor_id,
            {"kind": "directive", "body": body, "previous": previous},
        ),
    )


def _faq_entry(keywords: tuple[str, ...], answer: str) -> tuple[tuple[str, ...], str]:
    keywords = tuple(dict.fromkeys(k.strip().lower() for k in keywords if k.strip()))
    answer = answer.strip()
    if not keywords:
        raise InvalidGuidance("an FAQ entry needs at least one keyword")
    if not answer:
        raise InvalidGuidance("an FAQ entry needs an answer")
    if len(answer) > ANSWER_LIMIT:
        raise InvalidGuidance(
            f"an FAQ answer is at most {ANSWER_LIMIT} characters, not {len(answer)}"
        )
    return keywords, answer


async def add_faq(
    db: Store, keywords: tuple[str, ...], answer: str, actor_id: int | None, scope: str = GLOBAL
) -> int:
    """Add an FAQ entry (keywords → answer); returns its id."""
    check_scope(scope)
    keywords, answer = _faq_entry(keywords, answer)
    return await db.write(
        lambda conn: add_faq_now(conn, scope, keywords, answer, actor_id),
        priority=Priority.DECISION,
    )


def add_faq_now(
    conn: Tx,
    scope: str,
    keywords: tuple[str, ...],
    answer: str,
    actor_id: int | None,
) -> int:
    """Add an FAQ entry inside the caller's write transaction, with its audit row."""
    entry_id = guidance_rows.add_faq(
        conn, scope, json.dumps(list(keywords)), answer, now_iso(), actor_id
    )
    audit.record(
        conn,
        _audit(
            scope,
            actor_id,
            {
                "kind": "faq",
                "action": "add",
                "faq_id": entry_id,
                "keywords": list(keywords),
                "answer": answer,
            },
        ),
    )
    return entry_id


async def remove_faq(db: Store, entry_id: int, actor_id: int | None) -> None:
    """Delete an FAQ entry; InvalidGuidance when there is none with that id."""
    await db.write(lambda conn: _remove_faq(conn, entry_id, actor_id), priority=Priority.DECISION)


def _remove_faq(conn: Tx, entry_id: int, actor_id: int | None) -> None:
    row = guidance_rows.delete_faq(conn, entry_id)
    if row is None:
        raise InvalidGuidance(f"there is no FAQ entry {entry_id}")
    audit.record(
        conn,
        _audit(
            row["scope"],
            actor_id,
            {
                "kind": "faq",
                "action": "remove",
                "faq_id": entry_id,
                "keywords": json.loads(row["keywords"]),
                "answer": row["answer"],
            },
        ),
    )


async def replace_guidance(
    db: Store,
    scope: str,
    actor_id: int | None,
    *,
    directive: str | None = None,
    faq: list[tuple[tuple[str, ...], str]] | None = None,
) -> None:
    """Set a scope's directive and/or replace all its FAQ entries, in one transaction.

    None leaves that part as it is; each change has its own audit row.
    """
    check_scope(scope)
    if directive is not None:
        _check_directive(directive)
    entries = [_faq_entry(keywords, answer) for keywords, answer in faq or []]

    def body(conn: Tx) -> None:
        if directive is not None:
            _set_directive(conn, scope, directive, actor_id)
        if faq is not None:
            for entry_id in guidance_rows.faq_ids(conn, scope):
                _remove_faq(conn, entry_id, actor_id)
            for keywords, answer in entries:
                add_faq_now(conn, scope, keywords, answer, actor_id)

    await db.write(body, priority=Priority.DECISION)


@dataclass(frozen=True)
class Guidance:
    directives: tuple[str, ...]
    faq: tuple[FaqEntry, ...]


async def load_guidance(conn: Reads, thread_id: str | None) -> Guidance:
    """The global guidance, then the thread's own. This is a read-only operation."""
    rows = await guidance_rows.directives_for(conn, thread_id)
    directives = tuple(row["body"] for row in rows)
    rows = await guidance_rows.faq_for(conn, thread_id)
    faq = tuple(
        FaqEntry(tuple(json.loads(row["keywords"])), row["answer"], row["scope"]) for row in rows
    )
    return Guidance(directives, faq)


async def list_faq(db: Store) -> list[tuple[int, str, tuple[str, ...], str]]:
    """Every FAQ entry as (id, scope, keywords, answer). This is a read-only operation."""
    rows = await guidance_rows.all_faq(db)
    return [(r["id"], r["scope"], tuple(json.loads(r["keywords"])), r["answer"]) for r in rows]
