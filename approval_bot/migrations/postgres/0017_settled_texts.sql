-- PostgreSQL's form of SQLite's 0017_settled_texts.sql.
ALTER TABLE messages ADD COLUMN settled_at TEXT;

UPDATE messages SET settled_at = coalesce(messages.updated_at, messages.timestamp)
WHERE type = 'INBOUND' AND status = 'NEEDS_REVIEW'
  AND (
    EXISTS (
      SELECT 1 FROM messages AS reply
      WHERE reply.thread_id = messages.thread_id
        AND reply.type IN ('DRAFT', 'OUTBOUND') AND reply.status = 'SENT'
        AND reply.timestamp > messages.timestamp)
    OR EXISTS (SELECT 1 FROM dismissals WHERE dismissals.message_id = messages.id));

CREATE INDEX messages_open_needs_review ON messages (timestamp, id)
    WHERE type = 'INBOUND' AND status = 'NEEDS_REVIEW' AND settled_at IS NULL;
