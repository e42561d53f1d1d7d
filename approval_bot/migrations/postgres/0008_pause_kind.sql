-- PostgreSQL's form of SQLite's 0008_pause_kind.sql.
ALTER TABLE thread_controls ADD COLUMN pause_kind TEXT
    CONSTRAINT thread_controls_pause_kind_check
    CHECK (pause_kind IN ('reviewer', 'escalation', 'opt_out', 'counters'));

UPDATE thread_controls SET pause_kind = CASE
        WHEN paused_reason = 'opt-out' OR paused_reason LIKE 'the customer opted out (Twilio %'
            THEN 'opt_out'
        WHEN paused_reason LIKE 'escalated: %' THEN 'escalation'
        ELSE 'reviewer'
    END
WHERE paused = 1;
