"""A database with two days of decisions at known moments, for the stats page's tests.

Each step runs at a chosen moment (time-machine moves the wall clock the app's code
reads); the actions are the real review functions, so every row and audit entry is the
one the app would write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine

from approval_bot import review, workflow
from approval_bot.models import DecisionChannel, Event, MessageStatus
from approval_bot.store import Store, Tx
from tests.builders import make_draft, make_inbound, make_reviewer

BEFORE_EDIT = "Yes, we are open 9 to 5."
AFTER_EDIT = "Yes, we are open 9 to 6."


@dataclass(frozen=True)
class Seeded:
    day_one: datetime
    day_two: datetime


def day_one(now: datetime) -> datetime:
    """10:00 UTC three days before `now`: inside the default 7-day window, not the 1-day one."""
    return (now - timedelta(days=3)).replace(hour=10, minute=0, second=0, microsecond=0)


async def seed(db: Store) -> Seeded:
    """Ana decides after 60 s and 600 s (an edit), Bo after 120 s (a reject) and 360 s.

    Day one: three drafts at 10:00 (the queue peaks at 3); day two: one decided at 10:06
    and then refused by Twilio with 21211, and one left pending.
    """
    one = day_one(datetime.now(UTC))
    two = one + timedelta(days=1)
    with time_machine.travel(one - timedelta(hours=1), tick=False) as clock:
        ana = await make_reviewer(db, "Ana")
        bo = await make_reviewer(db, "Bo")
        clock.move_to(one)
        first = await make_draft(db, await make_inbound(db, "+14155550101"))
        second = await make_draft(db, await make_inbound(db, "+14155550102"), BEFORE_EDIT)
        third = await make_draft(db, await make_inbound(db, "+14155550103"))

        clock.move_to(one + timedelta(seconds=60))
        await review.approve(db, first, review.Decision(ana.id, DecisionChannel.WEB))
        clock.move_to(one + timedelta(seconds=120))
        await review.reject(db, third, review.Decision(bo.id, DecisionChannel.SMS, notes="no"))
        clock.move_to(one + timedelta(seconds=600))
        await review.edit(
            db, second, AFTER_EDIT, review.Decision(ana.id, DecisionChannel.WEB), approve=True
        )

        clock.move_to(two)
        fourth = await make_draft(db, await make_inbound(db, "+14155550104"))
        clock.move_to(two + timedelta(seconds=360))
        await review.approve(db, fourth, review.Decision(bo.id, DecisionChannel.API))
        clock.move_to(two + timedelta(seconds=370))

        def change(conn: Tx) -> Any:
            workflow.change_status(
                conn,
                fourth,
                expected=MessageStatus.APPROVED_TO_SEND,
                target=MessageStatus.FAILED_SEND,
                event=Event.SEND_FAILED,
                error_code=21211,
                error_message="Invalid 'To' Phone Number",
            )

        await db.write(change)
        clock.move_to(two + timedelta(hours=2))
        await make_draft(db, await make_inbound(db, "+14155550105"))
    return Seeded(one, two)
