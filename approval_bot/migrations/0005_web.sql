-- The web queue: sign-in failures for rate limiting, and the indexes its pages need.

-- One row per failed sign-in; rows older than the limit window are ignored and pruned.
CREATE TABLE signin_failures (
    id          INTEGER PRIMARY KEY,
    account     TEXT NOT NULL COLLATE NOCASE,
    address     TEXT NOT NULL,
    failed_at   TEXT NOT NULL
);

CREATE INDEX signin_failures_account ON signin_failures (account, failed_at);
CREATE INDEX signin_failures_address ON signin_failures (address, failed_at);

-- the queue: replies pending approval in (timestamp, id) order, without a sort. Partial,
-- because answered customer messages keep the status DRAFT_PENDING_APPROVAL and would
-- otherwise crowd the same index range.
CREATE INDEX messages_pending_replies ON messages (timestamp, id)
    WHERE status = 'DRAFT_PENDING_APPROVAL' AND type IN ('DRAFT', 'OUTBOUND');
-- the "needs a written reply" view's keyset
CREATE INDEX messages_status_timestamp_id ON messages (status, timestamp, id);
-- the thread timeline's keyset
CREATE INDEX messages_thread_timestamp_id ON messages (thread_id, timestamp, id);
-- the "needs attention" and "paused" views
CREATE INDEX conversations_state_activity ON conversations (state, last_activity_at);
CREATE INDEX thread_controls_paused ON thread_controls (paused, last_updated);
