"""The sender: what was approved goes out once, to open threads only.

- `claim`: the due rows, and the one claim both kinds go through (customer messages, then
  reviewer notifications), in one write transaction;
- `message_lane` / `notification_lane`: what each kind re-checks at the claim, and how its
  outcome is recorded;
- `reconcile`: never twice — a row whose outcome is unknown is looked for at Twilio first;
- `send`: the scheduler job that claims, sends with bounded concurrency, and records.
"""

from .claim import Lane, Work
from .message_lane import STATUS_EVENTS_PROVIDER, MessageLane, opt_out_thread
from .notification_lane import NotificationLane, takes_text
from .send import Sender

__all__ = [
    "STATUS_EVENTS_PROVIDER",
    "Lane",
    "MessageLane",
    "NotificationLane",
    "Sender",
    "Work",
    "opt_out_thread",
    "takes_text",
]
