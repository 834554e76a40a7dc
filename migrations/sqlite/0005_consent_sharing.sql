-- Consent register, information-sharing records and overrides (issue 6).
-- Consent versions are append-only; sharing records reference what was
-- shared (a message, a meeting's record, findings), never copy it.

-- A case's default lawful basis and purpose for everyday sharing, so that
-- messaging needs no extra clicks.
ALTER TABLE cases ADD COLUMN lawful_basis TEXT NOT NULL DEFAULT 'public_task';
ALTER TABLE cases ADD COLUMN sharing_purpose TEXT NOT NULL DEFAULT 'Safeguarding and promoting the welfare of the child';

-- Bumped by every change to the case's consent records, overrides or
-- default basis, and copied onto each of its channels, so the message writer
-- learns from the channel row it already updates whether its cached view of
-- the case is current (0: the case has never had any, nothing is held back).
ALTER TABLE cases ADD COLUMN sharing_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN sharing_version BIGINT NOT NULL DEFAULT 0;

-- One consent record per person (the child, a parent or carer), purpose and scope.
CREATE TABLE consent_records (
    id            TEXT PRIMARY KEY,
    case_id       TEXT NOT NULL REFERENCES cases (id),
    subject_name  TEXT NOT NULL,
    relationship  TEXT NOT NULL CHECK (relationship IN ('child', 'mother', 'father', 'parent', 'carer', 'other')),
    purpose       TEXT NOT NULL,
    -- The agency kinds it covers, comma-separated (e.g. 'health,education'), or 'all'.
    scope         TEXT NOT NULL,
    created_by    TEXT NOT NULL REFERENCES people (id),
    created_at    BIGINT NOT NULL
);
CREATE INDEX consent_records_case ON consent_records (case_id);

-- Every change is a new version: who, when, why, and the evidence.
CREATE TABLE consent_versions (
    record_id          TEXT NOT NULL REFERENCES consent_records (id),
    version            BIGINT NOT NULL,
    state              TEXT NOT NULL CHECK (state IN ('sought', 'given', 'refused', 'withdrawn', 'not_sought')),
    -- Given: 'verbal' or 'written', with the detail (who said what, where the form is).
    evidence           TEXT CHECK (evidence IN ('verbal', 'written')),
    detail             TEXT NOT NULL DEFAULT '',
    -- Not sought: 'would_place_child_at_risk', 'would_prejudice_police_investigation',
    -- 'could_not_be_obtained_in_time' or 'other' (the reason in detail).
    not_sought_reason  TEXT,
    -- The child's own record: whether judged competent (Gillick) to decide, and their view.
    gillick_competent  BIGINT CHECK (gillick_competent IN (0, 1)),
    child_view         TEXT NOT NULL DEFAULT '',
    -- Why this change was recorded.
    why                TEXT NOT NULL,
    recorded_by        TEXT NOT NULL REFERENCES people (id),
    recorded_at        BIGINT NOT NULL,
    PRIMARY KEY (record_id, version)
);

-- Sharing against a refused or withdrawn consent: the override, its lawful
-- basis and reason, and (if configured) a manager's approval.
CREATE TABLE sharing_overrides (
    id                 TEXT PRIMARY KEY,
    case_id            TEXT NOT NULL REFERENCES cases (id),
    consent_record_id  TEXT NOT NULL REFERENCES consent_records (id),
    -- The version of the consent record it overrides: a later change to the
    -- record (asked again, given, then withdrawn) needs a fresh decision.
    consent_version    BIGINT NOT NULL,
    -- The agency kind the override lets information reach, or 'all' the record covers.
    agency_kind        TEXT NOT NULL,
    lawful_basis       TEXT NOT NULL,
    reason             TEXT NOT NULL,
    requested_by       TEXT NOT NULL REFERENCES people (id),
    requested_at       BIGINT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('requested', 'approved', 'refused')),
    decided_by         TEXT REFERENCES people (id),
    decided_at         BIGINT
);
CREATE INDEX sharing_overrides_record ON sharing_overrides (consent_record_id, status);

-- One act of sharing (or a decision not to share).
CREATE TABLE sharing_records (
    id                      TEXT PRIMARY KEY,
    case_id                 TEXT NOT NULL REFERENCES cases (id),
    source                  TEXT NOT NULL CHECK (source IN ('message', 'minutes', 'findings', 'manual', 'not_shared')),
    -- What was shared, as a reference: a message id, a meeting id, findings id; for
    -- manual records and decisions, a new id.
    item_ref                TEXT NOT NULL,
    -- The reference for people ("message 12 in Case discussion"), never a copy.
    what                    TEXT NOT NULL,
    from_person_id          TEXT REFERENCES people (id),
    from_agency_id          TEXT REFERENCES agencies (id),
    to_agency_id            TEXT REFERENCES agencies (id),
    to_person_id            TEXT REFERENCES people (id),
    -- For shares outside Confer: who, as written ("Dr Okafor, Riverside Surgery").
    to_description          TEXT NOT NULL DEFAULT '',
    shared_at               BIGINT NOT NULL,
    purpose                 TEXT NOT NULL,
    -- NULL only for a decision not to share, which relies on no basis.
    lawful_basis            TEXT,
    -- The consent relied on, or the reason for sharing without it.
    consent_record_id       TEXT REFERENCES consent_records (id),
    consent_state           TEXT,
    without_consent_reason  TEXT,
    override_id             TEXT REFERENCES sharing_overrides (id),
    -- A decision not to share: the reasons.
    reasons                 TEXT NOT NULL DEFAULT '',
    recorded_by             TEXT REFERENCES people (id),
    created_at              BIGINT NOT NULL,
    CHECK (source = 'not_shared' OR lawful_basis IS NOT NULL)
);
-- Automatic records: one per item and receiving agency, however many deliveries.
CREATE UNIQUE INDEX sharing_records_automatic ON sharing_records (source, item_ref, to_agency_id)
    WHERE source IN ('message', 'minutes', 'findings');
CREATE INDEX sharing_records_case ON sharing_records (case_id, shared_at);
CREATE INDEX sharing_records_to_agency ON sharing_records (to_agency_id, shared_at);
CREATE INDEX sharing_records_consent ON sharing_records (consent_record_id);
-- The auditor's search across cases by time.
CREATE INDEX sharing_records_time ON sharing_records (shared_at);

-- Messages held back from an agency because consent was refused or
-- withdrawn; released when an override is approved.
CREATE TABLE withheld_messages (
    message_id         TEXT NOT NULL REFERENCES messages (id),
    case_id            TEXT NOT NULL REFERENCES cases (id),
    agency_id          TEXT NOT NULL REFERENCES agencies (id),
    consent_record_id  TEXT NOT NULL REFERENCES consent_records (id),
    withheld_at        BIGINT NOT NULL,
    released_at        BIGINT,
    override_id        TEXT REFERENCES sharing_overrides (id),
    PRIMARY KEY (message_id, agency_id)
);
CREATE INDEX withheld_messages_record ON withheld_messages (consent_record_id) WHERE released_at IS NULL;
CREATE INDEX withheld_messages_case ON withheld_messages (case_id) WHERE released_at IS NULL;

CREATE TRIGGER consent_versions_no_update BEFORE UPDATE ON consent_versions
BEGIN SELECT RAISE(ABORT, 'consent versions are append-only'); END;
CREATE TRIGGER consent_versions_no_delete BEFORE DELETE ON consent_versions
BEGIN SELECT RAISE(ABORT, 'consent versions are append-only'); END;
-- Sharing records are append-only too: a correction is a new record.
CREATE TRIGGER sharing_records_no_update BEFORE UPDATE ON sharing_records
BEGIN SELECT RAISE(ABORT, 'sharing records are append-only'); END;
CREATE TRIGGER sharing_records_no_delete BEFORE DELETE ON sharing_records
BEGIN SELECT RAISE(ABORT, 'sharing records are append-only'); END;
