-- PostgreSQL's form of SQLite's 0010_stats_rollups.sql: the rollup tables, and their
-- back-fill from the history written in PostgreSQL's functions.

-- The edit sizes: Levenshtein's distance in characters (code points), as rapidfuzz counts
-- it on the live path and as SQLite's writer registers it. fuzzystrmatch's levenshtein()
-- refuses texts over 255 characters (a reply may have 1600) and needs an extension, so the
-- distance is computed here: two rows of the table, O(len(a) * len(b)).
CREATE FUNCTION levenshtein(a TEXT, b TEXT) RETURNS BIGINT
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    la INT := char_length(a);
    lb INT := char_length(b);
    previous INT[];
    current_row INT[];
    ca TEXT;
    i INT;
    j INT;
BEGIN
    IF la = 0 THEN RETURN lb; END IF;
    IF lb = 0 THEN RETURN la; END IF;
    previous := array(SELECT generate_series(0, lb));
    FOR i IN 1 .. la LOOP
        ca := substr(a, i, 1);
        current_row := array[i];
        FOR j IN 1 .. lb LOOP
            current_row := current_row || least(
                previous[j + 1] + 1,
                current_row[j] + 1,
                previous[j] + CASE WHEN ca = substr(b, j, 1) THEN 0 ELSE 1 END);
        END LOOP;
        previous := current_row;
    END LOOP;
    RETURN previous[lb + 1];
END;
$$;

CREATE TABLE queue_hours (
    hour  TEXT PRIMARY KEY,  -- 'YYYY-MM-DDTHH'
    depth BIGINT NOT NULL,
    peak  BIGINT NOT NULL
);

CREATE TABLE decision_days (
    day            TEXT NOT NULL,
    action         TEXT NOT NULL,
    channel        TEXT NOT NULL,
    reviewer_id    BIGINT NOT NULL,
    reviewer_phone TEXT NOT NULL,
    decisions      BIGINT NOT NULL,
    PRIMARY KEY (day, action, channel, reviewer_id, reviewer_phone)
);

CREATE TABLE decision_waits (
    day            TEXT NOT NULL,
    reviewer_id    BIGINT NOT NULL,
    reviewer_phone TEXT NOT NULL,
    waits          TEXT NOT NULL CHECK (json_valid(waits)),
    PRIMARY KEY (day, reviewer_id, reviewer_phone)
);

CREATE TABLE edit_days (
    day       TEXT PRIMARY KEY,
    edits     BIGINT NOT NULL,
    distances TEXT NOT NULL CHECK (json_valid(distances)),
    shares    TEXT NOT NULL CHECK (json_valid(shares)),
    changes   TEXT NOT NULL CHECK (json_valid(changes))
);

CREATE INDEX messages_failed_sends ON messages (updated_at)
    WHERE type != 'INBOUND' AND (status = 'FAILED_SEND' OR delivery_status IN ('undelivered', 'failed'));

INSERT INTO queue_hours (hour, depth, peak)
WITH moves AS MATERIALIZED (
    SELECT min(at) AS at, thread_id, sum(delta) AS delta FROM (
        SELECT audit_log.timestamp AS at, messages.thread_id,
               (audit_log.metadata::json ->> 'to'
                   IS NOT DISTINCT FROM 'DRAFT_PENDING_APPROVAL')::int
               - (audit_log.metadata::json ->> 'from'
                   IS NOT DISTINCT FROM 'DRAFT_PENDING_APPROVAL')::int
                   AS delta
        FROM audit_log JOIN messages ON messages.id = audit_log.message_id
        WHERE messages.type != 'INBOUND'
          AND strpos(audit_log.metadata, 'DRAFT_PENDING_APPROVAL') > 0) AS moved
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
SELECT hour, max(at_end) + offset_by, greatest(max(depth), max(at_start)) + offset_by
FROM hours, anchor GROUP BY hour, offset_by;

INSERT INTO decision_days (day, action, channel, reviewer_id, reviewer_phone, decisions)
SELECT substr(timestamp, 1, 10), action, channel, coalesce(reviewer_id, 0),
       CASE WHEN reviewer_id IS NULL THEN coalesce(reviewer_phone, '') ELSE '' END, count(*)
FROM approvals GROUP BY 1, 2, 3, 4, 5;

-- moments in whole microseconds, as rollups.waited_micros counts them: the whole seconds of
-- the first 19 characters (read as UTC, as SQLite's strftime('%s') reads them) and the
-- fraction's digits
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
                 ON edited.id = audit_log.metadata::json ->> 'previous_version'
               WHERE audit_log.message_id = approvals.draft_id
                 AND audit_log.event = 'Edited'
               LIMIT 1)
           END, draft.timestamp) AS since
    FROM approvals JOIN messages AS draft ON draft.id = approvals.draft_id
), waited AS MATERIALIZED (
    SELECT day, reviewer_id, reviewer_phone,
           greatest(0, (extract(epoch FROM substr(at, 1, 19)::timestamp)::bigint * 1000000
                   + CASE WHEN substr(at, 20, 1) = '.'
                          THEN substr(at, 21, 6)::bigint ELSE 0 END)
                  - (extract(epoch FROM substr(since, 1, 19)::timestamp)::bigint * 1000000
                     + CASE WHEN substr(since, 20, 1) = '.'
                            THEN substr(since, 21, 6)::bigint ELSE 0 END)) AS micros
    FROM decided
), stepped AS (
    SELECT day, reviewer_id, reviewer_phone, micros,
           CASE WHEN micros < 60000000 THEN 1
                WHEN micros < 600000000 THEN 6
                WHEN micros < 3600000000 THEN 60
                WHEN micros < 36000000000 THEN 360
                WHEN micros < 86400000000 THEN 3600
                WHEN micros < 864000000000 THEN 8640
                ELSE 86400 END::bigint AS step  -- step * 1000000 overflows an int
    FROM waited
)
SELECT day, reviewer_id, reviewer_phone, jsonb_object_agg(seconds, n)::text FROM (
    SELECT day, reviewer_id, reviewer_phone,
           (micros + step * 500000) / (step * 1000000) * step AS seconds, count(*) AS n
    FROM stepped GROUP BY 1, 2, 3, 4) AS counted
GROUP BY 1, 2, 3;

INSERT INTO edit_days (day, edits, distances, shares, changes)
WITH sizes AS MATERIALIZED (
    SELECT substr(audit_log.timestamp, 1, 10) AS day,
           levenshtein(before.body, after.body) AS distance,
           greatest(length(before.body), length(after.body)) AS longest
    FROM audit_log
    JOIN messages AS after ON after.id = audit_log.message_id
    JOIN messages AS before ON before.id = audit_log.metadata::json ->> 'previous_version'
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
       jsonb_object_agg(key, n) FILTER (WHERE kind = 'distance')::text,
       jsonb_object_agg(key, n) FILTER (WHERE kind = 'share')::text,
       jsonb_object_agg(key, n) FILTER (WHERE kind = 'change')::text
FROM (
    SELECT day, 'distance' AS kind, distance::text AS key, count(*) AS n
    FROM measured GROUP BY 1, 3
    UNION ALL SELECT day, 'share', permille::text, count(*) FROM measured GROUP BY 1, 3
    UNION ALL SELECT day, 'change', change, count(*) FROM measured GROUP BY 1, 3) AS counted
GROUP BY day;
