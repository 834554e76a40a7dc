-- Search (issue 7, part 6): a full-text index over message text.
--
-- An external-content FTS5 table: the text lives once, in `messages`; the
-- index holds only the terms, keyed by the message's rowid. Triggers keep it
-- in step with every insert, edit and redaction (a redaction empties the
-- text, so a removed message is no longer found). `porter` stems English
-- words, as PostgreSQL's 'english' configuration does, so the same words
-- find the same messages on both engines. Who may see a hit is decided at
-- query time from the case memberships and restrictions, never stored here.

CREATE VIRTUAL TABLE messages_fts USING fts5 (
    body,
    content = 'messages',
    content_rowid = 'rowid',
    tokenize = 'porter unicode61 remove_diacritics 2'
);

INSERT INTO messages_fts (rowid, body) SELECT rowid, body FROM messages;

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, body) VALUES (new.rowid, new.body);
END;

CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
    INSERT INTO messages_fts (rowid, body) VALUES (new.rowid, new.body);
END;

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
END;
