"""What the read models share: pages and their keyset cursors, rows as dicts, hinted and
list-taking queries."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ...sms_text import count_segments
from ..base import Row
from ..sql import Query, sql

_HINT = re.compile(r"\s+INDEXED BY \w+")


def hinted(text: str) -> Query:
    """A query whose SQLite text names its index (`INDEXED BY`); PostgreSQL's planner picks
    partial indexes by itself, so its text is the same without the hints."""
    return sql(text, postgres=_HINT.sub("", text))


def names(prefix: str, count: int) -> str:
    """`:prefix_0, :prefix_1, …`: the parameters of an IN list of `count` values."""
    return ", ".join(f":{prefix}_{i}" for i in range(count))


def bind(prefix: str, values: Sequence[Any]) -> dict[str, Any]:
    """The values of an IN list written with `names(prefix, len(values))`."""
    return {f"{prefix}_{i}": value for i, value in enumerate(values)}


def as_dict(row: Row) -> dict[str, Any]:
    return {key: row[key] for key in row.keys()}  # noqa: SIM118 - Row is not a dict


def json_list(text: str | None) -> list[Any]:
    if not text:
        return []
    value = json.loads(text)
    return value if isinstance(value, list) else []


def json_dict(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def finding_texts(meta: dict[str, Any]) -> list[str]:
    """A draft's findings in words, as reviewers read them: each one's detail (the drafting
    service stores {"code", "detail"}; a finding stored as text is shown as it is)."""
    findings = meta.get("findings") or []
    if not isinstance(findings, list):
        return []
    return [
        str(f.get("detail") or f.get("code") or "") if isinstance(f, dict) else str(f)
        for f in findings
    ]


def understanding(text: str | None) -> dict[str, Any] | None:
    """A stored understanding as a JSON object; None on messages that have none."""
    return None if text is None else json_dict(text)


def with_segments(message: dict[str, Any]) -> dict[str, Any]:
    """Add how the message's body travels as SMS: `encoding`, `segments`, `forced_by`."""
    count = count_segments(message["body"])
    message["encoding"], message["segments"] = count.encoding, count.segments
    message["forced_by"] = count.forced_by
    return message


@dataclass
class Page:
    """A page of rows and the cursor of the next one (None on the last page)."""

    rows: list[dict[str, Any]]
    next_cursor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def encode_cursor(timestamp: str, row_id: str) -> str:
    return f"{timestamp}|{row_id}"


def decode_cursor(cursor: str | None) -> tuple[str, str] | None:
    """A (timestamp, id) keyset cursor, or None; a malformed one raises ValueError."""
    if not cursor:
        return None
    timestamp, sep, row_id = cursor.partition("|")
    if not sep or not timestamp or not row_id:
        raise ValueError(f"not a page cursor: {cursor!r}")
    return timestamp, row_id
