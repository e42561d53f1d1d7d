-- PostgreSQL's form of SQLite's 0020_audit_chain.sql.
-- The audit chain's head: the last id handed out and the last row's hash, in one row that
-- every append locks (SELECT … FOR UPDATE) and moves in its own transaction, so however
-- many writer threads or instances append, the chain stays one line and its ids dense.
-- The head remembers the last id, so a deleted tail is a gap `audit verify` finds.

CREATE TABLE audit_chain (
    id        BIGINT PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    last_id   BIGINT NOT NULL CHECK (last_id >= 0),
    last_hash TEXT CHECK (last_hash IS NULL OR length(last_hash) = 64)
);

-- filled from the log: the highest id handed out (the identity's last value, which
-- `db copy` moves past a copied database's deleted tail) and the last row's hash
INSERT INTO audit_chain (id, last_id, last_hash)
SELECT 1,
       greatest(coalesce((SELECT max(id) FROM audit_log), 0),
                coalesce(pg_sequence_last_value(pg_get_serial_sequence('audit_log', 'id')), 0)),
       (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1);

CREATE FUNCTION audit_chain_forward() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'the audit chain''s head is kept' USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.id <> OLD.id OR NEW.last_id <= OLD.last_id THEN
        RAISE EXCEPTION 'the audit chain''s head only moves forward'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;

-- the head only moves forward, and stays
CREATE TRIGGER audit_chain_forward BEFORE UPDATE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION audit_chain_forward();

CREATE TRIGGER audit_chain_kept BEFORE DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION audit_chain_forward();

CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_forward();
