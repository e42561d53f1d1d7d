-- WITHDRAWN joins the notification statuses: a text about a draft ("draft 7F3K is
-- waiting": its notice, reminder or escalation) that the sender finds decided before it
-- went is never sent. A CHECK changes only with a table rebuild; nothing references
-- notifications, so it is rebuilt under its own name, with its indexes.
ALTER TABLE notifications RENAME TO notifications_before_withdrawn;
CREATE TABLE notifications (
    id                INTEGER PRIMARY KEY,
    reviewer_id       INTEGER NOT NULL REFERENCES reviewers (id),
    draft_id          TEXT REFERENCES messages (id),
    body              TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'PENDING'
                      CHECK (status IN ('PENDING', 'HELD', 'SENT', 'FAILED', 'DIGESTED',
                                        'WITHDRAWN')),
    provider_sid      TEXT UNIQUE,
    send_attempts     INTEGER NOT NULL DEFAULT 0 CHECK (send_attempts >= 0),
    next_attempt_at   TEXT,
    error_code        INTEGER,
    error_message     TEXT,
    created_at        TEXT NOT NULL,
    sent_at           TEXT,
    claimed_at        TEXT,
    unconfirmed_since TEXT
);
INSERT INTO notifications (id, reviewer_id, draft_id, body, status, provider_sid,
                           send_attempts, next_attempt_at, error_code, error_message,
                           created_at, sent_at, claimed_at, unconfirmed_since)
SELECT id, reviewer_id, draft_id, body, status, provider_sid, send_attempts,
       next_attempt_at, error_code, error_message, created_at, sent_at, claimed_at,
       unconfirmed_since
FROM notifications_before_withdrawn;
DROP TABLE notifications_before_withdrawn;
CREATE INDEX notifications_status ON notifications (status, created_at);
CREATE INDEX notifications_sending ON notifications (status, next_attempt_at)
    WHERE status = 'PENDING';
CREATE INDEX notifications_draft ON notifications (draft_id) WHERE draft_id IS NOT NULL;
