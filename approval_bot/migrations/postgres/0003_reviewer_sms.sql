-- PostgreSQL's form of SQLite's 0003_reviewer_sms.sql.
CREATE TABLE draft_codes (
    code       TEXT NOT NULL CHECK (length(code) = 4),
    message_id TEXT NOT NULL UNIQUE REFERENCES messages (id),
    issued_at  TEXT NOT NULL
);

CREATE INDEX draft_codes_code ON draft_codes (code, issued_at);

ALTER TABLE reviewers ADD COLUMN sms_opted_out BIGINT NOT NULL DEFAULT 0
    CHECK (sms_opted_out IN (0, 1));
ALTER TABLE reviewers ADD COLUMN quiet_start TEXT;
ALTER TABLE reviewers ADD COLUMN quiet_end TEXT;
ALTER TABLE reviewers ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
