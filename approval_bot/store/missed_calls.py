"""Missed calls (`missed_calls`): recorded by the inbound path, each wanting a text-back
until the drafting service drafts it or drops it."""

from __future__ import annotations

from dataclasses import dataclass

from .base import Reads, Row, Tx
from .sql import sql


@dataclass(frozen=True)
class WaitingCall:
    """A missed call that wants a text-back: its id and the number that was called."""

    id: int
    called: str


_RECENT_CALLS = sql(
    "SELECT count(*) AS n FROM missed_calls WHERE thread_id = :thread_id AND received_at >= :since"
)
_INSERT_CALL = sql(
    """
    INSERT INTO missed_calls (call_sid, thread_id, caller, called, received_at, wants_draft)
    VALUES (:call_sid, :thread_id, :caller, :called, :received_at, :wants_draft)
    RETURNING id
    """
)


def count_since(tx: Tx, thread_id: str, since: str) -> int:
    """How many calls from the thread were missed at or after `since`."""
    row = tx.one(_RECENT_CALLS, thread_id=thread_id, since=since)
    return 0 if row is None else int(row["n"])


def insert(
    tx: Tx,
    *,
    call_sid: str,
    thread_id: str,
    caller: str,
    called: str,
    received_at: str,
    wants_draft: bool,
) -> int:
    """Record a missed call; its id."""
    return tx.insert(
        _INSERT_CALL,
        call_sid=call_sid,
        thread_id=thread_id,
        caller=caller,
        called=called,
        received_at=received_at,
        wants_draft=int(wants_draft),
    )


# read on the reader before drafting, and again in the write that stores the draft
_WAITING = sql(
    "SELECT id, called FROM missed_calls WHERE thread_id = :thread_id AND wants_draft = 1"
)
_DRAFTED = sql("UPDATE missed_calls SET wants_draft = 0, draft_id = :draft_id WHERE id = :id")
_DROPPED = sql("UPDATE missed_calls SET wants_draft = 0 WHERE id = :id")
_ALL_DROPPED = sql(
    "UPDATE missed_calls SET wants_draft = 0 WHERE thread_id = :thread_id AND wants_draft = 1"
)


def _calls(rows: list[Row]) -> list[WaitingCall]:
    return [WaitingCall(int(row["id"]), row["called"]) for row in rows]


async def waiting(db: Reads, thread_id: str) -> list[WaitingCall]:
    """The thread's missed calls that want a text-back."""
    return _calls(await db.all(_WAITING, thread_id=thread_id))


def waiting_now(tx: Tx, thread_id: str) -> list[WaitingCall]:
    return _calls(tx.all(_WAITING, thread_id=thread_id))


def drafted(tx: Tx, call_id: int, draft_id: str) -> None:
    """A missed call's text-back is this draft."""
    tx.run(_DRAFTED, id=call_id, draft_id=draft_id)


def dropped(tx: Tx, call_id: int) -> None:
    """A missed call wants no text-back any more."""
    tx.run(_DROPPED, id=call_id)


def all_dropped(tx: Tx, thread_id: str) -> None:
    """The thread's missed calls want no text-back any more."""
    tx.run(_ALL_DROPPED, thread_id=thread_id)
