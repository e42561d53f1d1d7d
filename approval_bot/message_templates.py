"""Editable message templates: validation at save time, rendering, and the audited change funnel.

A body's placeholders are `{name}` over a fixed set of variables (`VARIABLES`), parsed with
`string.Formatter`; an unknown one, or a body that could be over 1,600 characters once
filled with the longest values its variables may have, is refused when it is saved, so
rendering never fails at send time and Twilio never refuses the body for its length. A
pre-approval (an admin's decision made in advance, for the one trigger the template's key
answers) holds only for the exact body it was given: every edit clears it.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from . import audit
from .models import Actor, Role, now_iso
from .phones import E164_CHARS
from .profile import ADDRESS_CHARS, LINE_CHARS, LINK_CHARS, SIGN_OFF_CHARS, Profile
from .sms_text import NUL
from .store import Priority, Reads, Store, Tx
from .store import templates as template_rows

MAX_BODY = 1600  # Twilio's limit for one message body
CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
KEY = re.compile(r"[a-z0-9_]{1,40}")
EVENT_UPDATED = "Template Updated"
EVENT_PRE_APPROVED = "Template Pre-Approved"
EVENT_PRE_APPROVAL_CLEARED = "Template Pre-Approval Cleared"
ADMINS_ONLY = "only an admin can pre-approve a template"

# The variables a body may name: the customer's, and the business profile's fields that
# read as text in a message (`variable_values` fills them).
VARIABLES = (
    "customer_name",
    "business_name",
    "business_phone",
    "booking_link",
    "business_address",
    "sign_off",
)
CUSTOMER_NAME_CHARS = 100  # a longer name in the facts is not used
# the most characters each variable can fill in: the profile's own limits
LONGEST_VALUE = {
    "customer_name": CUSTOMER_NAME_CHARS,
    "business_name": LINE_CHARS,
    "business_phone": E164_CHARS,
    "booking_link": LINK_CHARS,
    "business_address": ADDRESS_CHARS,
    "sign_off": SIGN_OFF_CHARS,
}


class Channel(StrEnum):
    SMS = "sms"
    WHATSAPP = "whatsapp"
    ANY = "any"


class Trigger(StrEnum):
    """What may send a pre-approved template without a decision on that very message."""

    HELP = "help"  # the HELP / INFO keywords
    HOLDING = "holding"  # the review deadline's holding reply


# a trigger answers with the template of the same key; no other template can be pre-approved
TRIGGER_KEYS = {trigger: trigger.value for trigger in Trigger}

# the texts the code uses when a template is missing (and the seeds of migration 0012)
DEFAULTS: dict[str, str] = {
    "greeting": "Hi! Thanks for getting in touch. How can we help you today?",
    "help": "We're here to help. Tell us what you need and a member of our team will "
    "get back to you shortly.",
    "fallback": "Thanks for your message. A member of our team will get back to you shortly.",
    "missed_call": "Sorry we missed your call! How can we help? Reply here and we'll "
    "get back to you as soon as we can.",
    "holding": "Thanks for your message, a person will reply shortly.",
    "opt_out_confirmation": "You have successfully been unsubscribed. You will not receive any "
    "more messages from this number. Reply START to resubscribe.",
}


class InvalidTemplate(ValueError):
    """A template that cannot be saved; `field` names the part that is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownTemplate(LookupError):
    """No template with that key."""


class NotAdmin(PermissionError):
    """Pre-approving (or withdrawing a pre-approval) needs an admin."""


def placeholders(body: str) -> list[str]:
    """The variables `body` names, in order of first appearance; InvalidTemplate otherwise.

    `{{` and `}}` are literal braces. A placeholder is a bare name from VARIABLES: no
    attribute, index, conversion or format spec, so rendering cannot fail later.
    """
    try:
        parsed = list(string.Formatter().parse(body))
    except ValueError as error:
        raise InvalidTemplate("body", f"body: {error} (write {{{{ or }}}} for a brace)") from None
    names: list[str] = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in VARIABLES:
            shown = name or "{}"
            raise InvalidTemplate(
                "body",
                f"body: unknown placeholder {{{shown}}}; the variables are "
                + ", ".join(f"{{{v}}}" for v in VARIABLES),
            )
        if spec or conversion:
            raise InvalidTemplate(
                "body", f"body: the placeholder {{{name}}} takes no format or conversion"
            )
        if name not in names:
            names.append(name)
    return names


def check(key: str, body: str, channel: str, content_sid: str | None) -> list[str]:
    """Validate a template as it would be saved; returns the variables its body uses."""
    if KEY.fullmatch(key) is None:
        raise InvalidTemplate("key", "key: 1–40 of a–z, 0–9 and _")
    if not body.strip():
        raise InvalidTemplate("body", "body: a template needs some text")
    if NUL in body:
        # every door refuses it before this (the web and API at their edge, the command
        # line as it reads standard input); kept for any other caller of check
        raise InvalidTemplate("body", "body: a NUL character, which no message can carry")
    if len(body) > MAX_BODY:
        raise InvalidTemplate(
            "body", f"body: {len(body)} characters, over the {MAX_BODY} one message may have"
        )
    names = placeholders(body)
    longest = longest_filled(body)
    if longest > MAX_BODY:
        raise InvalidTemplate(
            "body",
            f"body: up to {longest} characters once "
            + ", ".join(f"{{{name}}} ({LONGEST_VALUE[name]} at most)" for name in names)
            + f" {'is' if len(names) == 1 else 'are'} filled in, over the {MAX_BODY} one "
            "message may have",
        )
    if channel not in tuple(Channel):
        raise InvalidTemplate("channel", "channel: sms, whatsapp or any")
    if content_sid is not None:
        if CONTENT_SID.fullmatch(content_sid) is None:
            raise InvalidTemplate("content_sid", "content_sid: HX followed by 32 hex digits")
        if channel != Channel.WHATSAPP:
            raise InvalidTemplate(
                "content_sid", "content_sid: only a WhatsApp template is a Content template"
            )
    return names


def longest_filled(body: str) -> int:
    """The most characters `body` can have once filled: each placeholder, each time it
    appears, with the longest value its variable may have."""
    return len(render(body, {name: "x" * LONGEST_VALUE[name] for name in VARIABLES}))


def body_hash(body: str) -> str:
    """The SHA-256 a pre-approval is bound to."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def render(body: str, values: Mapping[str, str]) -> str:
    """`body` with its placeholders filled; a variable without a value becomes empty."""
    return string.Formatter().vformat(body, (), {name: values.get(name, "") for name in VARIABLES})


def content_variables(names: list[str], values: Mapping[str, str]) -> dict[str, str]:
    """Twilio's ContentVariables for a Content template: {"1": first variable's value, …}."""
    return {str(number): values.get(name, "") for number, name in enumerate(names, start=1)}


def variable_values(
    *,
    business_phone: str | None,
    profile: Profile | None,
    facts: Mapping[str, object] | None = None,
) -> dict[str, str]:
    """The values of VARIABLES known now, for filling a template.

    The one place they are gathered. `customer_name` is the name the conversation's `facts`
    hold. `business_phone` is the number the customer wrote to, unless the business profile
    gives its own; the profile, when one is set, also gives the business's name, address,
    booking link and sign-off.
    """
    values = {name: "" for name in VARIABLES}
    name = (facts or {}).get("name")
    if isinstance(name, str) and 0 < len(name.strip()) <= CUSTOMER_NAME_CHARS:
        values["customer_name"] = name.strip()
    if business_phone:
        values["business_phone"] = business_phone.removeprefix("whatsapp:")
    if profile is not None:
        values["business_name"] = profile.name
        values["business_phone"] = profile.phone or values["business_phone"]
        values["business_address"] = profile.address or ""
        values["booking_link"] = profile.booking_link or ""
        values["sign_off"] = profile.sign_off or ""
    return values


@dataclass(frozen=True)
class Template:
    key: str
    body: str
    channel: str
    content_sid: str | None
    variables: list[str]
    pre_approved_by: int | None
    pre_approved_by_name: str | None
    pre_approved_at: str | None
    pre_approved_hash: str | None
    updated_by: int | None
    updated_by_name: str | None
    updated_at: str

    @property
    def pre_approved(self) -> bool:
        """A pre-approval holds only for the exact body it was given."""
        return self.pre_approved_hash is not None and self.pre_approved_hash == body_hash(self.body)

    @classmethod
    def from_row(cls, row: Any) -> Template:
        return cls(
            key=row["key"],
            body=row["body"],
            channel=row["channel"],
            content_sid=row["content_sid"],
            variables=list(json.loads(row["variables"])),
            pre_approved_by=row["pre_approved_by"],
            pre_approved_by_name=row["pre_approved_by_name"],
            pre_approved_at=row["pre_approved_at"],
            pre_approved_hash=row["pre_approved_hash"],
            updated_by=row["updated_by"],
            updated_by_name=row["updated_by_name"],
            updated_at=row["updated_at"],
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "body": self.body,
            "channel": self.channel,
            "content_sid": self.content_sid,
            "variables": self.variables,
            "pre_approved": self.pre_approved,
            "trigger": self.key if self.key in TRIGGER_KEYS.values() else None,
            "pre_approved_by": self.pre_approved_by_name,
            "pre_approved_at": self.pre_approved_at,
            "updated_by": self.updated_by_name,
            "updated_at": self.updated_at,
        }


def get(conn: Tx, key: str) -> Template | None:
    """One template by key, inside a transaction (or a `Tx.on` a plain connection)."""
    row = template_rows.get(conn, key)
    return Template.from_row(row) if row is not None else None


async def list_all(db: Reads) -> list[Template]:
    """Every template, by key (a handful of rows)."""
    return [Template.from_row(row) for row in await template_rows.read_all(db)]


async def fetch(db: Reads, key: str) -> Template | None:
    row = await template_rows.read(db, key)
    return Template.from_row(row) if row is not None else None


@dataclass(frozen=True)
class Change:
    """What a save asks for: a new body, channel and content SID, and the pre-approval."""

    body: str
    channel: str = Channel.ANY
    content_sid: str | None = None
    pre_approved: bool | None = None  # None: leave it (an edit clears it all the same)


async def save(db: Store, key: str, change: Change, actor_id: int | None, role: Role) -> Template:
    """Create or change a template, audited; an edited body loses its pre-approval.

    Raises InvalidTemplate (nothing saved), NotAdmin when a non-admin asks to change the
    pre-approval.
    """
    variables = check(key, change.body, change.channel, change.content_sid)
    if change.pre_approved is not None and role is not Role.ADMIN:
        raise NotAdmin(ADMINS_ONLY)
    return await db.write(
        lambda conn: save_in(conn, key, change, variables, actor_id), priority=Priority.DECISION
    )


def save_in(
    conn: Tx,
    key: str,
    change: Change,
    variables: list[str],
    actor_id: int | None,
) -> Template:
    """The one funnel for template changes, inside the caller's write transaction.

    Writes the row and its audit rows together: "Template Updated" for a changed body,
    channel or SID, "Template Pre-Approved" / "Template Pre-Approval Cleared" for the
    pre-approval (which an edited body always clears).
    """
    old = get(conn, key)
    now = now_iso()
    edited = old is None or (old.body, old.channel, old.content_sid) != (
        change.body,
        change.channel,
        change.content_sid,
    )
    was_approved = old is not None and old.pre_approved_hash is not None
    approve = change.pre_approved is True and (key in TRIGGER_KEYS.values())
    if change.pre_approved is True and not approve:
        raise InvalidTemplate(
            "pre_approved",
            "pre_approved: only the templates of a trigger ("
            + ", ".join(TRIGGER_KEYS.values())
            + ") can be pre-approved",
        )
    keep = was_approved and not edited and change.pre_approved is None
    if approve:
        approval: tuple[Any, Any, Any] = (actor_id, now, body_hash(change.body))
    elif keep:
        assert old is not None
        approval = (old.pre_approved_by, old.pre_approved_at, old.pre_approved_hash)
    else:
        approval = (None, None, None)
    # a pre-approval alone changes who approved, not who last edited
    updated = (actor_id, now) if edited or old is None else (old.updated_by, old.updated_at)
    template_rows.put(
        conn,
        key=key,
        body=change.body,
        channel=change.channel,
        content_sid=change.content_sid,
        variables=json.dumps(variables),
        pre_approved_by=approval[0],
        pre_approved_at=approval[1],
        pre_approved_hash=approval[2],
        updated_by=updated[0],
        updated_at=updated[1],
    )
    actor = Actor.SYSTEM if actor_id is None else Actor.HUMAN

    def record(event: str, metadata: dict[str, Any]) -> None:
        audit.record(
            conn,
            audit.AuditEvent(
                event=event, actor=actor, actor_id=actor_id, metadata={"key": key, **metadata}
            ),
        )

    if edited:
        record(
            EVENT_UPDATED,
            {
                "before": None if old is None else old.body,
                "after": change.body,
                "channel": change.channel,
                "content_sid": change.content_sid,
                "created": old is None,
            },
        )
    if approve:
        record(EVENT_PRE_APPROVED, {"trigger": key, "body_hash": approval[2]})
    elif was_approved and approval[2] is None:
        reason = "the template was edited" if edited else "withdrawn"
        record(EVENT_PRE_APPROVAL_CLEARED, {"trigger": key, "reason": reason})
    new = get(conn, key)
    assert new is not None
    return new


async def pre_approve(db: Store, key: str, approved: bool, actor_id: int, role: Role) -> Template:
    """Pre-approve a trigger's template as it stands (or withdraw it); admins only."""
    if role is not Role.ADMIN:
        raise NotAdmin(ADMINS_ONLY)

    def change(conn: Tx) -> Template:
        old = get(conn, key)
        if old is None:
            raise UnknownTemplate(f"no template {key!r}")
        if approved:  # one saved before its filled length was checked may not fit
            check(key, old.body, old.channel, old.content_sid)
        same = Change(old.body, old.channel, old.content_sid, pre_approved=approved)
        return save_in(conn, key, same, old.variables, actor_id)

    return await db.write(change, priority=Priority.DECISION)


@dataclass(frozen=True)
class PreApproval:
    """A trigger's template as it was pre-approved: the body and who decided it, when."""

    key: str
    body: str
    admin_id: int
    admin_name: str | None
    approved_at: str
    body_hash: str


def pre_approval(conn: Tx, trigger: Trigger, channel: str) -> PreApproval | None:
    """The trigger's template when it is pre-approved for this body and usable on `channel`."""
    template = get(conn, TRIGGER_KEYS[trigger])
    if template is None or not template.pre_approved or template.content_sid is not None:
        return None
    if template.channel not in (Channel.ANY, channel):
        return None
    assert template.pre_approved_by is not None and template.pre_approved_at is not None
    return PreApproval(
        template.key,
        template.body,
        template.pre_approved_by,
        template.pre_approved_by_name,
        template.pre_approved_at,
        body_hash(template.body),
    )
