-- Editable texts (approval_bot/templates.py): the built-in drafter's greeting, help,
-- fallback and missed-call text-back, the review-SLA's holding reply, the opt-out
-- confirmation, and WhatsApp Content templates (content_sid: Twilio's HX… id). A body's
-- {placeholders} are checked at save time against a fixed set of variables; `variables`
-- is the JSON list of the ones it uses, in order of first appearance (for a Content
-- template, the first is Twilio's {{1}}, the second {{2}}, …).
-- A pre-approval is an admin's decision made in advance for the one trigger its key
-- answers (help: the HELP/INFO keywords; holding: the review deadline's holding reply):
-- who, when, and the SHA-256 of the exact body they approved. Editing clears it.
CREATE TABLE templates (
    key               TEXT PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 40
                                              AND key NOT GLOB '*[^a-z0-9_]*'),
    body              TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 1600),
    channel           TEXT NOT NULL DEFAULT 'any' CHECK (channel IN ('sms', 'whatsapp', 'any')),
    content_sid       TEXT CHECK (content_sid IS NULL
                                  OR (content_sid GLOB 'HX*' AND length(content_sid) = 34)),
    variables         TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(variables)),
    pre_approved_by   INTEGER REFERENCES reviewers (id),
    pre_approved_at   TEXT,
    pre_approved_hash TEXT,
    updated_by        INTEGER REFERENCES reviewers (id),
    updated_at        TEXT NOT NULL,
    -- a pre-approval is whole or absent
    CHECK ((pre_approved_by IS NULL) = (pre_approved_at IS NULL)
           AND (pre_approved_at IS NULL) = (pre_approved_hash IS NULL)),
    -- only a WhatsApp template can be a Content template
    CHECK (content_sid IS NULL OR channel = 'whatsapp')
);

-- the texts the code used until now (the built-in drafter's, Twilio's default opt-out
-- confirmation, the holding reply of the review-deadline issue); nothing is pre-approved
INSERT INTO templates (key, body, channel, variables, updated_at) VALUES
    ('greeting', 'Hi! Thanks for getting in touch. How can we help you today?', 'any', '[]',
     strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000+00:00'),
    ('help', 'We''re here to help. Tell us what you need and a member of our team will get '
             || 'back to you shortly.', 'any', '[]',
     strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000+00:00'),
    ('fallback', 'Thanks for your message. A member of our team will get back to you shortly.',
     'any', '[]', strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000+00:00'),
    ('missed_call', 'Sorry we missed your call! How can we help? Reply here and we''ll get back '
                    || 'to you as soon as we can.', 'any', '[]',
     strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000+00:00'),
    ('holding', 'Thanks for your message, a person will reply shortly.', 'any', '[]',
     strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000+00:00'),
    ('opt_out_confirmation', 'You have successfully been unsubscribed. You will not receive any '
                             || 'more messages from this number. Reply START to resubscribe.',
     'any', '[]', strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000+00:00');

-- Automatic replies sent under a pre-approval: at most one per thread per trigger per
-- 24 hours, checked with one lookup on the index below.
CREATE TABLE auto_replies (
    id         INTEGER PRIMARY KEY,
    thread_id  TEXT NOT NULL REFERENCES conversations (thread_id),
    trigger    TEXT NOT NULL CHECK (trigger IN ('help', 'holding')),
    message_id TEXT NOT NULL UNIQUE REFERENCES messages (id),
    created_at TEXT NOT NULL
);
CREATE INDEX auto_replies_by_thread ON auto_replies (thread_id, trigger, created_at);

-- A reply sent as a WhatsApp Content template: its HX… id and the JSON string of its
-- variables ({"1": …, "2": …}) go to Twilio instead of the body (kept as the preview).
ALTER TABLE messages ADD COLUMN content_sid TEXT
    CHECK (content_sid IS NULL OR (content_sid GLOB 'HX*' AND length(content_sid) = 34));
ALTER TABLE messages ADD COLUMN content_variables TEXT
    CHECK (content_variables IS NULL OR json_valid(content_variables));
