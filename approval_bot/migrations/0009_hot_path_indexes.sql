-- Indexes for the statements the webhook, drafting, review and sender paths run, so that
-- none of them reads more as the history grows (see the query-plan test).

-- a thread's messages of one type in one status: the customer's open messages, the replies
-- to supersede or to hold on a pause ((type, status) alone matches most of the history,
-- since answered customer messages keep DRAFT_PENDING_APPROVAL)
CREATE INDEX messages_thread_type_status ON messages (thread_id, type, status, timestamp);
-- a thread's latest message of one type: the last thing the customer wrote
CREATE INDEX messages_thread_type_timestamp ON messages (thread_id, type, timestamp);
-- prefixes of messages_thread_timestamp_id and messages_status_timestamp_id: every query
-- they served is served as well by the longer index, and each index costs every write
DROP INDEX messages_thread_timestamp;
DROP INDEX messages_status_timestamp;

-- the codes past their use, oldest first, for the pruning job
CREATE INDEX draft_codes_issued ON draft_codes (issued_at);

-- a reviewer's recent refused commands (the answer limit), not every refusal ever
CREATE INDEX audit_log_event_actor ON audit_log (event, actor_id, timestamp);
