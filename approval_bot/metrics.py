"""Counters and histograms of what the app does, in one Prometheus registry per app."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from .review_clocks import WAIT_BUCKETS

if TYPE_CHECKING:
    from .review import DecisionMade

# from seconds to days: a reviewer may answer at once or after a weekend
DECISION_BUCKETS = (
    1,
    5,
    15,
    30,
    60,
    120,
    300,
    600,
    1800,
    3600,
    3 * 3600,
    12 * 3600,
    86400,
    3 * 86400,
)
SEND_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600)


@dataclass(eq=False)  # the registry keeps its collectors in a set
class ReviewDeadlines:
    """The review deadlines' steps and decision times, as their rollups held at the last
    scrape: they count what every process did, and survive a restart."""

    steps: dict[str, float] = field(default_factory=dict)
    # (upper bound in seconds, as the rollup keys it, or "+Inf"; decisions; seconds summed)
    buckets: list[tuple[str, float, float]] = field(default_factory=list)

    def collect(self) -> Iterator[Metric]:
        steps = CounterMetricFamily(
            "approval_bot_review_sla_steps",
            "Review-deadline steps taken on pending replies, by step (reminded, escalated, "
            "holding_sent, holding_unavailable).",
            labels=["step"],
        )
        for step, count in sorted(self.steps.items()):
            steps.add_metric([step], count)
        yield steps
        cumulative, total, seconds = [], 0.0, 0.0
        counted = {le: (n, s) for le, n, s in self.buckets}
        for bound in [*(str(b) for b in WAIT_BUCKETS), "+Inf"]:
            n, s = counted.get(bound, (0.0, 0.0))
            total += n
            seconds += s
            cumulative.append((bound, total))
        yield HistogramMetricFamily(
            "approval_bot_review_business_seconds_to_decision",
            "From a reply becoming pending to a reviewer's decision, in business hours "
            "(BUSINESS_HOURS) only.",
            buckets=cumulative,
            sum_value=seconds,
        )


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
        self.thread_actions = Counter(
            "approval_bot_thread_actions",
            "Takeovers, releases and closes of threads, by who or what made them.",
            ["action", "by"],
            registry=self.registry,
        )
        self.human_takeover_ratio = Gauge(
            "approval_bot_human_takeover_ratio",
            "Threads taken over by a reviewer among threads with activity, the last 7 days.",
            registry=self.registry,
        )
        self.sending_gate_status = Gauge(
            "approval_bot_sending_gate_status",
            "The sending gate's compliance status: 1 on the current one (approved, pending, "
            "rejected), 0 on the others.",
            ["status"],
            registry=self.registry,
        )
        self.sending_stopped = Gauge(
            "approval_bot_sending_stopped",
            "1 while an admin's emergency stop holds every customer message, else 0.",
            registry=self.registry,
        )
        self.held_by_sending_gate = Gauge(
            "approval_bot_held_by_sending_gate",
            "Approved replies waiting because the sending gate is closed.",
            registry=self.registry,
        )
        self.inbound_messages = Counter(
            "approval_bot_inbound_messages",
            "Customer messages the SMS webhook received, by channel and what became of them.",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.missed_calls = Counter(
            "approval_bot_missed_calls",
            "Missed calls the voice webhook recorded.",
            registry=self.registry,
        )
        self.opt_outs = Counter(
            "approval_bot_opt_outs",
            "Customers opting out (direction=out) or back in (direction=in) by keyword.",
            ["direction"],
            registry=self.registry,
        )
        self.drafts = Counter(
            "approval_bot_drafts",
            "Drafts written, by the drafter that wrote them.",
            ["drafter"],
            registry=self.registry,
        )
        self.draft_fallbacks = Counter(
            "approval_bot_draft_fallbacks",
            "Drafts the configured drafter could not write, by reason (timeout, error, malformed).",
            ["reason"],
            registry=self.registry,
        )
        self.drafts_unavailable = Counter(
            "approval_bot_drafts_unavailable",
            "Customer messages sent to a human because no draft could be made.",
            registry=self.registry,
        )
        self.inbound_to_draft_seconds = Histogram(
            "approval_bot_inbound_to_draft_seconds",
            "From storing a customer's message to its draft being ready for review.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.auto_replies = Counter(
            "approval_bot_auto_replies",
            "Automatic replies queued under a pre-approved template, by trigger (help, holding).",
            ["trigger"],
            registry=self.registry,
        )
        self.whatsapp_window_closed = Counter(
            "approval_bot_whatsapp_window_closed",
            "WhatsApp replies sent back to review because the 24-hour window had closed: "
            "Twilio's 63016 (source=twilio) or the sender's own check before sending "
            "(source=sender).",
            ["source"],
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
        self.delivery_statuses = Counter(
            "approval_bot_delivery_statuses",
            "Delivery statuses Twilio reported, by status; each (MessageSid, status) once.",
            ["status"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "approval_bot_decisions",
            "Reviewers' decisions on drafts, by action (APPROVE, EDIT, REJECT) and channel.",
            ["action", "channel"],
            registry=self.registry,
        )
        self.draft_to_decision_seconds = Histogram(
            "approval_bot_draft_to_decision_seconds",
            "From a draft version being ready to a reviewer's decision on it.",
            buckets=DECISION_BUCKETS,
            registry=self.registry,
        )
        self.approve_to_accepted_seconds = Histogram(
            "approval_bot_approve_to_accepted_seconds",
            "From a reply's approval to Twilio accepting it.",
            buckets=SEND_BUCKETS,
            registry=self.registry,
        )

        self.webhook_deliveries = Counter(
            "approval_bot_webhook_deliveries",
            "Webhook delivery attempts by what came of them (delivered, retry, failed, lost).",
            ["result"],
            registry=self.registry,
        )
        self.webhook_deliveries_failed = Gauge(
            "approval_bot_webhook_deliveries_failed",
            "Events a subscription did not accept after every attempt (kept until resent).",
            registry=self.registry,
        )
        self.webhook_deliveries_pending = Gauge(
            "approval_bot_webhook_deliveries_pending",
            "Events waiting to be delivered to a subscription, retries included.",
            registry=self.registry,
        )
        self.rule_pauses = Counter(
            "approval_bot_rule_pauses",
            "Threads the conversation rules paused, by cause (soft_no, confusion, "
            "opt_out_request).",
            ["cause"],
            registry=self.registry,
        )
        self.plain_opt_outs_confirmed = Counter(
            "approval_bot_plain_opt_outs_confirmed",
            "Opt-outs in plain words a reviewer confirmed.",
            registry=self.registry,
        )
        self.appointments = Counter(
            "approval_bot_appointments",
            "Appointments moved into a status (INVITED, BOOKED, and NONE when a new contact "
            "drops a past one).",
            ["status"],
            registry=self.registry,
        )

        self.review_deadlines = ReviewDeadlines()
        self.registry.register(self.review_deadlines)

    def record_decision(self, made: DecisionMade) -> None:
        """Count one committed decision; `review.listen` calls this once per decision."""
        self.decisions.labels(action=made.action, channel=made.channel).inc()
        self.draft_to_decision_seconds.observe(made.waited_seconds)
