"""What a write transaction leaves for after its COMMIT, the same on every backend.

Inside a write transaction run by a store (`Store.write`), `log_after_commit` and
`call_after_commit` hold their line or callback until the transaction commits, and drop it
when it rolls back; `at_transaction_end` registers a step run with the transaction's `Tx`
once the transaction function returns, still inside the transaction (the steps in the order
of their keys). Outside one the
first two act at once and the third answers None. A backend wraps each attempt of a
transaction function in `Attempt`, and calls `Attempt.flush` (or `flush`) after COMMIT;
its queued transactions are `Job`s, answered with `Job.answer`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .base import Tx

T = TypeVar("T")
Closing = TypeVar("Closing", bound="Callable[[Tx], None]")
committed_log = logging.getLogger("approval_bot.audit")

_after_commit: ContextVar[list[tuple[str, dict[str, Any]]] | None] = ContextVar(
    "after_commit", default=None
)
_closing: ContextVar[dict[str, Callable[[Tx], None]] | None] = ContextVar("closing", default=None)
_on_commit: ContextVar[list[Callable[[], None]] | None] = ContextVar("on_commit", default=None)


def log_after_commit(message: str, extra: dict[str, Any]) -> None:
    """Log a line when the current write transaction commits (at once outside one)."""
    pending = _after_commit.get()
    if pending is None:
        committed_log.info(message, extra=extra)
    else:
        pending.append((message, extra))


def call_after_commit(callback: Callable[[], None]) -> None:
    """Call `callback` (on the thread that ran the transaction) once the current write
    transaction commits.

    It is not called when the transaction rolls back; outside one it is called at once.
    It must be quick and thread-safe: on SQLite it runs before the next transaction starts.
    """
    pending = _on_commit.get()
    if pending is None:
        callback()
    else:
        pending.append(callback)


def at_transaction_end(key: str, make: Callable[[], Closing]) -> Closing | None:
    """The step registered as `key` in the current write transaction, made on first use.

    Once the transaction function returns, each step is called with the transaction's
    `Tx`, still inside the transaction, so what it writes commits or rolls back with the
    rest. None outside a transaction run by `Store.write`.
    """
    steps = _closing.get()
    if steps is None:
        return None
    step = steps.get(key)
    if step is None:
        step = steps[key] = make()
    return step  # type: ignore[return-value]  # `key` is made by one `make` only


class Attempt:
    """One run of a transaction function: what it logged, its callbacks, its closing steps.

    `run(fn, tx)` calls `fn(tx)` and then the steps registered with `at_transaction_end`,
    with the hooks above collecting into this attempt while they run. What was collected
    counts only when the backend commits; on a rollback it drops the attempt.
    """

    def __init__(self) -> None:
        self.logged: list[tuple[str, dict[str, Any]]] = []
        self.callbacks: list[Callable[[], None]] = []

    def run(self, fn: Callable[[Tx], T], tx: Tx) -> T:
        steps: dict[str, Callable[[Tx], None]] = {}
        logs = _after_commit.set(self.logged)
        on_commit = _on_commit.set(self.callbacks)
        closing = _closing.set(steps)
        try:
            result = fn(tx)
            # in the order of their keys, so every transaction takes what they lock (the
            # audit chain's head, the queue's rollup hour) in one order, after its own rows;
            # what a step itself would leave for the end is done at once instead
            _closing.set(None)
            for key in sorted(steps):
                steps[key](tx)
        finally:
            _closing.reset(closing)
            _after_commit.reset(logs)
            _on_commit.reset(on_commit)
        return result

    def flush(self) -> None:
        """After the COMMIT: log the lines, call the callbacks."""
        flush(self.logged, self.callbacks)


def flush(logged: list[tuple[str, dict[str, Any]]], callbacks: list[Callable[[], None]]) -> None:
    """After a COMMIT: log the lines and call the callbacks its transactions left."""
    for message, extra in logged:
        committed_log.info(message, extra=extra)
    for callback in callbacks:
        try:
            callback()
        except Exception:  # a listener's failure must not lose the callers' answers
            committed_log.exception("an after-commit callback failed")


@dataclass(order=True)
class Job:
    """A write transaction waiting for a backend's writer: ordered by priority, then arrival."""

    priority: int
    seq: int
    fn: Callable[[Tx], Any] = field(compare=False)
    loop: asyncio.AbstractEventLoop = field(compare=False)
    future: asyncio.Future[Any] = field(compare=False)

    def answer(self, result: Any, error: BaseException | None) -> None:
        """Hand the caller its result (or error) on its own event loop; from any thread."""
        self.loop.call_soon_threadsafe(_settle, self.future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
