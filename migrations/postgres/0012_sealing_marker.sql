-- Whether every row is sealed and indexed (see server/src/store/resealing.rs),
-- so that a server start need not look through every table to find out.
-- One row at most: 'sealing' while a walk through the tables is under way
-- (set before it starts), 'sealed' once it has finished. No row: unknown
-- (a database from before this migration, or a row written in plaintext
-- since), and the next start walks the tables.
--
-- Any write of plaintext into a sealed column, by whatever version of
-- Confer (an older node still running during an upgrade), deletes the row:
-- the triggers below. This version never writes plaintext, so the triggers
-- fire only on what an older version writes (the WHEN clause is all a
-- sealed write costs).

CREATE TABLE sealing_marker (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL CHECK (state IN ('sealing', 'sealed'))
);

CREATE FUNCTION sealing_marker_clear() RETURNS trigger AS $$
BEGIN
    DELETE FROM sealing_marker;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER messages_plaintext AFTER INSERT OR UPDATE OF body ON messages
FOR EACH ROW WHEN (new.body <> '' AND new.body NOT LIKE 'cf1:%')
EXECUTE FUNCTION sealing_marker_clear();

CREATE TRIGGER message_versions_plaintext AFTER INSERT OR UPDATE OF body ON message_versions
FOR EACH ROW WHEN (new.body <> '' AND new.body NOT LIKE 'cf1:%')
EXECUTE FUNCTION sealing_marker_clear();

CREATE TRIGGER rhi_findings_plaintext AFTER INSERT OR UPDATE OF push_factors, pull_factors,
    where_child_was, who_with, harm, child_wishes, wants_next, free_text ON rhi_findings
FOR EACH ROW WHEN ((new.push_factors <> '' AND new.push_factors NOT LIKE 'cf1:%')
    OR (new.pull_factors <> '' AND new.pull_factors NOT LIKE 'cf1:%')
    OR (new.where_child_was <> '' AND new.where_child_was NOT LIKE 'cf1:%')
    OR (new.who_with <> '' AND new.who_with NOT LIKE 'cf1:%')
    OR (new.harm <> '' AND new.harm NOT LIKE 'cf1:%')
    OR (new.child_wishes <> '' AND new.child_wishes NOT LIKE 'cf1:%')
    OR (new.wants_next <> '' AND new.wants_next NOT LIKE 'cf1:%')
    OR (new.free_text <> '' AND new.free_text NOT LIKE 'cf1:%'))
EXECUTE FUNCTION sealing_marker_clear();

CREATE TRIGGER finding_entries_plaintext AFTER INSERT OR UPDATE OF value, note ON finding_entries
FOR EACH ROW WHEN ((new.value <> '' AND new.value NOT LIKE 'cf1:%')
    OR (new.note <> '' AND new.note NOT LIKE 'cf1:%'))
EXECUTE FUNCTION sealing_marker_clear();

-- The child-identifying columns of a case are sealed even when empty.
CREATE TRIGGER cases_plaintext AFTER INSERT OR UPDATE OF child_name, child_dob, la_reference ON cases
FOR EACH ROW WHEN (new.child_name NOT LIKE 'cf1:%' OR new.child_dob NOT LIKE 'cf1:%'
    OR new.la_reference NOT LIKE 'cf1:%')
EXECUTE FUNCTION sealing_marker_clear();
