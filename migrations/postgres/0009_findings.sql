-- Structured findings of a return home interview, their restricted entries,
-- and sharing them with named recipients who acknowledge (issue 7, parts 3
-- and 4). Each share is also an information-sharing record (source
-- 'findings', allowed by 0005's CHECK already).

-- One findings record per interview.
CREATE TABLE rhi_findings (
    id                         TEXT PRIMARY KEY,
    interview_id               TEXT NOT NULL UNIQUE REFERENCES return_interviews (id),
    case_id                    TEXT NOT NULL REFERENCES cases (id),
    push_factors               TEXT NOT NULL DEFAULT '',
    pull_factors               TEXT NOT NULL DEFAULT '',
    where_child_was            TEXT NOT NULL DEFAULT '',
    who_with                   TEXT NOT NULL DEFAULT '',
    -- Indicators of exploitation: a set of four flags.
    exploitation_sexual        BIGINT NOT NULL DEFAULT 0 CHECK (exploitation_sexual IN (0, 1)),
    exploitation_criminal      BIGINT NOT NULL DEFAULT 0 CHECK (exploitation_criminal IN (0, 1)),
    exploitation_county_lines  BIGINT NOT NULL DEFAULT 0 CHECK (exploitation_county_lines IN (0, 1)),
    exploitation_other         BIGINT NOT NULL DEFAULT 0 CHECK (exploitation_other IN (0, 1)),
    harm                       TEXT NOT NULL DEFAULT '',
    child_wishes               TEXT NOT NULL DEFAULT '',
    wants_next                 TEXT NOT NULL DEFAULT '',
    risk                       TEXT NOT NULL CHECK (risk IN ('low', 'medium', 'high')),
    free_text                  TEXT NOT NULL DEFAULT '',
    -- The indicators in words ("criminal exploitation; county lines"), so
    -- that a search for them finds the findings.
    indicators                 TEXT NOT NULL DEFAULT '',
    recorded_by                TEXT NOT NULL REFERENCES people (id),
    recorded_at                BIGINT NOT NULL,
    updated_by                 TEXT NOT NULL REFERENCES people (id),
    updated_at                 BIGINT NOT NULL
);
CREATE INDEX rhi_findings_case ON rhi_findings (case_id);

-- Structured, searchable entries: places, associates, addresses, vehicles.
-- A restricted entry (third-party identities) is read only by the
-- case-holding agency, the interviewer, and recipients it is released to.
CREATE TABLE finding_entries (
    id                  TEXT PRIMARY KEY,
    findings_id         TEXT NOT NULL REFERENCES rhi_findings (id),
    case_id             TEXT NOT NULL REFERENCES cases (id),
    position            BIGINT NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('place', 'associate', 'address', 'vehicle')),
    value               TEXT NOT NULL,
    note                TEXT NOT NULL DEFAULT '',
    restricted          BIGINT NOT NULL DEFAULT 0 CHECK (restricted IN (0, 1)),
    restriction_reason  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX finding_entries_findings ON finding_entries (findings_id, position);
CREATE INDEX finding_entries_case ON finding_entries (case_id);

-- The findings shared with a named person, who acknowledges having read them.
CREATE TABLE findings_shares (
    id                 TEXT PRIMARY KEY,
    findings_id        TEXT NOT NULL REFERENCES rhi_findings (id),
    case_id            TEXT NOT NULL REFERENCES cases (id),
    person_id          TEXT NOT NULL REFERENCES people (id),
    agency_id          TEXT NOT NULL REFERENCES agencies (id),
    shared_by          TEXT NOT NULL REFERENCES people (id),
    shared_at          BIGINT NOT NULL,
    -- Whether the sharer released the restricted entries to this recipient.
    release_restricted BIGINT NOT NULL DEFAULT 0 CHECK (release_restricted IN (0, 1)),
    sharing_record_id  TEXT NOT NULL REFERENCES sharing_records (id),
    acknowledged_at    BIGINT,
    UNIQUE (findings_id, person_id)
);
CREATE INDEX findings_shares_person ON findings_shares (person_id, acknowledged_at);
CREATE INDEX findings_shares_open ON findings_shares (acknowledged_at, shared_at);

-- Search (see 0008): GIN indexes on the same expressions the queries use.
CREATE INDEX rhi_findings_search ON rhi_findings USING GIN (to_tsvector('english', indicators || ' ' || push_factors || ' ' || pull_factors || ' ' || where_child_was || ' ' || who_with || ' ' || harm || ' ' || child_wishes || ' ' || wants_next || ' ' || free_text));
CREATE INDEX finding_entries_search ON finding_entries USING GIN (to_tsvector('english', value || ' ' || note));
