"""The reviewers as the admin's page, the sign-in form and the simulator read them."""

from __future__ import annotations

from typing import Any

from ..base import Reads, Row
from ..sql import sql
from .common import as_dict

# beyond the account: whether they texted STOP, and their quiet hours
_PAGE = sql(
    """
    SELECT id, name, phone, role, notify_sms, active, sms_opted_out,
           quiet_start, quiet_end, time_zone, backup
    FROM reviewers ORDER BY name
    """
)
_NAME = sql("SELECT name FROM reviewers WHERE id = :id")
_BY_NAME = sql("SELECT * FROM reviewers WHERE name = :name")
_NAMES = sql("SELECT id, name FROM reviewers ORDER BY name")
_PHONES = sql(
    "SELECT name, phone FROM reviewers WHERE active = 1 AND phone IS NOT NULL ORDER BY name"
)


async def reviewers_page(db: Reads) -> list[dict[str, Any]]:
    """Every reviewer with their settings, by name."""
    return [as_dict(row) for row in await db.all(_PAGE)]


async def reviewer_name(db: Reads, reviewer_id: int) -> str | None:
    """A reviewer's name, or None when there is no such reviewer."""
    row = await db.one(_NAME, id=reviewer_id)
    return None if row is None else str(row["name"])


async def reviewer_by_name(db: Reads, name: str) -> Row | None:
    """A reviewer's whole row (the password hash too) by their exact name, or None."""
    return await db.one(_BY_NAME, name=name)


async def reviewer_names(db: Reads) -> list[dict[str, Any]]:
    """Every reviewer's id and name, by name (the audit page's filter)."""
    return [as_dict(row) for row in await db.all(_NAMES)]


async def reviewer_phones(db: Reads) -> list[dict[str, Any]]:
    """The active reviewers who have a phone: name and phone, by name."""
    return [{"name": r["name"], "phone": r["phone"]} for r in await db.all(_PHONES)]
