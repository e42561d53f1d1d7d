"""approval-bot: human-in-the-loop draft approval for SMS and WhatsApp over Twilio."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("approval-bot")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0+unknown"
