-- The four tables of the original data model (messages, approvals, audit_log,
-- thread_controls) with their original columns, the columns the product adds, and the
-- tables it needs besides. Every enum column has its CHECK.

CREATE TABLE reviewers (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (length(trim(name)) > 0),
    phone         TEXT UNIQUE CHECK (phone IS NULL OR phone GLOB '+[1-9][0-9]*'),
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'reviewer' CHECK (role IN ('admin', 'reviewer')),
    notify_sms    INTEGER NOT NULL DEFAULT 1 CHECK (notify_sms IN (0, 1)),
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at    TEXT NOT NULL
);

CREATE TABLE conversations (
    thread_id        TEXT PRIMARY KEY,
    channel          TEXT NOT NULL DEFAULT 'sms' CHECK (channel IN ('sms', 'whatsapp')),
    state            TEXT NOT NULL DEFAULT 'ACTIVE'
                     CHECK (state IN ('ACTIVE', 'NEEDS_ATTENTION', 'ARCHIVED')),
    sentiment        TEXT NOT NULL DEFAULT 'UNKNOWN'
                     CHECK (sentiment IN ('POSITIVE', 'NEUTRAL', 'NEGATIVE', 'UNKNOWN')),
    opted_out        INTEGER NOT NULL DEFAULT 0 CHECK (opted_out IN (0, 1)),
    attention_reason TEXT,
    last_activity_at TEXT NOT NULL,
    created_at       TEXT NOT NULL
);

CREATE TABLE thread_controls (
    thread_id     TEXT PRIMARY KEY REFERENCES conversations (thread_id),
    paused        BOOLEAN NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    paused_reason TEXT,
    last_updated  TEXT NOT NULL
);

CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    thread_id       TEXT NOT NULL REFERENCES conversations (thread_id),
    in_reply_to_id  TEXT REFERENCES messages (id),
    sender          TEXT NOT NULL,
    receiver        TEXT NOT NULL,
    body            TEXT NOT NULL,
    media           TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(media)),
    status          TEXT NOT NULL CHECK (status IN (
                        'RECEIVED', 'DRAFT_PENDING_APPROVAL', 'NEEDS_REVIEW', 'PAUSED_THREAD',
                        'APPROVED_TO_SEND', 'REJECTED', 'SUPERSEDED', 'SENT', 'FAILED_SEND')),
    type            TEXT NOT NULL CHECK (type IN ('INBOUND', 'DRAFT', 'OUTBOUND')),
    timestamp       TEXT NOT NULL,
    draft_version   INTEGER NOT NULL DEFAULT 1 CHECK (draft_version >= 1),
    -- additions
    channel         TEXT NOT NULL DEFAULT 'sms' CHECK (channel IN ('sms', 'whatsapp')),
    provider_sid    TEXT UNIQUE,
    delivery_status TEXT CHECK (delivery_status IS NULL OR delivery_status IN (
                        'queued', 'accepted', 'scheduled', 'canceled', 'sending', 'sent',
                        'delivered', 'undelivered', 'failed', 'read', 'partially_delivered',
                        'receiving', 'received')),
    error_code      INTEGER,
    error_message   TEXT,
    send_attempts   INTEGER NOT NULL DEFAULT 0 CHECK (send_attempts >= 0),
    next_attempt_at TEXT,
    claimed_at      TEXT,
    superseded_by   TEXT REFERENCES messages (id),
    sentiment       TEXT CHECK (sentiment IS NULL OR sentiment IN (
                        'POSITIVE', 'NEUTRAL', 'NEGATIVE', 'UNKNOWN')),
    draft_meta      TEXT CHECK (draft_meta IS NULL OR json_valid(draft_meta)),
    updated_at      TEXT NOT NULL
);

-- the queue: pending drafts oldest first; the sender: due approved rows
CREATE INDEX messages_status_timestamp ON messages (status, timestamp);
-- a thread's timeline
CREATE INDEX messages_thread_timestamp ON messages (thread_id, timestamp);
CREATE INDEX messages_in_reply_to ON messages (in_reply_to_id);

CREATE TABLE approvals (
    id             INTEGER PRIMARY KEY,
    draft_id       TEXT NOT NULL REFERENCES messages (id),
    reviewer_phone TEXT,
    action         TEXT NOT NULL CHECK (action IN ('APPROVE', 'EDIT', 'REJECT')),
    notes          TEXT,
    timestamp      TEXT NOT NULL,
    -- additions
    reviewer_id    INTEGER REFERENCES reviewers (id),
    channel        TEXT NOT NULL CHECK (channel IN ('web', 'sms', 'api'))
);

CREATE INDEX approvals_draft ON approvals (draft_id);
CREATE INDEX approvals_reviewer_timestamp ON approvals (reviewer_id, timestamp);

-- AUTOINCREMENT keeps the highest id ever used in sqlite_sequence, so a deleted last row
-- leaves a gap that `audit verify` sees.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    event      TEXT NOT NULL CHECK (length(event) > 0),
    actor      TEXT NOT NULL CHECK (actor IN ('System', 'Human')),
    metadata   TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    timestamp  TEXT NOT NULL,
    -- additions
    actor_id   INTEGER REFERENCES reviewers (id),
    thread_id  TEXT,
    message_id TEXT,
    prev_hash  TEXT NOT NULL CHECK (length(prev_hash) = 64),
    hash       TEXT NOT NULL UNIQUE CHECK (length(hash) = 64),
    CHECK (actor = 'Human' OR actor_id IS NULL)
);

CREATE INDEX audit_log_thread ON audit_log (thread_id, id);
CREATE INDEX audit_log_message ON audit_log (message_id, id);
CREATE INDEX audit_log_actor ON audit_log (actor_id, id);
CREATE INDEX audit_log_event ON audit_log (event, id);
CREATE INDEX audit_log_timestamp ON audit_log (timestamp);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TABLE directives (
    scope      TEXT PRIMARY KEY, -- 'global' or a thread_id
    body       TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL,
    updated_by INTEGER REFERENCES reviewers (id)
);

CREATE TABLE webhook_events (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (provider, event_id)
);

-- the outbox of texts to reviewers
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY,
    reviewer_id     INTEGER NOT NULL REFERENCES reviewers (id),
    draft_id        TEXT REFERENCES messages (id),
    body            TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'PENDING'
                    CHECK (status IN ('PENDING', 'HELD', 'SENT', 'FAILED', 'DIGESTED')),
    provider_sid    TEXT UNIQUE,
    send_attempts   INTEGER NOT NULL DEFAULT 0 CHECK (send_attempts >= 0),
    next_attempt_at TEXT,
    error_code      INTEGER,
    error_message   TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT
);

CREATE INDEX notifications_status ON notifications (status, created_at);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
    token_hash   TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 64),
    reviewer_id  INTEGER NOT NULL REFERENCES reviewers (id),
    created_at   TEXT NOT NULL,
    revoked_at   TEXT,
    last_used_at TEXT
);
