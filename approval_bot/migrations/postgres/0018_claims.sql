-- PostgreSQL's form of SQLite's 0018_claims.sql.
CREATE TABLE draft_claims (
    draft_id    TEXT PRIMARY KEY REFERENCES messages (id),
    reviewer_id BIGINT NOT NULL REFERENCES reviewers (id),
    claimed_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL CHECK (expires_at > claimed_at)
);
