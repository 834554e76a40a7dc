-- The delivery log (issue 8): one row per (message, person), written at
-- thousands of rows a second under load. `deliveries_person` made every
-- batch touch a page per recipient all over an index no query uses; the
-- primary key (message_id, person_id) serves every lookup.

DROP INDEX deliveries_person;
