-- Sign-in attempts reserved before their password is checked, and server-side web sessions.

-- One row per sign-in attempt, written before the password is checked and counted as a
-- failure unless the password matched (a success deletes it and the account's earlier
-- ones). Rows older than the limit window are ignored and pruned a batch at a time.
CREATE TABLE signin_attempts (
    id           INTEGER PRIMARY KEY,
    account      TEXT NOT NULL COLLATE NOCASE,
    address      TEXT NOT NULL,
    attempted_at TEXT NOT NULL
);

CREATE INDEX signin_attempts_account ON signin_attempts (account, attempted_at);
CREATE INDEX signin_attempts_address ON signin_attempts (address, attempted_at);
CREATE INDEX signin_attempts_time ON signin_attempts (attempted_at);

-- failures recorded before this migration still count against their window
INSERT INTO signin_attempts (account, address, attempted_at)
    SELECT account, address, failed_at FROM signin_failures;

DROP TABLE signin_failures;

-- One row per signed-in browser; the cookie carries the id, this table only its SHA-256.
-- A session opens pages while it is not revoked and was seen within the idle limit.
CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    reviewer_id    INTEGER NOT NULL REFERENCES reviewers (id),
    created_at     TEXT NOT NULL,
    last_seen_at   TEXT NOT NULL,
    revoked_at     TEXT,
    revoked_reason TEXT CHECK (revoked_reason IN ('logout', 'password', 'disabled', 'replaced')),
    CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);

CREATE INDEX sessions_live_by_reviewer ON sessions (reviewer_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);
