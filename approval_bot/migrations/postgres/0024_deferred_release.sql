-- PostgreSQL's form of SQLite's 0024_deferred_release.sql: a release made while the thread
-- was paused, given back to the bot at the resume; NULL when none waits.
ALTER TABLE thread_controls ADD COLUMN release_deferred_at TEXT;
