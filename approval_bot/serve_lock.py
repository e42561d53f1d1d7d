"""One `approval-bot serve` per SQLite file: a second one on the same file is refused.

The never-send-twice and one-writer guarantees rest on one process owning the file (its
sender, its jobs, its write queue). The running server holds an exclusive `flock` on a
lock file beside the database for as long as it lives; the kernel lets go when the process
ends, however it ends, so a crash leaves nothing to clean up. The lock is on a file of its
own, not on the database, whose locks are SQLite's.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO


class AlreadyServing(Exception):
    """Another process serves this SQLite file."""


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".serve-lock")


def hold(database: Path) -> IO[str]:
    """Take the file's serve lock for this process; keep the returned file open while
    serving. AlreadyServing, naming the holder's pid, when another process has it."""
    path = lock_path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise AlreadyServing(
            f"another approval-bot serve (pid {holder}) is using {database}: one SQLite file "
            "serves one process (for several, use PostgreSQL: README, Running several "
            "instances)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
