"""Reading Twilio's Messages list, newest first, back to a moment: where to stop (pure).

Twilio lists a number's messages newest first. A queued message has no DateSent yet (the
`DateSent>` filter misses it), so a reconciliation reads the unfiltered list page by page
and stops at the first message that is older than the claim it checks: every one after
it is older still.
"""

from __future__ import annotations

from datetime import datetime


def older_than(date_sent: datetime | None, date_created: datetime | None, since: datetime) -> bool:
    """Whether a listed message was made before `since`, so the messages after it were too.

    A message is sent after it is created: its latest known moment (DateSent, else
    DateCreated) before `since` means both are, whichever of the two the list is ordered
    by. A message with neither is never taken for old.
    """
    latest = date_sent or date_created
    return latest is not None and latest < since
