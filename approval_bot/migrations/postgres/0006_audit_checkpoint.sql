-- PostgreSQL's form of SQLite's 0006_audit_checkpoint.sql.
CREATE TABLE audit_checkpoint (
    id          BIGINT PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    last_id     BIGINT NOT NULL CHECK (last_id >= 1),
    last_hash   TEXT NOT NULL CHECK (length(last_hash) = 64),
    verified_at TEXT NOT NULL
);
