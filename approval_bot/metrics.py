"""Counters and histograms of what the app does, in one Prometheus registry per app."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


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
        self.queue_depth = Gauge(
            "approval_bot_queue_depth",
            "Drafts waiting for a reviewer's decision.",
            registry=self.registry,
        )
        self.oldest_pending_age = Gauge(
            "approval_bot_oldest_pending_age_seconds",
            "How long the oldest pending draft has waited.",
            registry=self.registry,
        )
