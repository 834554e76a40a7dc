-- Nothing to do on PostgreSQL. On SQLite this version makes the message
-- search index (FTS5) take in new messages in bulk rather than by a
-- trigger per insert (migrations/sqlite/0013_search_deferred.sql). Here the
-- index is a GIN index PostgreSQL keeps itself, in every transaction. The
-- file keeps both engines' migrations at the same versions.
SELECT 1;
