-- PostgreSQL's form of SQLite's 0011_understanding.sql.
ALTER TABLE messages ADD COLUMN understanding TEXT
    CHECK (understanding IS NULL OR json_valid(understanding));
ALTER TABLE messages ADD COLUMN sender_role TEXT
    CHECK (sender_role IN ('customer', 'bot', 'human'));
ALTER TABLE messages ADD COLUMN mode TEXT
    CHECK (mode IN ('intro', 'reply', 'appointment', 'missed_call', 'manual'));
ALTER TABLE messages ADD COLUMN template_key TEXT;
ALTER TABLE messages ADD COLUMN ab_variant TEXT;

UPDATE messages SET sender_role = 'customer', mode = 'reply' WHERE type = 'INBOUND';
UPDATE messages SET sender_role = 'bot',
    mode = CASE draft_meta::json ->> 'intent'
        WHEN 'missed_call' THEN 'missed_call'
        WHEN 'booking' THEN 'appointment'
        ELSE 'reply'
    END
WHERE type = 'DRAFT' AND draft_meta IS NOT NULL;
UPDATE messages SET sender_role = 'human', mode = 'manual' WHERE type = 'OUTBOUND';
-- Edits take the mode of the version they replaced. SQLite's one UPDATE sees the rows it
-- has already changed (in version order); PostgreSQL's sees its snapshot, so the chain is
-- walked a link at a time: each round settles the edits whose predecessor is settled.
UPDATE messages SET sender_role = 'human' WHERE type = 'DRAFT' AND draft_meta IS NULL;
DO $$
BEGIN
    LOOP
        UPDATE messages SET mode = coalesce(
                (SELECT previous.mode FROM messages AS previous
                 WHERE previous.superseded_by = messages.id AND previous.mode IS NOT NULL
                 LIMIT 1),
                'reply')
        WHERE type = 'DRAFT' AND draft_meta IS NULL AND mode IS NULL
          AND NOT EXISTS (SELECT 1 FROM messages AS previous
                          WHERE previous.superseded_by = messages.id
                            AND previous.mode IS NULL);
        EXIT WHEN NOT FOUND;
    END LOOP;
    -- a cycle (none should exist) would leave rows behind: settle them as SQLite would
    UPDATE messages SET mode = 'reply' WHERE type = 'DRAFT' AND draft_meta IS NULL AND mode IS NULL;
END;
$$;

ALTER TABLE conversations ADD COLUMN soft_no_count BIGINT NOT NULL DEFAULT 0
    CHECK (soft_no_count >= 0);
ALTER TABLE conversations ADD COLUMN confusion_count BIGINT NOT NULL DEFAULT 0
    CHECK (confusion_count >= 0);
ALTER TABLE conversations ADD COLUMN appointment_status TEXT NOT NULL DEFAULT 'NONE'
    CHECK (appointment_status IN ('NONE', 'INVITED', 'BOOKED'));
ALTER TABLE conversations ADD COLUMN appointment_at TEXT;
ALTER TABLE conversations ADD COLUMN contact_count BIGINT NOT NULL DEFAULT 1
    CHECK (contact_count >= 1);
ALTER TABLE conversations ADD COLUMN facts TEXT NOT NULL DEFAULT '{}'
    CONSTRAINT conversations_facts_check
    CHECK (json_valid(facts) AND json_typeof(facts::json) = 'object');

-- the new pause kind: PostgreSQL changes a CHECK in place (SQLite rebuilt the table)
ALTER TABLE thread_controls DROP CONSTRAINT thread_controls_pause_kind_check;
ALTER TABLE thread_controls ADD CONSTRAINT thread_controls_pause_kind_check
    CHECK (pause_kind IN ('reviewer', 'escalation', 'opt_out', 'counters', 'opt_out_request'));
