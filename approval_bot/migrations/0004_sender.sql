-- The sender: what it needs to never send twice, and the sandbox gateway's record.

-- Set when a send attempt may have reached Twilio without our knowing (a timeout, a 5xx,
-- a claim left behind by a crash). Before any further attempt the sender lists Twilio's
-- messages to the recipient since this time, and records the one it finds instead of
-- sending again.
ALTER TABLE messages ADD COLUMN unconfirmed_since TEXT;

-- the sender's claim on a notification, as on a message
ALTER TABLE notifications ADD COLUMN claimed_at TEXT;
ALTER TABLE notifications ADD COLUMN unconfirmed_since TEXT;

-- what the sender looks for on each tick: due approved messages, due notifications
CREATE INDEX messages_sending ON messages (status, next_attempt_at)
    WHERE status = 'APPROVED_TO_SEND';
CREATE INDEX notifications_sending ON notifications (status, next_attempt_at)
    WHERE status = 'PENDING';

-- What the sandbox gateway "sent": the phone simulator reads it. Nothing leaves the machine.
CREATE TABLE sandbox_messages (
    sid         TEXT PRIMARY KEY CHECK (sid GLOB 'SM*'),
    to_address  TEXT NOT NULL,
    from_address TEXT NOT NULL,
    body        TEXT NOT NULL,
    media       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(media)),
    created_at  TEXT NOT NULL
);

CREATE INDEX sandbox_messages_to ON sandbox_messages (to_address, created_at);
