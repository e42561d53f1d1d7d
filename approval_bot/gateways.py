"""Gateways that send texts: Twilio through its official client, or the local sandbox."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Protocol

import requests
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from .config import Settings
from .models import now_iso
from .phones import WHATSAPP_PREFIX
from .retry import Outcome, TransportFailure, classify
from .store import Priority, Store
from .store import sending as sending_rows
from .twilio_list import older_than

log = logging.getLogger(__name__)

STATUS_CALLBACK_PATH = "/webhooks/twilio/status"
# how far back a reconciliation looks before the claim it checks: clocks differ a little
RECONCILE_SLACK_SECONDS = 120
# at most this many messages to one number are read back to a claim; then it waits
RECONCILE_LIMIT = 10_000
RECONCILE_PAGE_SIZE = 100
# the number the sandbox "sends" from (one of Twilio's magic test numbers)
SANDBOX_FROM = "+15005550006"


@dataclass(frozen=True)
class OutgoingSms:
    """One text to send; `to` is a Twilio address (`+E164` or `whatsapp:+E164`)."""

    to: str
    body: str
    media_urls: tuple[str, ...] = ()
    # customer messages ask for delivery callbacks; reviewer notifications do not
    status_callback: bool = True
    # a WhatsApp Content template (HX…) and its variables as a JSON string ({"1": …}):
    # sent instead of the body, which is then only our preview of it
    content_sid: str | None = None
    content_variables: str | None = None


@dataclass(frozen=True)
class SendResult:
    """What one attempt came to, with what Twilio said about it."""

    outcome: Outcome
    sid: str | None = None
    status: str | None = None
    http_status: int | None = None
    error_code: int | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class FoundMessage:
    """A message Twilio already holds, found by reconciliation."""

    sid: str
    status: str | None


class GatewayUnreachable(Exception):
    """The gateway could not be asked; nothing can be concluded from it."""


class SmsGateway(Protocol):
    """Sends texts and finds the ones it already sent."""

    async def send(self, message: OutgoingSms) -> SendResult:
        """Try once to send `message`; never raises for what the provider answered."""
        ...

    async def find_sent(self, to: str, body: str, since: datetime) -> FoundMessage | None:
        """The message with this body sent to `to` since `since`, if any.

        Raises GatewayUnreachable when the provider cannot be asked.
        """
        ...

    async def aclose(self) -> None: ...


def _transport_failure(error: requests.RequestException) -> TransportFailure:
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return TransportFailure.NOT_CONNECTED
    if isinstance(error, requests.exceptions.ConnectionError):
        reason = getattr(error.args[0], "reason", None) if error.args else None
        # urllib3 names a connection that was never made NewConnectionError
        if type(reason).__name__ == "NewConnectionError":
            return TransportFailure.NOT_CONNECTED
    return TransportFailure.NO_ANSWER


def _whatsapp(address: str) -> str:
    return address if address.startswith(WHATSAPP_PREFIX) else WHATSAPP_PREFIX + address


class TwilioGateway:
    """Twilio through `twilio.rest.Client`; its blocking calls run on a pool of threads.

    `TWILIO_API_BASE_URL` points the same client at another address (a mock).
    """

    def __init__(self, settings: Settings) -> None:
        if settings.twilio_account_sid is None:
            raise ValueError("TwilioGateway needs TWILIO_ACCOUNT_SID; use the sandbox gateway")
        self._settings = settings
        # proxies from the environment (HTTPS_PROXY, NO_PROXY) are resolved once, here:
        # requests would otherwise walk os.environ twice on every call
        api_url = settings.twilio_api_base_url or "https://api.twilio.com"
        http_client = TwilioHttpClient(
            timeout=settings.send_timeout_seconds,
            proxy=requests.utils.get_environ_proxies(api_url) or None,
        )
        if http_client.session is not None:
            http_client.session.trust_env = False
            # one pooled connection per concurrent send, for http:// mocks as for Twilio
            adapter = HTTPAdapter(pool_maxsize=settings.send_concurrency)
            http_client.session.mount("https://", adapter)
            http_client.session.mount("http://", adapter)
        self._client = Client(
            settings.twilio_account_sid,
            str(settings.twilio_auth_token),
            http_client=http_client,
        )
        if settings.twilio_api_base_url:
            self._client.api.base_url = settings.twilio_api_base_url
        self._http_client = http_client
        self._pool = ThreadPoolExecutor(
            max_workers=settings.send_concurrency, thread_name_prefix="twilio"
        )
        self._callback = settings.public_base_url + STATUS_CALLBACK_PATH

    async def send(self, message: OutgoingSms) -> SendResult:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._send, message)

    def _send(self, message: OutgoingSms) -> SendResult:
        settings = self._settings
        whatsapp = message.to.startswith(WHATSAPP_PREFIX)
        arguments: dict[str, Any] = {"to": message.to}
        if message.content_sid is not None:
            arguments["content_sid"] = message.content_sid
            if message.content_variables is not None:
                arguments["content_variables"] = message.content_variables
        else:
            arguments["body"] = message.body
        if settings.twilio_messaging_service_sid:
            arguments["messaging_service_sid"] = settings.twilio_messaging_service_sid
        else:
            sender = settings.twilio_from_number or ""
            arguments["from_"] = _whatsapp(sender) if whatsapp else sender
        if message.media_urls:
            arguments["media_url"] = list(message.media_urls)
        if message.status_callback:
            arguments["status_callback"] = self._callback
        try:
            created = self._client.messages.create(**arguments)
        except TwilioRestException as error:
            return SendResult(
                classify(error.status, error.code),
                http_status=error.status,
                error_code=error.code,
                error_message=error.msg or f"HTTP {error.status}",
            )
        except requests.RequestException as error:
            failure = _transport_failure(error)
            return SendResult(
                classify(None, None, failure),
                error_message=f"{type(error).__name__}: no answer from Twilio ({failure})",
            )
        except TwilioException as error:  # an answer the client could not read
            return SendResult(Outcome.UNCERTAIN, error_message=f"unreadable answer: {error}")
        return SendResult(Outcome.ACCEPTED, sid=created.sid, status=created.status)

    async def find_sent(self, to: str, body: str, since: datetime) -> FoundMessage | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._find_sent, to, body, since)

    def _find_sent(self, to: str, body: str, since: datetime) -> FoundMessage | None:
        def ours(message: Any) -> bool:
            return message.body == body and str(message.direction or "").startswith("outbound")

        try:
            # every message to that number, newest first, page by page (the library follows
            # next_page_uri), back to the claim: queued ones included, however many came since
            for read, message in enumerate(
                self._client.messages.stream(to=to, page_size=RECONCILE_PAGE_SIZE), start=1
            ):
                if older_than(message.date_sent, message.date_created, since):
                    return None
                if ours(message):
                    return FoundMessage(message.sid, message.status)
                if read >= RECONCILE_LIMIT:
                    # absence cannot be concluded: sending again could send it twice
                    raise GatewayUnreachable(
                        f"over {RECONCILE_LIMIT} messages to {to} since {since.isoformat()}"
                    )
        except (TwilioException, requests.RequestException) as error:
            raise GatewayUnreachable(f"could not list Twilio's messages: {error}") from error
        return None

    async def aclose(self) -> None:
        self._pool.shutdown(wait=True)
        if self._http_client.session is not None:
            self._http_client.session.close()


class SandboxGateway:
    """No network: what it "sends" is written to `sandbox_messages` for the phone simulator."""

    def __init__(self, db: Store, from_address: str = SANDBOX_FROM) -> None:
        self._db = db
        self._from = from_address

    async def send(self, message: OutgoingSms) -> SendResult:
        sid = "SM" + uuid.uuid4().hex
        record = partial(
            sending_rows.add_sandbox_message,
            sid=sid,
            to_address=message.to,
            from_address=self._from,
            body=message.body,
            media=json.dumps(message.media_urls),
            created_at=now_iso(),
        )
        # the sender waits on this "send": it goes with the sender's writes
        await self._db.write(record, priority=Priority.DECISION)
        # the simulator shows it at once: as far as anyone can tell, it was delivered
        return SendResult(Outcome.ACCEPTED, sid=sid, status="delivered")

    async def find_sent(self, to: str, body: str, since: datetime) -> FoundMessage | None:
        sid = await sending_rows.find_sandbox_message(
            self._db, to, body, since.isoformat(timespec="microseconds")
        )
        return FoundMessage(sid, "delivered") if sid is not None else None

    async def aclose(self) -> None:
        return None


def build_gateway(settings: Settings, db: Store) -> SmsGateway:
    """Twilio when credentials are set, the sandbox otherwise."""
    if settings.sandbox:
        return SandboxGateway(db)
    return TwilioGateway(settings)
