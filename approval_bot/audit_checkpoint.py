"""The last verified row of the audit chain, kept so a walk after a restart resumes there.

A checkpoint vouches for rows 1 to `last_id`: it is moved forward only by a walk that
found the chain intact, and pulled back to the last intact row by one that found a
break, so it never stands past a broken row. A row changed before the checkpoint is
no longer seen by a resumed walk; `approval-bot audit verify` walks from the start.
"""

from __future__ import annotations

from dataclasses import dataclass

from .audit import Verification
from .models import now_iso
from .store import Priority, Store, Tx
from .store import audit as audit_rows


@dataclass(frozen=True)
class Checkpoint:
    """Rows 1 to `last_id` were verified; `last_hash` is the hash of row `last_id`."""

    last_id: int
    last_hash: str


def load(conn: Tx) -> Checkpoint | None:
    found = audit_rows.checkpoint(conn)
    return None if found is None else Checkpoint(*found)


def _record(conn: Tx, result: Verification) -> None:
    if result.ok:
        audit_rows.advance_checkpoint(conn, result.rows, result.last_hash, now_iso())
    elif result.rows == 0:
        audit_rows.remove_checkpoint(conn)
    else:
        audit_rows.pull_back_checkpoint(conn, result.rows, result.last_hash, now_iso())


async def record(db: Store, result: Verification) -> None:
    """Move the checkpoint to the end of the intact rows `result` found from row 1.

    An intact chain moves it forward, never back; a break pulls it back to the row
    before the break (or removes it when row 1 is broken).
    """
    if result.ok and result.rows == 0:
        return
    await db.write(lambda conn: _record(conn, result), priority=Priority.BULK)
