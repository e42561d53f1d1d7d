"""The shape of every parameter Twilio posts, checked after its signature (pure).

Twilio's signature joins each name to its value with no separator, so characters moved
between adjacent parameters keep it valid: `MessageSid=SM…&NumMedia=0` signs exactly as
`MessageSid=SM…NumMedia0` alone. A capture could so replay as a "new" message. Every SID
has one fixed shape (the patterns of Twilio's 2010-04-01 API description), the account is
ours, and NumMedia is present and names exactly the MediaUrlN parameters: a shifted form
cannot pass.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .numbers import whole_number

ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")
CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")
MAX_MEDIA = 10  # Twilio delivers at most ten media items with one message
# names Twilio gives the same message SID besides MessageSid
MESSAGE_SID_ALIASES = ("SmsSid", "SmsMessageSid")
_MEDIA_NAME = re.compile(r"Media(?:Url|ContentType)(\d+)")


class BadParameters(ValueError):
    """A signed form whose parameters are not shaped as Twilio's are; the message says which."""


def _sid(params: Mapping[str, str], name: str, shape: re.Pattern[str], kind: str) -> str:
    value = params.get(name)
    if value is None:
        raise BadParameters(f"{name} is missing")
    if not shape.fullmatch(value):
        raise BadParameters(f"{name} is not a {kind} SID")
    return value


def _account(params: Mapping[str, str], ours: str) -> None:
    if _sid(params, "AccountSid", ACCOUNT_SID, "Twilio account") != ours:
        raise BadParameters("AccountSid is not this app's Twilio account")


def _same_message(params: Mapping[str, str], sid: str) -> None:
    for alias in MESSAGE_SID_ALIASES:
        if alias in params and params[alias] != sid:
            raise BadParameters(f"{alias} is not the MessageSid")


def _media(params: Mapping[str, str]) -> None:
    count = params.get("NumMedia")
    if count is None:
        raise BadParameters("NumMedia is missing")
    media = whole_number(count, MAX_MEDIA)
    if media is None:
        raise BadParameters(f"NumMedia must be a number from 0 to {MAX_MEDIA}")
    expected = {str(index) for index in range(media)}
    for name in params:
        found = _MEDIA_NAME.fullmatch(name)
        if found is not None and found.group(1) not in expected:
            raise BadParameters(f"{name} is there though NumMedia is {count}")
    for index in sorted(expected):
        if not params.get(f"MediaUrl{index}"):
            raise BadParameters(f"MediaUrl{index} is missing though NumMedia is {count}")


def check_message(params: Mapping[str, str], account_sid: str) -> None:
    """An inbound text or MMS: MessageSid, AccountSid (ours) and NumMedia with its media."""
    sid = _sid(params, "MessageSid", MESSAGE_SID, "message")
    _same_message(params, sid)
    _account(params, account_sid)
    _media(params)


def check_call(params: Mapping[str, str], account_sid: str) -> None:
    """A voice webhook: CallSid and AccountSid (ours)."""
    _sid(params, "CallSid", CALL_SID, "call")
    _account(params, account_sid)


def check_status(params: Mapping[str, str], account_sid: str) -> None:
    """A delivery callback: its message SID (MessageSid or SmsSid) and AccountSid (ours)."""
    name = "SmsSid" if "SmsSid" in params and "MessageSid" not in params else "MessageSid"
    sid = _sid(params, name, MESSAGE_SID, "message")
    _same_message(params, sid)
    _account(params, account_sid)
