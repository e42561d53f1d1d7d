-- the queue's live updates: replies pending approval in the order they became pending
-- (`updated_at`: created, or back from a pause or the sending gate), so each poll reads only
-- what came after the page's watermark, without a sort. Partial, as messages_pending_replies.
CREATE INDEX messages_pending_by_change ON messages (updated_at, id)
    WHERE status = 'DRAFT_PENDING_APPROVAL' AND type IN ('DRAFT', 'OUTBOUND');
