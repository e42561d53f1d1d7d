"""Whether the configured Twilio credentials work: one page of one message, read with them."""

from __future__ import annotations

import asyncio

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from .config import Settings

TIMEOUT_SECONDS = 10.0


class NoCredentials(Exception):
    """Sandbox mode: there is nothing to check."""


def _check(settings: Settings) -> str:
    assert settings.twilio_account_sid is not None
    api_url = settings.twilio_api_base_url or "https://api.twilio.com"
    # proxies as the gateway resolves them (HTTPS_PROXY, NO_PROXY), for the same address
    http_client = TwilioHttpClient(
        timeout=TIMEOUT_SECONDS, proxy=requests.utils.get_environ_proxies(api_url) or None
    )
    if http_client.session is not None:
        http_client.session.trust_env = False
    client = Client(
        settings.twilio_account_sid, str(settings.twilio_auth_token), http_client=http_client
    )
    if settings.twilio_api_base_url:
        client.api.base_url = settings.twilio_api_base_url
    try:
        # the cheapest call that needs both the Account SID and its auth token
        client.messages.list(limit=1)
    except TwilioRestException as error:
        return _refused(error.status)
    except TwilioException as error:
        # a list page Twilio refused: the library raises ("Unable to fetch page", response)
        status = getattr(error.args[-1] if error.args else None, "status_code", None)
        if isinstance(status, int):
            return _refused(status)
        return f"Twilio's answer could not be read: {error}"
    except requests.RequestException as error:
        return f"Twilio could not be reached: {type(error).__name__}"
    return ""


def _refused(status: int) -> str:
    if status in (401, 403):
        return (
            f"Twilio refused the Account SID and auth token (HTTP {status}): paste them "
            "again from the Twilio console's Account info, then restart."
        )
    if status == 404:
        return f"Twilio knows no account with this Account SID (HTTP {status})."
    return f"Twilio answered HTTP {status} to a read of this account's messages."


async def check(settings: Settings) -> str:
    """'' when Twilio accepts the credentials, else what went wrong; NoCredentials in sandbox."""
    if settings.sandbox:
        raise NoCredentials(
            "no Twilio credentials are set (sandbox mode): set TWILIO_ACCOUNT_SID, "
            "TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER, then restart"
        )
    return await asyncio.to_thread(_check, settings)
