"""The sender's entry points, where its callers import them; the code is in `sending/`."""

from .sending import STATUS_EVENTS_PROVIDER as STATUS_EVENTS_PROVIDER
from .sending import Sender as Sender

__all__ = ["STATUS_EVENTS_PROVIDER", "Sender"]
