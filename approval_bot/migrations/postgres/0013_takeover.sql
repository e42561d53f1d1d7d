-- PostgreSQL's form of SQLite's 0013_takeover.sql. CLOSED joins the conversation states:
-- PostgreSQL changes the CHECK in place, where SQLite rebuilt the table.
ALTER TABLE conversations DROP CONSTRAINT conversations_state_check;
ALTER TABLE conversations ADD CONSTRAINT conversations_state_check
    CHECK (state IN ('ACTIVE', 'NEEDS_ATTENTION', 'ARCHIVED', 'CLOSED'));
-- the rebuilt table's indexes: (state, last_activity_at) gains the thread id
DROP INDEX conversations_state_activity;
CREATE INDEX conversations_state_activity ON conversations (state, last_activity_at, thread_id);
CREATE INDEX conversations_activity ON conversations (last_activity_at, thread_id);

ALTER TABLE thread_controls ADD COLUMN taken_over_by BIGINT REFERENCES reviewers (id);
ALTER TABLE thread_controls ADD COLUMN taken_over_at TEXT;
ALTER TABLE thread_controls ADD COLUMN last_takeover_at TEXT;
ALTER TABLE thread_controls ADD COLUMN last_human_reply_at TEXT;
ALTER TABLE thread_controls ADD COLUMN last_human_reply_by BIGINT REFERENCES reviewers (id);
CREATE INDEX thread_controls_taken_over ON thread_controls (taken_over_by)
    WHERE taken_over_by IS NOT NULL;

CREATE TABLE dismissals (
    message_id  TEXT PRIMARY KEY REFERENCES messages (id),
    reviewer_id BIGINT REFERENCES reviewers (id),
    reason      TEXT NOT NULL CHECK (length(trim(reason)) > 0),
    created_at  TEXT NOT NULL
);

CREATE TABLE idempotency_keys (
    reviewer_id BIGINT NOT NULL REFERENCES reviewers (id),
    key         TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    body_hash   TEXT NOT NULL CHECK (length(body_hash) = 64),
    message_id  TEXT NOT NULL REFERENCES messages (id),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (reviewer_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
