-- Encryption at rest for message text and findings (issue 9, part 5): the
-- text is sealed by the application (see server/src/sealing), so the search
-- index can no longer hold its words. Each searchable row gets a
-- `search_terms` column of keyed word hashes (a blind index, see
-- server/src/sealing/blind.rs), and the FTS5 tables of 0008 and 0009 are
-- rebuilt over that column instead of the text. Rows written before this
-- migration are sealed and indexed by the server when it starts.

DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_update;
DROP TRIGGER messages_fts_delete;
DROP TABLE messages_fts;
DROP TRIGGER rhi_findings_fts_insert;
DROP TRIGGER rhi_findings_fts_update;
DROP TRIGGER rhi_findings_fts_delete;
DROP TABLE rhi_findings_fts;
DROP TRIGGER finding_entries_fts_insert;
DROP TRIGGER finding_entries_fts_update;
DROP TRIGGER finding_entries_fts_delete;
DROP TABLE finding_entries_fts;

ALTER TABLE messages ADD COLUMN search_terms TEXT NOT NULL DEFAULT '';
ALTER TABLE rhi_findings ADD COLUMN search_terms TEXT NOT NULL DEFAULT '';
ALTER TABLE finding_entries ADD COLUMN search_terms TEXT NOT NULL DEFAULT '';

-- The tokens are `t` and 16 hex digits: unicode61 keeps each whole.
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    search_terms, content = 'messages', content_rowid = 'rowid', tokenize = 'unicode61'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, search_terms) VALUES (new.rowid, new.search_terms);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF search_terms ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, search_terms) VALUES ('delete', old.rowid, old.search_terms);
    INSERT INTO messages_fts (rowid, search_terms) VALUES (new.rowid, new.search_terms);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, search_terms) VALUES ('delete', old.rowid, old.search_terms);
END;

CREATE VIRTUAL TABLE rhi_findings_fts USING fts5 (
    search_terms, content = 'rhi_findings', content_rowid = 'rowid', tokenize = 'unicode61'
);
CREATE TRIGGER rhi_findings_fts_insert AFTER INSERT ON rhi_findings BEGIN
    INSERT INTO rhi_findings_fts (rowid, search_terms) VALUES (new.rowid, new.search_terms);
END;
CREATE TRIGGER rhi_findings_fts_update AFTER UPDATE OF search_terms ON rhi_findings BEGIN
    INSERT INTO rhi_findings_fts (rhi_findings_fts, rowid, search_terms) VALUES ('delete', old.rowid, old.search_terms);
    INSERT INTO rhi_findings_fts (rowid, search_terms) VALUES (new.rowid, new.search_terms);
END;
CREATE TRIGGER rhi_findings_fts_delete AFTER DELETE ON rhi_findings BEGIN
    INSERT INTO rhi_findings_fts (rhi_findings_fts, rowid, search_terms) VALUES ('delete', old.rowid, old.search_terms);
END;

CREATE VIRTUAL TABLE finding_entries_fts USING fts5 (
    search_terms, content = 'finding_entries', content_rowid = 'rowid', tokenize = 'unicode61'
);
CREATE TRIGGER finding_entries_fts_insert AFTER INSERT ON finding_entries BEGIN
    INSERT INTO finding_entries_fts (rowid, search_terms) VALUES (new.rowid, new.search_terms);
END;
CREATE TRIGGER finding_entries_fts_update AFTER UPDATE OF search_terms ON finding_entries BEGIN
    INSERT INTO finding_entries_fts (finding_entries_fts, rowid, search_terms) VALUES ('delete', old.rowid, old.search_terms);
    INSERT INTO finding_entries_fts (rowid, search_terms) VALUES (new.rowid, new.search_terms);
END;
CREATE TRIGGER finding_entries_fts_delete AFTER DELETE ON finding_entries BEGIN
    INSERT INTO finding_entries_fts (finding_entries_fts, rowid, search_terms) VALUES ('delete', old.rowid, old.search_terms);
END;
