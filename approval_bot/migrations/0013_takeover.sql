-- Human takeover and the CLOSED conversation state.

-- CLOSED joins the conversation states: a CHECK changes only with a table rebuild. The
-- tables that reference conversations (thread_controls, messages, missed_calls) keep
-- naming it, so the rows wait in a copy while conversations is dropped and created again
-- under its own name (a rename would rewrite their foreign keys); the foreign keys are
-- checked at COMMIT, when every referenced row is back.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE conversations_copy AS SELECT * FROM conversations;
DROP TABLE conversations;
CREATE TABLE conversations (
    thread_id        TEXT PRIMARY KEY,
    channel          TEXT NOT NULL DEFAULT 'sms' CHECK (channel IN ('sms', 'whatsapp')),
    state            TEXT NOT NULL DEFAULT 'ACTIVE'
                     CHECK (state IN ('ACTIVE', 'NEEDS_ATTENTION', 'ARCHIVED', 'CLOSED')),
    sentiment        TEXT NOT NULL DEFAULT 'UNKNOWN'
                     CHECK (sentiment IN ('POSITIVE', 'NEUTRAL', 'NEGATIVE', 'UNKNOWN')),
    opted_out        INTEGER NOT NULL DEFAULT 0 CHECK (opted_out IN (0, 1)),
    attention_reason TEXT,
    last_activity_at TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    soft_no_count    INTEGER NOT NULL DEFAULT 0 CHECK (soft_no_count >= 0),
    confusion_count  INTEGER NOT NULL DEFAULT 0 CHECK (confusion_count >= 0),
    appointment_status TEXT NOT NULL DEFAULT 'NONE'
                     CHECK (appointment_status IN ('NONE', 'INVITED', 'BOOKED')),
    appointment_at   TEXT,
    contact_count    INTEGER NOT NULL DEFAULT 1 CHECK (contact_count >= 1),
    facts            TEXT NOT NULL DEFAULT '{}'
                     CHECK (json_valid(facts) AND json_type(facts) = 'object')
);
INSERT INTO conversations (thread_id, channel, state, sentiment, opted_out, attention_reason,
                           last_activity_at, created_at, soft_no_count, confusion_count,
                           appointment_status, appointment_at, contact_count, facts)
SELECT thread_id, channel, state, sentiment, opted_out, attention_reason, last_activity_at,
       created_at, soft_no_count, confusion_count, appointment_status, appointment_at,
       contact_count, facts
FROM conversations_copy;
DROP TABLE conversations_copy;
-- the "needs attention" view, and the thread listing's keyset (newest activity first),
-- with the thread id as the tie-breaker so neither needs a sort
CREATE INDEX conversations_state_activity ON conversations (state, last_activity_at, thread_id);
CREATE INDEX conversations_activity ON conversations (last_activity_at, thread_id);

-- Who holds a taken-over thread, since when; the latest takeover (kept after a release,
-- for the takeover ratio); the latest human reply (the override window).
ALTER TABLE thread_controls ADD COLUMN taken_over_by INTEGER REFERENCES reviewers (id);
ALTER TABLE thread_controls ADD COLUMN taken_over_at TEXT;
ALTER TABLE thread_controls ADD COLUMN last_takeover_at TEXT;
ALTER TABLE thread_controls ADD COLUMN last_human_reply_at TEXT;
ALTER TABLE thread_controls ADD COLUMN last_human_reply_by INTEGER REFERENCES reviewers (id);
CREATE INDEX thread_controls_taken_over ON thread_controls (taken_over_by)
    WHERE taken_over_by IS NOT NULL;

-- Customer texts that need no reply: dismissed by a reviewer with a reason, closed with
-- their contact, or an opt-in keyword. They leave every work list.
CREATE TABLE dismissals (
    message_id  TEXT PRIMARY KEY REFERENCES messages (id),
    reviewer_id INTEGER REFERENCES reviewers (id),
    reason      TEXT NOT NULL CHECK (length(trim(reason)) > 0),
    created_at  TEXT NOT NULL
);

-- A human reply sent with an Idempotency-Key: the same key again answers the first reply.
-- Keys are a reviewer's own; kept 24 hours, then pruned by a job.
CREATE TABLE idempotency_keys (
    reviewer_id INTEGER NOT NULL REFERENCES reviewers (id),
    key         TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    body_hash   TEXT NOT NULL CHECK (length(body_hash) = 64),
    message_id  TEXT NOT NULL REFERENCES messages (id),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (reviewer_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
