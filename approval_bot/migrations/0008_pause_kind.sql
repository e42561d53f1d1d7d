-- What kind of pause holds a thread, so that lifting one never depends on its reason text:
-- reviewer (a reviewer paused it), escalation (handed to a human), opt_out (the customer
-- opted out: STOP, or Twilio error 21610 on a send; their opt-in lifts it), counters
-- (reserved for the soft-no and confusion counters; nothing pauses with it yet).
-- NULL when the thread is not paused.
ALTER TABLE thread_controls ADD COLUMN pause_kind TEXT
    CHECK (pause_kind IN ('reviewer', 'escalation', 'opt_out', 'counters'));

-- the reason strings the code wrote until now: 'opt-out' (a STOP keyword),
-- 'the customer opted out (Twilio 21610)' (the sender), 'escalated: …' (an escalation);
-- every other pause was a reviewer's
UPDATE thread_controls SET pause_kind = CASE
        WHEN paused_reason = 'opt-out' OR paused_reason LIKE 'the customer opted out (Twilio %'
            THEN 'opt_out'
        WHEN paused_reason LIKE 'escalated: %' THEN 'escalation'
        ELSE 'reviewer'
    END
WHERE paused = 1;
