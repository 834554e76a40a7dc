-- Search (issue 7, part 6): a full-text index over message text.
--
-- A GIN index on the 'english' text-search vector of the body: PostgreSQL
-- keeps it in step with every insert, edit and redaction itself (a
-- redaction empties the text, so a removed message is no longer found).
-- The query repeats the same expression, `to_tsvector('english', body)`,
-- so the planner uses the index. Who may see a hit is decided at query
-- time from the case memberships and restrictions, never stored here.

CREATE INDEX messages_body_search ON messages USING GIN (to_tsvector('english', body));
