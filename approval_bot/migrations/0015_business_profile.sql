-- The business profile the drafters answer from, and the first-run setup checklist.
--
-- The profile is one JSON document in a one-row table: it is validated whole (pydantic,
-- approval_bot/profile.py), always read whole (by the drafters, the API and the Business
-- page), and its nested parts (hours per weekday, exceptions, services) are never queried
-- on their own, so columns or child tables would only split what is written and read as one.
-- The draft's source ("from opening hours", "FAQ: parking") lives in its draft_meta.
CREATE TABLE business_profile (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    document   TEXT NOT NULL CHECK (json_valid(document)),
    updated_at TEXT NOT NULL,
    updated_by INTEGER REFERENCES reviewers (id)
);

-- A setup step an admin marked done or skipped; a step without a row is still open
-- (unless what it asks for exists: approval_bot/setup.py).
CREATE TABLE setup_steps (
    step       TEXT PRIMARY KEY
               CHECK (step IN ('profile', 'faq', 'reviewers', 'twilio', 'simulator')),
    state      TEXT NOT NULL CHECK (state IN ('done', 'skipped')),
    updated_at TEXT NOT NULL,
    updated_by INTEGER REFERENCES reviewers (id)
) WITHOUT ROWID;
