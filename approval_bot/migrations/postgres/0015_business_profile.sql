-- PostgreSQL's form of SQLite's 0015_business_profile.sql.
CREATE TABLE business_profile (
    id         BIGINT PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    document   TEXT NOT NULL CHECK (json_valid(document)),
    updated_at TEXT NOT NULL,
    updated_by BIGINT REFERENCES reviewers (id)
);

CREATE TABLE setup_steps (
    step       TEXT PRIMARY KEY
               CHECK (step IN ('profile', 'faq', 'reviewers', 'twilio', 'simulator')),
    state      TEXT NOT NULL CHECK (state IN ('done', 'skipped')),
    updated_at TEXT NOT NULL,
    updated_by BIGINT REFERENCES reviewers (id)
);
