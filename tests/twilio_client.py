"""An app under TestClient, and webhooks signed exactly as Twilio signs them."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from approval_bot.app import create_app
from approval_bot.config import Settings
from approval_bot.drafting import DraftingService
from approval_bot.store import Store
from approval_bot.store.sql import sql
from approval_bot.web.twilio_edge import our_account_sid
from tests.builders import approve_sending

PUBLIC = "https://bot.example.com"
BUSINESS = "+14155550199"
CUSTOMER = "+14155550100"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

T = TypeVar("T")
# a thread's messages in the order they were stored: PostgreSQL has no rowid, so ties on
# the timestamp go by each message's first audit row (written in the same transaction)
_MESSAGES = sql(
    "SELECT * FROM messages WHERE thread_id = :thread ORDER BY timestamp, rowid",
    postgres="SELECT * FROM messages WHERE thread_id = :thread ORDER BY timestamp,"
    " (SELECT min(id) FROM audit_log WHERE message_id = messages.id) NULLS LAST",
)
_sids = itertools.count(1)


def new_sid(prefix: str = "SM") -> str:
    return f"{prefix}{next(_sids):032x}"


def sign(settings: Settings, url: str, params: dict[str, str]) -> str:
    return str(RequestValidator(str(settings.twilio_auth_token)).compute_signature(url, params))


class Twilio:
    """Posts webhooks to a running app as Twilio would, and looks into its database."""

    def __init__(self, client: TestClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    @property
    def db(self) -> Store:
        return self.client.app_state["db"]  # type: ignore[no-any-return]

    @property
    def drafting(self) -> DraftingService:
        return self.client.app_state["drafting"]  # type: ignore[no-any-return]

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        assert self.client.portal is not None
        return self.client.portal.call(functools.partial(fn, *args, **kwargs))

    def post(self, path: str, params: dict[str, str], *, signature: str | None = None) -> Any:
        if signature is None:
            signature = sign(self.settings, PUBLIC + path, params)
        headers = {**FORM, "X-Twilio-Signature": signature} if signature else dict(FORM)
        return self.client.post(path, content=urlencode(params), headers=headers)

    def text(self, body: str, *, sender: str = CUSTOMER, wait: bool = True, **extra: str) -> Any:
        params = {
            "MessageSid": new_sid(),
            "AccountSid": our_account_sid(self.settings),
            "From": sender,
            "To": BUSINESS,
            "Body": body,
            "NumMedia": "0",
            **extra,
        }
        response = self.post("/webhooks/twilio/sms", params)
        if wait:
            self.settle()
        return response

    def call(self, *, caller: str = CUSTOMER, sid: str | None = None) -> Any:
        params = {
            "CallSid": sid or new_sid("CA"),
            "AccountSid": our_account_sid(self.settings),
            "From": caller,
            "To": BUSINESS,
            "CallStatus": "ringing",
        }
        response = self.post("/webhooks/twilio/voice", params)
        self.settle()
        return response

    def settle(self) -> None:
        """Wait until the drafting the last requests started is done."""
        self.run(self.drafting.wait_idle)

    def rows(self, text: str, *params: Any, **named: Any) -> list[Any]:
        """Rows of a query with `:name` parameters (either backend); `?` ones: SQLite only."""
        if params:
            return self.run(self.db.fetchall, text, params)
        return self.run(self.db.all, sql(text), **named)

    def messages(self, thread: str = CUSTOMER) -> list[Any]:
        return self.run(self.db.all, _MESSAGES, thread=thread)

    def events(self, thread: str = CUSTOMER) -> list[str]:
        return [
            row["event"]
            for row in self.rows(
                "SELECT event FROM audit_log WHERE thread_id = :thread ORDER BY id", thread=thread
            )
        ]

    def conversation(self, thread: str = CUSTOMER) -> Any:
        rows = self.rows(
            """
            SELECT * FROM conversations JOIN thread_controls USING (thread_id)
            WHERE thread_id = :thread
            """,
            thread=thread,
        )
        return rows[0] if rows else None

    def count(self, table: str) -> int:
        assert table.isidentifier()
        return int(self.rows(f"SELECT count(*) AS n FROM {table}")[0]["n"])


@contextmanager
def running(settings: Settings) -> Iterator[Twilio]:
    with TestClient(create_app(settings)) as client:
        twilio = Twilio(client, settings)
        if not settings.sandbox:
            # with credentials the gate starts pending; these tests send as after an approve
            twilio.run(approve_sending, twilio.db)
        yield twilio
