"""Never twice: before a row whose outcome is unknown is sent again, Twilio is asked.

A claimed row keeps `unconfirmed_since` while its outcome is unknown (a crash mid-send, a
timeout, a 5xx). Before any further attempt, Twilio's messages to that number since then
(less a little slack for clocks) are listed: a match is recorded as sent instead of sending
again; when Twilio cannot be asked, the row waits for the next pass; only when Twilio has
no record of it is it re-checked and sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from ..gateways import RECONCILE_SLACK_SECONDS, GatewayUnreachable, SmsGateway
from ..store import Priority, Store
from .claim import Lane, Work

log = logging.getLogger("approval_bot.sender")


async def reconcile(
    db: Store,
    gateway: SmsGateway,
    lane: Lane,
    work: Work,
    *,
    clock: Callable[[], datetime],
    retry_in: timedelta,
) -> Work | None:
    """Look for an earlier attempt at Twilio; the work to send when there is none.

    `retry_in` is how long a row waits when Twilio cannot be asked.
    """
    assert work.unconfirmed_since is not None
    since = datetime.fromisoformat(work.unconfirmed_since) - timedelta(
        seconds=RECONCILE_SLACK_SECONDS
    )
    try:
        found = await gateway.find_sent(work.to, work.body, since)
    except GatewayUnreachable as error:
        log.warning("%s %s: reconciliation postponed: %s", work.kind, work.id, error)
        until = clock() + retry_in
        await db.write(lambda conn: lane.defer(conn, work, until), priority=Priority.DECISION)
        return None
    if found is not None:
        log.info("%s %s: found at Twilio as %s; not sent again", work.kind, work.id, found.sid)
        await db.write(
            lambda conn: lane.record_found(conn, work, found), priority=Priority.DECISION
        )
        return None
    now = clock()
    return await db.write(lambda conn: lane.prepare(conn, work, now), priority=Priority.DECISION)
