"""The command language reviewers text from their phones, parsed without any I/O.

`parse` never raises: whatever arrives, it answers with one of the command dataclasses
below, and an `Approve`, `Edit` or `Reject` only ever carries a well-formed draft code.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

# 4 characters without the look-alikes 0/O and 1/I/L
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 4
_CODE = re.compile(f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}")


def draw_code() -> str:
    """A random candidate code; whether it is free is the database's to say."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


@dataclass(frozen=True)
class Approve:
    code: str
    anyway: bool = False  # A CODE ANYWAY: approve though another reviewer is editing it


@dataclass(frozen=True)
class Edit:
    code: str
    text: str


@dataclass(frozen=True)
class Reject:
    code: str
    reason: str | None


@dataclass(frozen=True)
class Pause:
    code: str


@dataclass(frozen=True)
class Resume:
    code: str


@dataclass(frozen=True)
class ConfirmOptOut:
    """OPTOUT CODE: the held text was an opt-out in plain words; opt the customer out."""

    code: str


@dataclass(frozen=True)
class NotOptOut:
    """KEEP CODE: the held text was not an opt-out; resume and draft it."""

    code: str


@dataclass(frozen=True)
class ListOpen:
    pass


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class NeedsCode:
    """A command, or a bare "ok"/"yes"/"👍", without a usable code: nothing is decided."""

    verb: str
    given: str | None = None  # what stood where the code should be, if anything


@dataclass(frozen=True)
class NeedsText:
    """EDIT with a code but no new text."""

    code: str


@dataclass(frozen=True)
class PastedNotice:
    """EDIT whose new text holds lines of a notice the reviewer was sent ("Draft: "...""):
    nothing is sent, lest the customer get them."""

    code: str


@dataclass(frozen=True)
class Several:
    """More than one command in one text ("A 7F3K" and "A 9QWR" on two lines): nothing is
    done, lest the second become an edit's words or a rejection's reason."""

    codes: tuple[str, ...]


@dataclass(frozen=True)
class Unknown:
    text: str


Command = (
    Approve
    | Edit
    | Reject
    | Pause
    | Resume
    | ConfirmOptOut
    | NotOptOut
    | ListOpen
    | Help
    | NeedsCode
    | NeedsText
    | PastedNotice
    | Several
    | Unknown
)

_VERBS = {
    "A": "APPROVE",
    "APPROVE": "APPROVE",
    "Y": "APPROVE",
    "E": "EDIT",
    "EDIT": "EDIT",
    "R": "REJECT",
    "REJECT": "REJECT",
    "P": "PAUSE",
    "PAUSE": "PAUSE",
    "RESUME": "RESUME",
    "OPTOUT": "OPTOUT",
    "KEEP": "KEEP",
    "L": "LIST",
    "LIST": "LIST",
    "H": "HELP",
    "HELP": "HELP",
    "?": "HELP",
}
# what people text when they mean "yes" but give no code
_BARE_YES = {"ok", "okay", "k", "yes", "yeah", "yep", "sure", "y", "👍", "👍🏻", "👌", "✅", "go"}

HELP_TEXT = (
    "Commands: A CODE approve · E CODE new text (edit & approve) · R CODE [reason] reject · "
    "P CODE pause thread · RESUME CODE · OPTOUT CODE / KEEP CODE answer an opt-out in "
    "plain words · L list open codes · H help"
)


# how the lines of the texts sent to reviewers begin (sms_text): never words for a customer
_NOTICE_LINE = re.compile(
    r'^(Draft [A-Z0-9]{4} for |They wrote: "|Draft: "|Reply A [A-Z0-9]{4} |'
    r"Not in FAQ/profile: |Reminder: draft |Overdue: draft )",
    re.MULTILINE,
)
# what phones put around a word: punctuation, quotes, emoji, a zero-width space
_AROUND = re.compile(r"^[\W_]+|[\W_]+$")
# said after a command, they change nothing ("A 7F3K thanks 👍")
_THANKS = {"thanks", "thank you", "thankyou", "thx", "ty", "cheers"}


def _bare(word: str) -> str:
    return _AROUND.sub("", word)


def _code(token: str) -> str | None:
    candidate = _bare(token)
    if not candidate.isascii():  # "ſ".upper() is "S": only plain letters make a code
        return None
    candidate = candidate.upper()
    return candidate if _CODE.fullmatch(candidate) else None


def _start(text: str) -> tuple[str | None, str, str]:
    """A text's verb (None when it starts with none), the word after it, and the rest."""
    head, rest = (re.split(r"\s+", text, maxsplit=1) + [""])[:2]
    verb = _VERBS.get(head.upper()) or _VERBS.get(_bare(head).upper())
    if verb is None:
        # "A7F3K": read only when the code has a digit, so that no word ("RESET") is one
        glued = _bare(head)
        verb = _VERBS.get(glued[:-CODE_LENGTH].upper())
        code = _code(glued[-CODE_LENGTH:])
        if verb in (None, "LIST", "HELP") or code is None or code.isalpha():
            return None, "", ""
        return verb, code, rest
    token, tail = (re.split(r"\s+", rest, maxsplit=1) + [""])[:2]
    return verb, token, tail


def _codes(line: str) -> list[str]:
    """The codes one line's commands name: its own, and each right after the one before
    ("A 7F3K A 9QWR"), unless that is an edit's new text or reads as a rejection's reason."""
    codes: list[str] = []
    while True:
        verb, token, tail = _start(line)
        code = None if verb in (None, "LIST", "HELP") else _code(token)
        if code is None:
            return codes
        codes.append(code)
        line = tail.strip()
        if verb == "EDIT" or (verb == "REJECT" and not isinstance(_one(line), _CODED)):
            return codes  # "R 7F3K A date was wrong": the reason


def parse(text: str) -> Command:
    """Read one reviewer text: case-insensitive; extra spaces, punctuation and emoji around
    the words, a leading "ok" and a trailing "thanks" allowed."""
    stripped = text.strip()
    yes, rest = (re.split(r"\s+", stripped, maxsplit=1) + [""])[:2]
    if rest and yes.rstrip(".,!").lower() in _BARE_YES and _VERBS.get(yes.upper()) is None:
        after = _commands(rest)  # "ok A 7F3K"
        if not isinstance(after, Unknown):
            return after
    return _commands(stripped)


def _commands(stripped: str) -> Command:
    """The one command a text holds, or Several when it holds more."""
    first, *others = stripped.splitlines() or [""]
    codes = _codes(first) + [
        code for line in others if isinstance(_one(line.strip()), _CODED) for code in _codes(line)
    ]
    if len(codes) > 1:
        return Several(tuple(codes))
    return _one(stripped)


def _one(stripped: str) -> Command:
    """One command, its text stripped; an edit's text or a reason may run over lines."""
    if stripped.rstrip(".!").strip().lower() in _BARE_YES:
        return NeedsCode("APPROVE")
    verb, token, tail = _start(stripped)
    if verb is None:
        return Unknown(stripped)
    if verb in ("LIST", "HELP"):
        if _bare(token):
            return Unknown(stripped)
        return ListOpen() if verb == "LIST" else Help()
    code = _code(token)
    if code is None:
        return NeedsCode(verb, token.rstrip(".") or None)
    tail = tail.strip()
    if verb == "EDIT" and _NOTICE_LINE.search(tail):
        return PastedNotice(code)
    if verb == "EDIT":
        return Edit(code, tail) if tail else NeedsText(code)
    if verb == "REJECT":
        return Reject(code, tail or None)
    if "?" in stripped:
        return Unknown(stripped)  # "A 7F3K?" asks rather than decides
    words = " ".join(re.sub(r"[\W_]+", " ", tail).split()).lower()
    if verb == "APPROVE" and words == "anyway":
        return Approve(code, anyway=True)
    if words and words not in _THANKS:
        return Unknown(stripped)  # "A 7F3K and more" is not a clear approval
    simple: dict[str, type[Approve | Pause | Resume | ConfirmOptOut | NotOptOut]] = {
        "APPROVE": Approve,
        "PAUSE": Pause,
        "RESUME": Resume,
        "OPTOUT": ConfirmOptOut,
        "KEEP": NotOptOut,
    }
    return simple[verb](code)


# the commands that act on a code
_CODED = (Approve, Edit, PastedNotice, Reject, Pause, Resume, ConfirmOptOut, NotOptOut)
