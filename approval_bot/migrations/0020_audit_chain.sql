-- The audit chain's head: the last id handed out and the last row's hash, in one row that
-- every append reads and moves in its own transaction (on PostgreSQL it locks the row
-- FOR UPDATE first), so however many writers or instances append, the chain stays one
-- line and its ids dense. The head remembers the last id, so a deleted tail is a gap
-- `audit verify` finds (what AUTOINCREMENT's sqlite_sequence did until now).

CREATE TABLE audit_chain (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    last_id   INTEGER NOT NULL CHECK (last_id >= 0),
    last_hash TEXT CHECK (last_hash IS NULL OR length(last_hash) = 64)
);

-- filled from the log: the highest id ever handed out (beyond the last row when the tail
-- was deleted) and the last row's hash
INSERT INTO audit_chain (id, last_id, last_hash)
SELECT 1, coalesce(max(highest.id), 0), (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1)
FROM (SELECT seq AS id FROM sqlite_sequence WHERE name = 'audit_log'
      UNION ALL SELECT max(id) FROM audit_log) AS highest;

-- the head only moves forward, and stays
CREATE TRIGGER audit_chain_forward BEFORE UPDATE ON audit_chain
WHEN NEW.id <> OLD.id OR NEW.last_id <= OLD.last_id
BEGIN
    SELECT RAISE(ABORT, 'the audit chain''s head only moves forward');
END;

CREATE TRIGGER audit_chain_kept BEFORE DELETE ON audit_chain
BEGIN
    SELECT RAISE(ABORT, 'the audit chain''s head is kept');
END;
