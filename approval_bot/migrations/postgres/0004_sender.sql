-- PostgreSQL's form of SQLite's 0004_sender.sql.
ALTER TABLE messages ADD COLUMN unconfirmed_since TEXT;

ALTER TABLE notifications ADD COLUMN claimed_at TEXT;
ALTER TABLE notifications ADD COLUMN unconfirmed_since TEXT;

CREATE INDEX messages_sending ON messages (status, next_attempt_at)
    WHERE status = 'APPROVED_TO_SEND';
CREATE INDEX notifications_sending ON notifications (status, next_attempt_at)
    WHERE status = 'PENDING';

CREATE TABLE sandbox_messages (
    sid         TEXT PRIMARY KEY CHECK (sid LIKE 'SM%'),
    to_address  TEXT NOT NULL,
    from_address TEXT NOT NULL,
    body        TEXT NOT NULL,
    media       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(media)),
    created_at  TEXT NOT NULL
);

CREATE INDEX sandbox_messages_to ON sandbox_messages (to_address, created_at);
