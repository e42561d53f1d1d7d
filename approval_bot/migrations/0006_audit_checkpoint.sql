-- The audit chain's checkpoint, so a walk after a restart reads only the rows added since.

-- The last audit row a walk verified from row 1, with its hash: a walk after a restart
-- resumes there. One row at most.
CREATE TABLE audit_checkpoint (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    last_id     INTEGER NOT NULL CHECK (last_id >= 1),
    last_hash   TEXT NOT NULL CHECK (length(last_hash) = 64),
    verified_at TEXT NOT NULL
);
