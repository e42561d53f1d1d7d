-- Understanding the customer: what each inbound text means, what every message is, and the
-- conversation state the original conversation rules keep (counters, appointment, contact,
-- facts).

-- What one inbound customer text means (JSON of understanding.Understanding); NULL on
-- other messages and on texts stored before this migration.
ALTER TABLE messages ADD COLUMN understanding TEXT
    CHECK (understanding IS NULL OR json_valid(understanding));
-- who wrote a message and what it is for (the original message log)
ALTER TABLE messages ADD COLUMN sender_role TEXT
    CHECK (sender_role IN ('customer', 'bot', 'human'));
ALTER TABLE messages ADD COLUMN mode TEXT
    CHECK (mode IN ('intro', 'reply', 'appointment', 'missed_call', 'manual'));
-- the template a built-in draft came from, else NULL
ALTER TABLE messages ADD COLUMN template_key TEXT;
ALTER TABLE messages ADD COLUMN ab_variant TEXT;

-- Existing rows: customers' texts are replies to the conversation; machine drafts (they
-- carry draft_meta) are the bot's, a text-back after a missed call or a booking answer
-- by their intent; a draft version without draft_meta is a reviewer's edit and keeps the
-- mode of the version it replaced; replies reviewers wrote are manual.
UPDATE messages SET sender_role = 'customer', mode = 'reply' WHERE type = 'INBOUND';
UPDATE messages SET sender_role = 'bot',
    mode = CASE json_extract(draft_meta, '$.intent')
        WHEN 'missed_call' THEN 'missed_call'
        WHEN 'booking' THEN 'appointment'
        ELSE 'reply'
    END
WHERE type = 'DRAFT' AND draft_meta IS NOT NULL;
UPDATE messages SET sender_role = 'human', mode = 'manual' WHERE type = 'OUTBOUND';
-- edits, in version order, so each finds the mode its predecessor was given just above
UPDATE messages SET sender_role = 'human',
    mode = coalesce(
        (SELECT previous.mode FROM messages AS previous
         WHERE previous.superseded_by = messages.id AND previous.mode IS NOT NULL),
        'reply')
WHERE type = 'DRAFT' AND draft_meta IS NULL;

-- Conversation state from the understanding. The counters count the texts with the flag
-- in the current contact; contact_count is how many contacts this phone has made (a text
-- to an ARCHIVED conversation starts the next one); facts is a JSON object, merged.
ALTER TABLE conversations ADD COLUMN soft_no_count INTEGER NOT NULL DEFAULT 0
    CHECK (soft_no_count >= 0);
ALTER TABLE conversations ADD COLUMN confusion_count INTEGER NOT NULL DEFAULT 0
    CHECK (confusion_count >= 0);
ALTER TABLE conversations ADD COLUMN appointment_status TEXT NOT NULL DEFAULT 'NONE'
    CHECK (appointment_status IN ('NONE', 'INVITED', 'BOOKED'));
ALTER TABLE conversations ADD COLUMN appointment_at TEXT;
ALTER TABLE conversations ADD COLUMN contact_count INTEGER NOT NULL DEFAULT 1
    CHECK (contact_count >= 1);
ALTER TABLE conversations ADD COLUMN facts TEXT NOT NULL DEFAULT '{}'
    CHECK (json_valid(facts) AND json_type(facts) = 'object');

-- A pause kind for an opt-out in plain words (held until a reviewer confirms it or says
-- it is not one). A CHECK changes only with a table rebuild; nothing references
-- thread_controls, so it is rebuilt under its own name.
ALTER TABLE thread_controls RENAME TO thread_controls_before_opt_out_request;
CREATE TABLE thread_controls (
    thread_id     TEXT PRIMARY KEY REFERENCES conversations (thread_id),
    paused        BOOLEAN NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    paused_reason TEXT,
    last_updated  TEXT NOT NULL,
    pause_kind    TEXT CHECK (pause_kind IN (
                      'reviewer', 'escalation', 'opt_out', 'counters', 'opt_out_request'))
);
INSERT INTO thread_controls (thread_id, paused, paused_reason, last_updated, pause_kind)
SELECT thread_id, paused, paused_reason, last_updated, pause_kind
FROM thread_controls_before_opt_out_request;
DROP TABLE thread_controls_before_opt_out_request;
CREATE INDEX thread_controls_paused ON thread_controls (paused, last_updated);
