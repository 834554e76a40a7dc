-- The delivery log (issue 8): one row per (message, person), written at
-- thousands of rows a second under load. It was a rowid table with two
-- indexes, one of them, `deliveries_person`, keyed by person: every batch
-- touched a page per recipient all over that index, and no query used it.
-- Rebuilt as one clustered B-tree keyed by (message_id, person_id): message
-- ids are time-ordered (UUIDv7), so a batch appends at the end of it.

CREATE TABLE deliveries_log (
    message_id    TEXT NOT NULL REFERENCES messages (id),
    person_id     TEXT NOT NULL REFERENCES people (id),
    delivered_at  BIGINT NOT NULL,
    PRIMARY KEY (message_id, person_id)
) WITHOUT ROWID;
INSERT INTO deliveries_log (message_id, person_id, delivered_at)
SELECT message_id, person_id, delivered_at FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_log RENAME TO deliveries;
