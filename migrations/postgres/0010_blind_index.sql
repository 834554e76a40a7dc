-- Encryption at rest for message text and findings (issue 9, part 5): the
-- text is sealed by the application (see server/src/sealing), so the search
-- index can no longer hold its words. Each searchable row gets a
-- `search_terms` column of keyed word hashes (a blind index, see
-- server/src/sealing/blind.rs), and the GIN indexes of 0008 and 0009 are
-- rebuilt over that column with the 'simple' configuration (no stemming:
-- the tokens are `t` and 16 hex digits, stemmed before hashing). Rows
-- written before this migration are sealed and indexed by the server when
-- it starts.

DROP INDEX messages_body_search;
DROP INDEX rhi_findings_search;
DROP INDEX finding_entries_search;

ALTER TABLE messages ADD COLUMN search_terms TEXT NOT NULL DEFAULT '';
ALTER TABLE rhi_findings ADD COLUMN search_terms TEXT NOT NULL DEFAULT '';
ALTER TABLE finding_entries ADD COLUMN search_terms TEXT NOT NULL DEFAULT '';

CREATE INDEX messages_search_terms ON messages USING GIN (to_tsvector('simple', search_terms));
CREATE INDEX rhi_findings_search_terms ON rhi_findings USING GIN (to_tsvector('simple', search_terms));
CREATE INDEX finding_entries_search_terms ON finding_entries USING GIN (to_tsvector('simple', search_terms));
