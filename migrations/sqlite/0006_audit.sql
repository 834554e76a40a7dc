-- Audit, version 6: checkpoints of the chain head, indexes for the
-- auditor's search, and break-glass openings of cases awaiting review.

-- A checkpoint is the chain head (seq, hash) at one moment. The copy that
-- proves anything is the one held outside this database (see
-- docs/information-governance-audit.md); this table records that one was
-- taken, when and by whom. Append-only like the log itself.
CREATE TABLE audit_checkpoints (
    id           TEXT PRIMARY KEY,
    seq          BIGINT NOT NULL,
    hash         TEXT NOT NULL,
    taken_at     BIGINT NOT NULL,
    taken_by     TEXT NOT NULL
);
CREATE INDEX audit_checkpoints_seq ON audit_checkpoints (seq);

CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;

-- The auditor searches by person, action and time, newest first.
CREATE INDEX audit_events_actor ON audit_events (actor_id, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);
CREATE INDEX audit_events_at ON audit_events (at);

-- A manager who was not in a case opened it with a reason: a time-limited
-- membership, flagged for review by an auditor.
CREATE TABLE break_glass (
    id                 TEXT PRIMARY KEY,
    case_id            TEXT NOT NULL REFERENCES cases (id),
    person_id          TEXT NOT NULL REFERENCES people (id),
    membership_id      TEXT NOT NULL REFERENCES case_memberships (id),
    reason             TEXT NOT NULL,
    started_at         BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    reviewed_by        TEXT REFERENCES people (id),
    reviewed_by_label  TEXT,
    reviewed_at        BIGINT,
    review_note        TEXT
);
CREATE INDEX break_glass_started ON break_glass (started_at);
CREATE INDEX break_glass_case ON break_glass (case_id);
