-- PostgreSQL's form of SQLite's 0023_withdrawn_notifications.sql. WITHDRAWN joins the
-- notification statuses: PostgreSQL changes the CHECK in place, where SQLite rebuilt the
-- table.
ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check
    CHECK (status IN ('PENDING', 'HELD', 'SENT', 'FAILED', 'DIGESTED', 'WITHDRAWN'));
