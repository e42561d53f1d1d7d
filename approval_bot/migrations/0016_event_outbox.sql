-- Events out: the transactional outbox, the webhook subscriptions that receive it, and the
-- state of each event's delivery to each subscription.

-- The inbound MessageSid that started a message's chain: a customer's message carries its
-- own, drafts, decisions and replies carry the one of the message they answer.
ALTER TABLE messages ADD COLUMN correlation_id TEXT;

-- One row per domain event, written in the transaction of the change that caused it. `seq`
-- orders events as they were committed (the writer is the only one); `id` is the event's
-- stable UUID, the `webhook-id` consumers deduplicate on.
CREATE TABLE event_outbox (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    type           TEXT NOT NULL CHECK (type GLOB '[a-z]*.[a-z]*'),
    schema_version INTEGER NOT NULL CHECK (schema_version >= 1),
    occurred_at    TEXT NOT NULL,
    thread_id      TEXT,
    correlation_id TEXT,
    data           TEXT NOT NULL CHECK (json_valid(data))
);

CREATE TABLE webhook_subscriptions (
    id          INTEGER PRIMARY KEY,
    url         TEXT NOT NULL CHECK (url GLOB 'http://*' OR url GLOB 'https://*'),
    secret      TEXT NOT NULL CHECK (secret GLOB 'whsec_*'),
    -- a JSON list of event types, or the JSON string "*" for every type
    event_types TEXT NOT NULL CHECK (json_valid(event_types)),
    active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_by  INTEGER REFERENCES reviewers (id),
    created_at  TEXT NOT NULL
);

-- One row per event and subscription that wants it, made when the event is emitted.
-- `thread_id` and the row's own id order a subscription's deliveries per conversation.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    event_id        TEXT NOT NULL REFERENCES event_outbox (id) ON DELETE CASCADE,
    subscription_id INTEGER NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    thread_id       TEXT,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TEXT NOT NULL,
    claimed_at      TEXT,
    last_status     INTEGER,
    last_error      TEXT,
    delivered_at    TEXT,
    UNIQUE (event_id, subscription_id)
);

-- the delivery job's due rows: pending ones only, as many as are waiting
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
-- "is an earlier event of this conversation still waiting for this subscription?"
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (subscription_id, thread_id, id)
    WHERE status = 'pending';
-- the Webhooks page: a subscription's latest deliveries, and its failed ones
CREATE INDEX webhook_deliveries_recent ON webhook_deliveries (subscription_id, id);
CREATE INDEX webhook_deliveries_failed ON webhook_deliveries (subscription_id)
    WHERE status = 'failed';
-- retention: the oldest events first
CREATE INDEX event_outbox_occurred ON event_outbox (occurred_at);
