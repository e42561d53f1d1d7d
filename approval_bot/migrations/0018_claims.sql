-- Claims: a reviewer working on a pending draft (its edit box open, or the `c` key) holds
-- it for CLAIM_MINUTES. One claim per draft version; live while expires_at is ahead. The
-- workflow funnel deletes it when the draft leaves the queue (a decision, a newer version,
-- a pause); a release deletes it too. Other reviewers' approvals and edits of a claimed
-- draft are refused unless they confirm.
CREATE TABLE draft_claims (
    draft_id    TEXT PRIMARY KEY REFERENCES messages (id),
    reviewer_id INTEGER NOT NULL REFERENCES reviewers (id),
    claimed_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL CHECK (expires_at > claimed_at)
);
