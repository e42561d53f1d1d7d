-- PostgreSQL's form of SQLite's 0009_hot_path_indexes.sql.
CREATE INDEX messages_thread_type_status ON messages (thread_id, type, status, timestamp);
CREATE INDEX messages_thread_type_timestamp ON messages (thread_id, type, timestamp);
DROP INDEX messages_thread_timestamp;
DROP INDEX messages_status_timestamp;

CREATE INDEX draft_codes_issued ON draft_codes (issued_at);

CREATE INDEX audit_log_event_actor ON audit_log (event, actor_id, timestamp);
