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


@dataclass(frozen=True)
class Checkpoint:
    """Rows 1 to `last_id` were verified; `last_hash` is the hash of row `last_id`."""

    last_id: int
    last_hash: str


def load(conn: Tx) -> Checkpoint | None:
    row = conn.execute("SELECT last_id, last_hash FROM audit_checkpoint WHERE id = 1").fetchone()
    return Checkpoint(int(row[0]), str(row[1])) if row else None


def _record(conn: Tx, result: Verification) -> None:
    if result.ok:
        conn.execute(
            """
            INSERT INTO audit_checkpoint (id, last_id, last_hash, verified_at)
            VALUES (1, :id, :hash, :at)
            ON CONFLICT (id) DO UPDATE
                SET last_id = excluded.last_id, last_hash = excluded.last_hash,
                    verified_at = excluded.verified_at
                WHERE excluded.last_id > audit_checkpoint.last_id
            """,
            {"id": result.rows, "hash": result.last_hash, "at": now_iso()},
        )
    elif result.rows == 0:
        conn.execute("DELETE FROM audit_checkpoint")
    else:
        conn.execute(
            """
            UPDATE audit_checkpoint SET last_id = :id, last_hash = :hash, verified_at = :at
            WHERE last_id > :id
            """,
            {"id": result.rows, "hash": result.last_hash, "at": now_iso()},
        )


async def record(db: Store, result: Verification) -> None:
    """Move the checkpoint to the end of the intact rows `result` found from row 1.

    An intact chain moves it forward, never back; a break pulls it back to the row
    before the break (or removes it when row 1 is broken).
    """
    if result.ok and result.rows == 0:
        return
    await db.write(lambda conn: _record(conn, result), priority=Priority.BULK)
