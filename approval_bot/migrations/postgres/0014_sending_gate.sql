-- PostgreSQL's form of SQLite's 0014_sending_gate.sql.
CREATE TABLE sending_gate (
    id          BIGINT PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    status      TEXT NOT NULL CHECK (status IN ('approved', 'pending', 'rejected')),
    stopped     BIGINT NOT NULL DEFAULT 0 CHECK (stopped IN (0, 1)),
    reason      TEXT,
    changed_by  BIGINT REFERENCES reviewers(id),
    changed_via TEXT NOT NULL CHECK (changed_via IN ('first start', 'cli', 'web', 'api')),
    changed_at  TEXT NOT NULL
);
