-- A release made while the thread was paused: the texts left for the holder stay with the
-- pause, and the resume gives them back to the bot as the release would have. When it
-- was made; NULL when no release waits for a resume.
ALTER TABLE thread_controls ADD COLUMN release_deferred_at TEXT;
