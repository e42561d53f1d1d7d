-- Review deadlines: the clock of each pending reply, the ladder it climbs (remind,
-- escalate, holding reply), the policy in force, backup reviewers, and the rollups /stats
-- reads.

-- a backup reviewer is texted, with the admins, when a reply is escalated
ALTER TABLE reviewers ADD COLUMN backup INTEGER NOT NULL DEFAULT 0 CHECK (backup IN (0, 1));

-- The policy the app started with (one row): the clocks' due times are computed with it,
-- and the app recomputes the open clocks when it starts with another.
CREATE TABLE review_policy (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    remind_minutes   REAL NOT NULL CHECK (remind_minutes > 0),
    escalate_minutes REAL NOT NULL CHECK (escalate_minutes > remind_minutes),
    holding_minutes  REAL CHECK (holding_minutes IS NULL OR holding_minutes > escalate_minutes),
    business_hours   TEXT NOT NULL, -- as written; '' when always open
    time_zone        TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

-- One clock per pending reply: it starts when the reply becomes pending, runs on across
-- new versions of the same reply (an edit, a regeneration) and restarts for the reply to a
-- newer customer text. `step` is the last step taken; `next_step` is due at `due_at` (when
-- none is left, `due_at` is when the last one was due). `urgency` is the queue's order:
-- '0' + due_at for an overdue (escalated) reply, '1' + due_at for the others.
CREATE TABLE review_clocks (
    id           INTEGER PRIMARY KEY,
    thread_id    TEXT NOT NULL REFERENCES conversations (thread_id),
    draft_id     TEXT NOT NULL REFERENCES messages (id),
    inbound_id   TEXT REFERENCES messages (id),
    contact      INTEGER NOT NULL CHECK (contact >= 1),
    started_at   TEXT NOT NULL,
    step         TEXT NOT NULL DEFAULT 'none' CHECK (step IN (
                     'none', 'reminded', 'escalated', 'holding_sent', 'holding_unavailable')),
    next_step    TEXT CHECK (next_step IS NULL OR next_step IN (
                     'reminded', 'escalated', 'holding_sent')),
    due_at       TEXT NOT NULL,
    urgency      TEXT NOT NULL,
    closed_at    TEXT,
    outcome      TEXT CHECK (outcome IS NULL OR outcome IN ('APPROVE', 'EDIT', 'REJECT', 'CLOSED')),
    reviewer_id  INTEGER REFERENCES reviewers (id),
    business_seconds REAL CHECK (business_seconds IS NULL OR business_seconds >= 0)
);
-- at most one open clock per thread: the reply it times is the thread's one live reply
CREATE UNIQUE INDEX review_clocks_open_thread ON review_clocks (thread_id)
    WHERE closed_at IS NULL;
-- a reply's clocks (one more each time it became pending again, e.g. after a pause)
CREATE INDEX review_clocks_draft ON review_clocks (draft_id);
-- the ladder job: open clocks with a step due
CREATE INDEX review_clocks_due ON review_clocks (due_at)
    WHERE closed_at IS NULL AND next_step IS NOT NULL;
-- the queue by urgency
CREATE INDEX review_clocks_urgency ON review_clocks (urgency, draft_id) WHERE closed_at IS NULL;
-- the holding reply: once per contact of a thread
CREATE INDEX review_clocks_contact ON review_clocks (thread_id, contact, step);
-- the reviewers told about a draft (the reminder goes to them)
CREATE INDEX notifications_draft ON notifications (draft_id) WHERE draft_id IS NOT NULL;

-- Decisions against the policy, per day and reviewer: how many, how many before the
-- reminder, before escalation, and a histogram (JSON, keys `stats.wait_bucket` of the
-- microseconds) of the business time they took.
CREATE TABLE review_sla_days (
    day             TEXT NOT NULL,
    reviewer_id     INTEGER NOT NULL, -- 0: a decision without a reviewer
    decisions       INTEGER NOT NULL DEFAULT 0,
    before_remind   INTEGER NOT NULL DEFAULT 0,
    before_escalate INTEGER NOT NULL DEFAULT 0,
    waits           TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(waits)),
    PRIMARY KEY (day, reviewer_id)
);

-- All decisions' business time, in the buckets of the /metrics histogram (`le` in seconds,
-- or '+Inf'), with the seconds summed.
CREATE TABLE review_wait_buckets (
    le        TEXT PRIMARY KEY,
    decisions INTEGER NOT NULL DEFAULT 0,
    seconds   REAL NOT NULL DEFAULT 0
);

-- The ladder's steps taken, per day.
CREATE TABLE review_step_days (
    day   TEXT NOT NULL,
    step  TEXT NOT NULL CHECK (step IN (
              'reminded', 'escalated', 'holding_sent', 'holding_unavailable')),
    steps INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, step)
);

-- The same, all time, for /metrics: one row per step.
CREATE TABLE review_step_totals (
    step  TEXT PRIMARY KEY CHECK (step IN (
              'reminded', 'escalated', 'holding_sent', 'holding_unavailable')),
    steps INTEGER NOT NULL DEFAULT 0
);

-- The replies pending now get a clock that started when they were written; the app gives
-- them their due times when it starts (the business hours are not known here).
INSERT INTO review_clocks (thread_id, draft_id, inbound_id, contact, started_at, next_step,
                           due_at, urgency)
SELECT messages.thread_id, messages.id, messages.in_reply_to_id, conversations.contact_count,
       messages.timestamp, 'reminded', messages.timestamp, '1' || messages.timestamp
FROM messages JOIN conversations ON conversations.thread_id = messages.thread_id
WHERE messages.status = 'DRAFT_PENDING_APPROVAL' AND messages.type IN ('DRAFT', 'OUTBOUND')
  AND messages.id = (SELECT newest.id FROM messages AS newest
                     WHERE newest.thread_id = messages.thread_id
                       AND newest.status = 'DRAFT_PENDING_APPROVAL'
                       AND newest.type IN ('DRAFT', 'OUTBOUND')
                     ORDER BY newest.timestamp DESC, newest.id DESC LIMIT 1);
