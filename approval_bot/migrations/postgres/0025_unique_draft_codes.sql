-- PostgreSQL's form of SQLite's 0025_unique_draft_codes.sql (the same statements).
-- One row per draft code, so two drafts announced at once (two instances on one database)
-- can never both take a code: issuing one writes it with ON CONFLICT (code), reclaiming a
-- spent row (closed and past its quiet period, which pruning would delete) and refusing a
-- taken one. Where a code was issued twice only its latest row, the draft a reviewer's text
-- already meant, is kept.
DELETE FROM draft_codes WHERE EXISTS (
    SELECT 1 FROM draft_codes AS newer
    WHERE newer.code = draft_codes.code
      AND (newer.issued_at > draft_codes.issued_at
           OR (newer.issued_at = draft_codes.issued_at
               AND newer.message_id > draft_codes.message_id)));
DROP INDEX draft_codes_code;
CREATE UNIQUE INDEX draft_codes_unique_code ON draft_codes (code);
