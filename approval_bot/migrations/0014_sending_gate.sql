-- The sending gate: the business's compliance status (its 10DLC / toll-free registration)
-- and an emergency stop. While the status is not 'approved', or sending is stopped, no
-- message to a customer leaves; reviewers' notifications are not gated.
--
-- One row, written at the first start (approved in sandbox mode, pending with Twilio
-- credentials): the migration cannot know the settings. With no row the gate is closed.
CREATE TABLE sending_gate (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    status      TEXT NOT NULL CHECK (status IN ('approved', 'pending', 'rejected')),
    stopped     INTEGER NOT NULL DEFAULT 0 CHECK (stopped IN (0, 1)),
    reason      TEXT,
    -- the admin who made the latest change; NULL for the first start and the command line
    changed_by  INTEGER REFERENCES reviewers(id),
    changed_via TEXT NOT NULL CHECK (changed_via IN ('first start', 'cli', 'web', 'api')),
    changed_at  TEXT NOT NULL
);
