-- A customer's text that waited for a written reply (NEEDS_REVIEW) is settled for good once
-- a reply made after it is sent, or once it is dismissed: no work list shows it again. Such
-- texts keep their status, so without this mark the "Needs reply" list and its menu count
-- read every one ever answered; the partial index below holds only the open ones, and its
-- size follows the work waiting, not the history.
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
