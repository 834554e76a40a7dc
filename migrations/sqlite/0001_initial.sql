-- Confer schema, version 1: agencies, people, cases, case memberships,
-- sessions and the hash-chained audit log. Portable SQL: ids are UUID text,
-- instants are BIGINT milliseconds since the Unix epoch (UTC).

CREATE TABLE agencies (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL CHECK (kind IN ('childrens_social_care', 'police', 'health', 'education',
                                              'housing', 'probation', 'youth_justice', 'early_help', 'other')),
    duty_email  TEXT,
    created_at  BIGINT NOT NULL
);

CREATE TABLE people (
    id          TEXT PRIMARY KEY,
    agency_id   TEXT NOT NULL REFERENCES agencies (id),
    name        TEXT NOT NULL,
    -- Stored lower-cased; one person per address across the partnership.
    email       TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('practitioner', 'manager', 'admin', 'auditor')),
    -- 'member' signs in through the agency; 'guest' is invited to one case or meeting.
    kind        TEXT NOT NULL DEFAULT 'member' CHECK (kind IN ('member', 'guest')),
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deactivated')),
    created_at  BIGINT NOT NULL
);
CREATE INDEX people_agency ON people (agency_id);

CREATE TABLE cases (
    id                     TEXT PRIMARY KEY,
    -- Confer's own reference: means nothing outside Confer, safe in mail and calendars.
    reference              TEXT NOT NULL UNIQUE,
    child_name             TEXT NOT NULL,
    child_dob              TEXT NOT NULL,
    la_reference           TEXT NOT NULL,
    status                 TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    lead_social_worker_id  TEXT NOT NULL REFERENCES people (id),
    opened_at              BIGINT NOT NULL,
    closed_at              BIGINT
);

CREATE TABLE case_memberships (
    id                TEXT PRIMARY KEY,
    case_id           TEXT NOT NULL REFERENCES cases (id),
    person_id         TEXT NOT NULL REFERENCES people (id),
    -- NULL when an operator granted it from the command line; the label says who.
    granted_by        TEXT REFERENCES people (id),
    granted_by_label  TEXT NOT NULL,
    granted_at        BIGINT NOT NULL,
    reason            TEXT NOT NULL,
    expires_at        BIGINT,
    ended_at          BIGINT,
    ended_by_label    TEXT,
    end_reason        TEXT
);
-- At most one current membership per person and case; ended ones stay as history.
CREATE UNIQUE INDEX case_memberships_current ON case_memberships (case_id, person_id) WHERE ended_at IS NULL;
CREATE INDEX case_memberships_person ON case_memberships (person_id) WHERE ended_at IS NULL;

CREATE TABLE sessions (
    -- SHA-256 of the cookie value: a database read does not yield usable cookies.
    id_hash              TEXT PRIMARY KEY,
    person_id            TEXT NOT NULL REFERENCES people (id),
    method               TEXT NOT NULL,
    csrf_token           TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    last_seen_at         BIGINT NOT NULL,
    idle_timeout_ms      BIGINT NOT NULL,
    absolute_expires_at  BIGINT NOT NULL,
    revoked_at           BIGINT
);
CREATE INDEX sessions_person ON sessions (person_id);

-- Append-only, hash-chained: hash = SHA-256(prev_hash, seq, at, actor, action, case, subject, detail).
CREATE TABLE audit_events (
    seq          BIGINT PRIMARY KEY,
    at           BIGINT NOT NULL,
    actor_id     TEXT,
    actor_label  TEXT NOT NULL,
    action       TEXT NOT NULL,
    case_id      TEXT,
    subject      TEXT,
    detail       TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX audit_events_case ON audit_events (case_id, seq);

-- The chain head: one row, locked by every append so that appends are serial
-- across processes and nodes.
CREATE TABLE audit_head (
    id    BIGINT PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
