-- Case-scoped channels, messages with gap-free per-channel sequences, edits
-- and redactions that keep the original, restricted messages, read receipts
-- and the delivery log.

CREATE TABLE channels (
    id          TEXT PRIMARY KEY,
    case_id     TEXT NOT NULL REFERENCES cases (id),
    kind        TEXT NOT NULL CHECK (kind IN ('case', 'meeting', 'missing_episode')),
    name        TEXT NOT NULL,
    -- The last sequence number given out; bumped in the sending transaction,
    -- so a rolled-back send leaves no gap.
    last_seq    BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX channels_one_case_channel ON channels (case_id) WHERE kind = 'case';
CREATE INDEX channels_case ON channels (case_id);

-- A channel narrower than its case: only these agencies or people (besides
-- nobody else) may see it. No rows: the whole case team.
CREATE TABLE channel_restrictions (
    channel_id  TEXT NOT NULL REFERENCES channels (id),
    agency_id   TEXT REFERENCES agencies (id),
    person_id   TEXT REFERENCES people (id),
    CHECK ((agency_id IS NULL) <> (person_id IS NULL))
);
CREATE INDEX channel_restrictions_channel ON channel_restrictions (channel_id);

CREATE TABLE messages (
    id                  TEXT PRIMARY KEY,
    channel_id          TEXT NOT NULL REFERENCES channels (id),
    seq                 BIGINT NOT NULL,
    author_id           TEXT NOT NULL REFERENCES people (id),
    -- The sender's idempotency key: a retried send returns the first result.
    client_id           TEXT NOT NULL,
    body                TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    edited_at           BIGINT,
    redacted_at         BIGINT,
    redacted_by         TEXT REFERENCES people (id),
    restricted          BIGINT NOT NULL DEFAULT 0 CHECK (restricted IN (0, 1)),
    restriction_reason  TEXT
);
CREATE UNIQUE INDEX messages_channel_seq ON messages (channel_id, seq);
CREATE UNIQUE INDEX messages_idempotency ON messages (channel_id, author_id, client_id);

-- Who may see a restricted message besides its author.
CREATE TABLE message_restrictions (
    message_id  TEXT NOT NULL REFERENCES messages (id),
    agency_id   TEXT REFERENCES agencies (id),
    person_id   TEXT REFERENCES people (id),
    CHECK ((agency_id IS NULL) <> (person_id IS NULL))
);
CREATE INDEX message_restrictions_message ON message_restrictions (message_id);

-- Every earlier text of an edited or redacted message, for auditors.
CREATE TABLE message_versions (
    message_id  TEXT NOT NULL REFERENCES messages (id),
    version     BIGINT NOT NULL,
    body        TEXT NOT NULL,
    replaced_at BIGINT NOT NULL,
    replaced_by TEXT NOT NULL REFERENCES people (id),
    change      TEXT NOT NULL CHECK (change IN ('edited', 'redacted')),
    PRIMARY KEY (message_id, version)
);

-- Read receipts: each time a person's read marker in a channel advances.
-- "When did X read message N" is the earliest row with upto_seq >= N.
CREATE TABLE read_receipts (
    channel_id  TEXT NOT NULL REFERENCES channels (id),
    person_id   TEXT NOT NULL REFERENCES people (id),
    upto_seq    BIGINT NOT NULL,
    read_at     BIGINT NOT NULL,
    PRIMARY KEY (channel_id, person_id, upto_seq)
);

-- The delivery log: which person was sent which message, first time only.
-- Written in batches off the hot path.
CREATE TABLE deliveries (
    message_id    TEXT NOT NULL REFERENCES messages (id),
    person_id     TEXT NOT NULL REFERENCES people (id),
    delivered_at  BIGINT NOT NULL,
    PRIMARY KEY (message_id, person_id)
);
CREATE INDEX deliveries_person ON deliveries (person_id, delivered_at);

-- Every existing case gets its case channel.
INSERT INTO channels (id, case_id, kind, name, last_seq, created_at)
SELECT 'ch-' || id, id, 'case', 'Case discussion', 0, opened_at FROM cases;
