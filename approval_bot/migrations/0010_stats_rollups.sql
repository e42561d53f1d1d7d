-- Stats rollups: what /stats reads instead of the history, kept current by the funnel
-- (approval_bot/rollups.py) in the transaction of each change, and back-filled here from
-- the history once. The edit sizes call levenshtein(), which approval-bot registers on
-- its writer connection (rapidfuzz's Levenshtein distance, as the live path measures).

-- Per UTC hour with a move: the replies waiting for a decision at its end, and the most
-- waiting at any moment within it (the depth it started at included).
CREATE TABLE queue_hours (
    hour  TEXT PRIMARY KEY,  -- 'YYYY-MM-DDTHH'
    depth INTEGER NOT NULL,
    peak  INTEGER NOT NULL
) WITHOUT ROWID;

-- Decisions per UTC day, action, channel and reviewer. reviewer_id 0 is an approval
-- without one (an older row); then reviewer_phone is its phone, else ''.
CREATE TABLE decision_days (
    day            TEXT NOT NULL,
    action         TEXT NOT NULL,
    channel        TEXT NOT NULL,
    reviewer_id    INTEGER NOT NULL,
    reviewer_phone TEXT NOT NULL,
    decisions      INTEGER NOT NULL,
    PRIMARY KEY (day, action, channel, reviewer_id, reviewer_phone)
) WITHOUT ROWID;

-- How many decisions of a day and reviewer waited how long, as a JSON object of counts by
-- the wait in seconds, rounded half up to the step the page shows it at (stats.wait_bucket:
-- 1 s below 1 min, 6 s below 10 min, 1 min below 1 h, 6 min below 10 h, 1 h below 1 d,
-- 0.1 d below 10 d, then whole days): at most 475 keys, one row a day and reviewer.
CREATE TABLE decision_waits (
    day            TEXT NOT NULL,
    reviewer_id    INTEGER NOT NULL,
    reviewer_phone TEXT NOT NULL,
    waits          TEXT NOT NULL CHECK (json_valid(waits)),
    PRIMARY KEY (day, reviewer_id, reviewer_phone)
) WITHOUT ROWID;

-- The edits of a UTC day: how many, and JSON objects of counts by the characters changed
-- (Levenshtein), by the share of the longer text changed in thousandths (rounded half up),
-- and by the page's change bucket (stats.CHANGE_BUCKETS).
CREATE TABLE edit_days (
    day       TEXT PRIMARY KEY,
    edits     INTEGER NOT NULL,
    distances TEXT NOT NULL CHECK (json_valid(distances)),
    shares    TEXT NOT NULL CHECK (json_valid(shares)),
    changes   TEXT NOT NULL CHECK (json_valid(changes))
) WITHOUT ROWID;

-- the page's failed sends: few rows, read by when they last changed
CREATE INDEX messages_failed_sends ON messages (updated_at)
    WHERE type != 'INBOUND' AND (status = 'FAILED_SEND' OR delivery_status IN ('undelivered', 'failed'));

-- The history has no transaction boundaries: the moves of one thread within one second are
-- netted instead (an edit's new version in and the old one out). The depth is anchored to
-- the replies waiting now, as the funnel continues from the latest hour's.
INSERT INTO queue_hours (hour, depth, peak)
WITH moves AS MATERIALIZED (
    SELECT min(at) AS at, thread_id, sum(delta) AS delta FROM (
        SELECT audit_log.timestamp AS at, messages.thread_id,
               (json_extract(audit_log.metadata, '$.to') IS 'DRAFT_PENDING_APPROVAL')
               - (json_extract(audit_log.metadata, '$.from') IS 'DRAFT_PENDING_APPROVAL')
                   AS delta
        FROM audit_log JOIN messages ON messages.id = audit_log.message_id
        WHERE messages.type != 'INBOUND'
          AND instr(audit_log.metadata, 'DRAFT_PENDING_APPROVAL') > 0)
    GROUP BY thread_id, substr(at, 1, 19) HAVING sum(delta) != 0
), running AS (
    SELECT substr(at, 1, 13) AS hour, delta,
           sum(delta) OVER (ORDER BY at, thread_id ROWS UNBOUNDED PRECEDING) AS depth,
           row_number() OVER (ORDER BY at, thread_id) AS seq
    FROM moves
), hours AS (
    SELECT hour, depth,
           first_value(depth - delta) OVER in_hour AS at_start,
           last_value(depth) OVER in_hour AS at_end
    FROM running
    WINDOW in_hour AS (PARTITION BY hour ORDER BY seq
                       ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
), anchor AS MATERIALIZED (
    SELECT (SELECT count(*) FROM messages
            WHERE status = 'DRAFT_PENDING_APPROVAL' AND type != 'INBOUND')
           - (SELECT coalesce(sum(delta), 0) FROM moves) AS offset_by
)
SELECT hour, max(at_end) + offset_by, max(max(depth), max(at_start)) + offset_by
FROM hours, anchor GROUP BY hour;

INSERT INTO decision_days (day, action, channel, reviewer_id, reviewer_phone, decisions)
SELECT substr(timestamp, 1, 10), action, channel, coalesce(reviewer_id, 0),
       CASE WHEN reviewer_id IS NULL THEN coalesce(reviewer_phone, '') ELSE '' END, count(*)
FROM approvals GROUP BY 1, 2, 3, 4, 5;

-- An edit-and-approve decides on the version edited: its wait runs from that one, named
-- by the new version's "Edited" audit row. Moments in whole microseconds, as
-- rollups.waited_micros counts them.
INSERT INTO decision_waits (day, reviewer_id, reviewer_phone, waits)
WITH decided AS MATERIALIZED (
    SELECT substr(approvals.timestamp, 1, 10) AS day,
           coalesce(approvals.reviewer_id, 0) AS reviewer_id,
           CASE WHEN approvals.reviewer_id IS NULL THEN coalesce(approvals.reviewer_phone, '')
                ELSE '' END AS reviewer_phone,
           approvals.timestamp AS at,
           coalesce(CASE WHEN approvals.action = 'EDIT' THEN (
               SELECT edited.timestamp FROM audit_log
               JOIN messages AS edited
                 ON edited.id = json_extract(audit_log.metadata, '$.previous_version')
               WHERE audit_log.message_id = approvals.draft_id
                 AND +audit_log.event = 'Edited'  -- the message's few rows, not every edit's
               LIMIT 1)
           END, draft.timestamp) AS since
    FROM approvals JOIN messages AS draft ON draft.id = approvals.draft_id
), waited AS MATERIALIZED (
    SELECT day, reviewer_id, reviewer_phone,
           max(0, (CAST(strftime('%s', substr(at, 1, 19)) AS INTEGER) * 1000000
                   + CASE WHEN substr(at, 20, 1) = '.' THEN CAST(substr(at, 21, 6) AS INTEGER)
                          ELSE 0 END)
                  - (CAST(strftime('%s', substr(since, 1, 19)) AS INTEGER) * 1000000
                     + CASE WHEN substr(since, 20, 1) = '.'
                            THEN CAST(substr(since, 21, 6) AS INTEGER) ELSE 0 END)) AS micros
    FROM decided
), stepped AS (
    SELECT day, reviewer_id, reviewer_phone, micros,
           CASE WHEN micros < 60000000 THEN 1
                WHEN micros < 600000000 THEN 6
                WHEN micros < 3600000000 THEN 60
                WHEN micros < 36000000000 THEN 360
                WHEN micros < 86400000000 THEN 3600
                WHEN micros < 864000000000 THEN 8640
                ELSE 86400 END AS step
    FROM waited
)
SELECT day, reviewer_id, reviewer_phone, json_group_object(seconds, n) FROM (
    SELECT day, reviewer_id, reviewer_phone,
           (micros + step * 500000) / (step * 1000000) * step AS seconds, count(*) AS n
    FROM stepped GROUP BY 1, 2, 3, 4)
GROUP BY 1, 2, 3;

INSERT INTO edit_days (day, edits, distances, shares, changes)
WITH sizes AS MATERIALIZED (
    SELECT substr(audit_log.timestamp, 1, 10) AS day,
           levenshtein(before.body, after.body) AS distance,
           max(length(before.body), length(after.body)) AS longest
    FROM audit_log
    JOIN messages AS after ON after.id = audit_log.message_id
    JOIN messages AS before ON before.id = json_extract(audit_log.metadata, '$.previous_version')
    WHERE audit_log.event = 'Edited'
), measured AS MATERIALIZED (
    SELECT day, distance,
           CASE WHEN longest > 0 THEN (distance * 2000 + longest) / (2 * longest) ELSE 0 END
               AS permille,
           CASE WHEN longest = 0 OR distance * 1.0 / longest <= 0.1 THEN 'up to 10%'
                WHEN distance * 1.0 / longest <= 0.25 THEN '10–25%'
                WHEN distance * 1.0 / longest <= 0.5 THEN '25–50%'
                ELSE 'over 50%' END AS change
    FROM sizes
)
SELECT day, sum(n) FILTER (WHERE kind = 'change'),
       json_group_object(key, n) FILTER (WHERE kind = 'distance'),
       json_group_object(key, n) FILTER (WHERE kind = 'share'),
       json_group_object(key, n) FILTER (WHERE kind = 'change')
FROM (
    SELECT day, 'distance' AS kind, distance AS key, count(*) AS n FROM measured GROUP BY 1, 3
    UNION ALL SELECT day, 'share', permille, count(*) FROM measured GROUP BY 1, 3
    UNION ALL SELECT day, 'change', change, count(*) FROM measured GROUP BY 1, 3)
GROUP BY day;
