-- Inbound: FAQ entries reviewers write for the drafters, and missed calls.

CREATE TABLE faq_entries (
    id         INTEGER PRIMARY KEY,
    scope      TEXT NOT NULL DEFAULT 'global' CHECK (length(scope) > 0), -- 'global' or a thread_id
    keywords   TEXT NOT NULL CHECK (json_valid(keywords) AND json_array_length(keywords) > 0),
    answer     TEXT NOT NULL CHECK (length(trim(answer)) > 0),
    created_at TEXT NOT NULL,
    updated_by INTEGER REFERENCES reviewers (id)
);

CREATE INDEX faq_entries_scope ON faq_entries (scope, id);

CREATE TABLE missed_calls (
    id          INTEGER PRIMARY KEY,
    call_sid    TEXT NOT NULL UNIQUE,
    thread_id   TEXT NOT NULL REFERENCES conversations (thread_id),
    caller      TEXT NOT NULL,
    called      TEXT NOT NULL,
    received_at TEXT NOT NULL,
    -- 1 when this call asks for a text-back draft; 0 when an earlier call in the window did
    wants_draft INTEGER NOT NULL CHECK (wants_draft IN (0, 1)),
    draft_id    TEXT REFERENCES messages (id)
);

CREATE INDEX missed_calls_thread ON missed_calls (thread_id, received_at);

-- recovery looks for customer messages left RECEIVED
CREATE INDEX messages_type_status ON messages (type, status, timestamp);
