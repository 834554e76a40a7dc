-- The message search index is brought up to date in bulk (issue 8, session
-- 13). FTS5 writes a segment of its own in every transaction that adds to
-- it, and a trigger adding each message as it was inserted made every group
-- commit pay for one: about a seventh of the single writer's time under
-- load. Now the writer adds new messages to the index every few hundred
-- milliseconds, in one statement inside a batch's transaction, and a search
-- brings the index up to date first, so a search still finds every message
-- stored before it (see server/src/store/search_index.rs).
--
-- `search_indexed.upto` is the highest `messages` rowid the index holds.
-- Rowids only grow (messages are never deleted, and SQLite numbers a new
-- row one past the highest), so everything above `upto` is what the index
-- still lacks. An edit or deletion of a row the index does not hold yet must
-- not tell FTS5 to delete it (that would corrupt an external-content index):
-- the triggers below act only on rows at or below `upto`; the others are
-- indexed later with whatever text they have then.

CREATE TABLE search_indexed (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    upto INTEGER NOT NULL
);
INSERT INTO search_indexed (id, upto) SELECT 1, COALESCE(MAX(rowid), 0) FROM messages;

DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_update;
DROP TRIGGER messages_fts_delete;

CREATE TRIGGER messages_fts_update AFTER UPDATE OF search_terms ON messages
WHEN old.rowid <= (SELECT upto FROM search_indexed)
BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, search_terms) VALUES ('delete', old.rowid, old.search_terms);
    INSERT INTO messages_fts (rowid, search_terms) VALUES (new.rowid, new.search_terms);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.rowid <= (SELECT upto FROM search_indexed)
BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, search_terms) VALUES ('delete', old.rowid, old.search_terms);
END;
