-- Reviewers deciding by text: short codes bound to one draft version, whether a reviewer
-- texted STOP, and their quiet hours.
CREATE TABLE draft_codes (
    code       TEXT NOT NULL CHECK (length(code) = 4),
    message_id TEXT NOT NULL UNIQUE REFERENCES messages (id),
    issued_at  TEXT NOT NULL
);

CREATE INDEX draft_codes_code ON draft_codes (code, issued_at);

-- set when a reviewer texts STOP (Twilio then blocks texts to them), cleared by START
ALTER TABLE reviewers ADD COLUMN sms_opted_out INTEGER NOT NULL DEFAULT 0
    CHECK (sms_opted_out IN (0, 1));
-- quiet hours: "HH:MM" in the reviewer's time zone; both NULL when they have none
ALTER TABLE reviewers ADD COLUMN quiet_start TEXT;
ALTER TABLE reviewers ADD COLUMN quiet_end TEXT;
ALTER TABLE reviewers ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
