"""Counters and histograms of what the app does, in one Prometheus registry per app."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class Metrics:
    """The app's instruments; each app (and each test) has its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.webhook_signature_failures = Counter(
            "approval_bot_webhook_signature_failures",
            "Webhook requests refused because X-Twilio-Signature did not match.",
            ["endpoint"],
            registry=self.registry,
        )
        self.sends = Counter(
            "approval_bot_sends",
            "Send attempts by what they came to (accepted, retry, uncertain, rejected, opted_out).",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.delivery_callbacks = Counter(
            "approval_bot_delivery_callbacks",
            "Delivery status callbacks by what they did (applied, duplicate, stale, unknown).",
            ["result"],
            registry=self.registry,
        )
