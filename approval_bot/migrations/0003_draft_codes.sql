-- Short codes reviewers quote in SMS commands; each is bound to one draft version.
CREATE TABLE draft_codes (
    code       TEXT NOT NULL CHECK (length(code) = 4),
    message_id TEXT NOT NULL UNIQUE REFERENCES messages (id),
    issued_at  TEXT NOT NULL
);

CREATE INDEX draft_codes_code ON draft_codes (code, issued_at);
