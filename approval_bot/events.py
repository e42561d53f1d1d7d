"""The event outbox: domain events written in the transaction of the change that causes them.

`emit` is one synchronous call inside the caller's write transaction: it stores the event
and, for each active webhook subscription that wants its type, a pending delivery. So an
event exists if and only if its change committed, and the delivery job (`event_delivery`)
sends it later. Each type has a JSON schema in `approval_bot/event_schemas/<type>.json`;
a new type is one schema file and one call.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from importlib import resources
from typing import Any

from .models import now_iso
from .store import Tx, call_after_commit
from .store import messages as message_rows
from .store import reviewers as reviewer_rows
from .store import webhook_events as outbox

WILDCARD = outbox.WILDCARD
_correlation: ContextVar[str | None] = ContextVar("correlation", default=None)
# called after a transaction that emitted an event commits (the delivery job's wake)
_listeners: list[Callable[[], None]] = []


@cache
def schemas() -> dict[str, dict[str, Any]]:
    """Every event type's JSON schema, by type, as kept in `approval_bot/event_schemas`."""
    found: dict[str, dict[str, Any]] = {}
    for entry in (resources.files("approval_bot") / "event_schemas").iterdir():
        if entry.name.endswith(".json"):
            found[entry.name.removesuffix(".json")] = json.loads(entry.read_text("utf-8"))
    return found


def types() -> list[str]:
    """The event types, sorted."""
    return sorted(schemas())


def schema_version(event_type: str) -> int:
    version: int = schemas()[event_type]["x-schema-version"]
    return version


class UnknownEventType(ValueError):
    """No schema for that event type."""


def check_types(requested: list[str]) -> list[str] | str:
    """A subscription's event types: `["*"]` is every type; otherwise each must exist."""
    if requested == [WILDCARD]:
        return WILDCARD
    if not requested:
        raise UnknownEventType("name at least one event type, or * for every type")
    unknown = sorted(set(requested) - set(schemas()))
    if unknown:
        raise UnknownEventType(
            f"unknown event type {', '.join(unknown)}; the types are {', '.join(types())} or *"
        )
    return sorted(set(requested))


def listen(listener: Callable[[], None]) -> Callable[[], None]:
    """Call `listener` (on the writer's thread) after each commit that emitted an event.

    Returns the function that stops listening.
    """
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def notify() -> None:
    """Wake the listeners: events are waiting to be delivered."""
    for listener in list(_listeners):
        listener()


@contextmanager
def correlation(correlation_id: str | None) -> Iterator[None]:
    """Events emitted inside carry this correlation id unless given one."""
    token = _correlation.set(correlation_id)
    try:
        yield
    finally:
        _correlation.reset(token)


def thread_correlation(conn: Tx, thread_id: str) -> str | None:
    """The correlation id of the thread's latest customer message: what its chain answers."""
    last = message_rows.last_inbound(conn, thread_id)
    return None if last is None else last.correlation_id


def emit(
    conn: Tx,
    event_type: str,
    *,
    thread_id: str | None,
    data: Mapping[str, Any],
    correlation_id: str | None = None,
) -> str:
    """Store one event and its pending deliveries in the caller's transaction; its id.

    The correlation id, when not given, is the one set by `correlation`, else the thread's
    latest customer message's.
    """
    if event_type not in schemas():
        raise UnknownEventType(f"no schema for event type {event_type!r}")
    if correlation_id is None:
        correlation_id = _correlation.get()
    if correlation_id is None and thread_id is not None:
        correlation_id = thread_correlation(conn, thread_id)
    event_id = str(uuid.uuid4())
    now = now_iso()
    outbox.insert_event(
        conn,
        outbox.OutboxEvent(
            id=event_id,
            type=event_type,
            schema_version=schema_version(event_type),
            occurred_at=now,
            thread_id=thread_id,
            correlation_id=correlation_id,
            data=json.dumps(dict(data), sort_keys=True),
        ),
    )
    wanted = outbox.subscribers(conn, event_type)
    outbox.insert_deliveries(conn, event_id, wanted, thread_id, now)
    if wanted:
        call_after_commit(notify)
    return event_id


def envelope(event: outbox.OutboxEvent) -> dict[str, Any]:
    """What a consumer receives for an outbox event: the event and its data."""
    return {
        "id": event.id,
        "type": event.type,
        "schema_version": event.schema_version,
        "occurred_at": event.occurred_at,
        "thread_id": event.thread_id,
        "correlation_id": event.correlation_id,
        "data": json.loads(event.data),
    }


def reviewer(conn: Tx, reviewer_id: int | None) -> dict[str, Any] | None:
    """A reviewer as events name them: id and name, never their password hash."""
    if reviewer_id is None:
        return None
    found = reviewer_rows.get(conn, reviewer_id)
    return None if found is None else {"id": found.id, "name": found.name}
