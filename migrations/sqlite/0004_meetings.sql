-- Meetings: convening with invitations to people and agencies, responses,
-- attendance, structured outcomes, actions, minutes and their circulation,
-- the statutory clock's deadlines with extensions, and sent reminders.

CREATE TABLE meetings (
    id                  TEXT PRIMARY KEY,
    case_id             TEXT NOT NULL REFERENCES cases (id),
    kind                TEXT NOT NULL CHECK (kind IN ('strategy_discussion', 'initial_child_protection_conference',
                                                      'review_child_protection_conference', 'core_group', 'child_in_need',
                                                      'professionals', 'return_home_interview_debrief')),
    starts_at           BIGINT NOT NULL,
    ends_at             BIGINT NOT NULL,
    mode                TEXT NOT NULL CHECK (mode IN ('face_to_face', 'video_link', 'phone')),
    -- Goes into calendar invitations: never the child's address.
    location            TEXT NOT NULL,
    chair_id            TEXT NOT NULL REFERENCES people (id),
    organiser_id        TEXT NOT NULL REFERENCES people (id),
    channel_id          TEXT NOT NULL REFERENCES channels (id),
    -- 'meeting': invitees who accept see the case until the meeting ends;
    -- 'case': they join the case team.
    case_access         TEXT NOT NULL CHECK (case_access IN ('meeting', 'case')),
    status              TEXT NOT NULL CHECK (status IN ('scheduled', 'held', 'cancelled')),
    -- iCalendar SEQUENCE: bumped by every change that is sent out.
    sequence            BIGINT NOT NULL DEFAULT 0,
    cancel_reason       TEXT,
    -- The structured outcome (JSON, shape by kind) and when it was recorded.
    outcome             TEXT,
    held_on             TEXT,
    outcome_recorded_at BIGINT,
    minutes             TEXT NOT NULL DEFAULT '',
    minutes_updated_at  BIGINT,
    circulated_at       BIGINT,
    created_at          BIGINT NOT NULL
);
CREATE INDEX meetings_case ON meetings (case_id, starts_at);
CREATE INDEX meetings_upcoming ON meetings (status, starts_at);

-- An invitation to a person, or to an agency (its duty address; any member
-- of the agency may take it up or nominate a colleague).
CREATE TABLE meeting_invitations (
    id              TEXT PRIMARY KEY,
    meeting_id      TEXT NOT NULL REFERENCES meetings (id),
    agency_id       TEXT NOT NULL REFERENCES agencies (id),
    person_id       TEXT REFERENCES people (id),
    -- Where the invitation was sent.
    email           TEXT NOT NULL,
    response        TEXT NOT NULL CHECK (response IN ('pending', 'accepted', 'declined', 'tentative', 'nominated')),
    responded_at    BIGINT,
    response_note   TEXT NOT NULL DEFAULT '',
    nominated_from  TEXT REFERENCES meeting_invitations (id),
    created_at      BIGINT NOT NULL
);
CREATE INDEX meeting_invitations_meeting ON meeting_invitations (meeting_id);
CREATE INDEX meeting_invitations_person ON meeting_invitations (person_id);

-- A required agency (or requirement) left out, with the recorded reason.
CREATE TABLE meeting_exclusions (
    meeting_id   TEXT NOT NULL REFERENCES meetings (id),
    requirement  TEXT NOT NULL,
    reason       TEXT NOT NULL,
    recorded_by  TEXT NOT NULL REFERENCES people (id),
    recorded_at  BIGINT NOT NULL,
    PRIMARY KEY (meeting_id, requirement)
);

-- Attendance per agency, recorded by the chair.
CREATE TABLE meeting_attendance (
    meeting_id     TEXT NOT NULL REFERENCES meetings (id),
    agency_id      TEXT NOT NULL REFERENCES agencies (id),
    attended       BIGINT NOT NULL CHECK (attended IN (0, 1)),
    attendees      TEXT NOT NULL DEFAULT '',
    -- Strategy discussions: the chair confirms seniority (NULL elsewhere).
    senior_enough  BIGINT CHECK (senior_enough IN (0, 1)),
    note           TEXT NOT NULL DEFAULT '',
    recorded_by    TEXT NOT NULL REFERENCES people (id),
    recorded_at    BIGINT NOT NULL,
    PRIMARY KEY (meeting_id, agency_id)
);

CREATE TABLE meeting_actions (
    id               TEXT PRIMARY KEY,
    meeting_id       TEXT NOT NULL REFERENCES meetings (id),
    case_id          TEXT NOT NULL REFERENCES cases (id),
    description      TEXT NOT NULL,
    owner_person_id  TEXT REFERENCES people (id),
    owner_agency_id  TEXT NOT NULL REFERENCES agencies (id),
    due_on           TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('open', 'done', 'cancelled')),
    created_by       TEXT NOT NULL REFERENCES people (id),
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX meeting_actions_meeting ON meeting_actions (meeting_id);
CREATE INDEX meeting_actions_owner ON meeting_actions (owner_person_id, status);
CREATE INDEX meeting_actions_case ON meeting_actions (case_id, status);

-- Circulating the minutes is a share: one row per recipient, acknowledged
-- by them. The information-sharing log derives its records from these rows.
CREATE TABLE minutes_circulations (
    meeting_id       TEXT NOT NULL REFERENCES meetings (id),
    person_id        TEXT NOT NULL REFERENCES people (id),
    agency_id        TEXT NOT NULL REFERENCES agencies (id),
    circulated_by    TEXT NOT NULL REFERENCES people (id),
    circulated_at    BIGINT NOT NULL,
    acknowledged_at  BIGINT,
    PRIMARY KEY (meeting_id, person_id)
);
CREATE INDEX minutes_circulations_person ON minutes_circulations (person_id, acknowledged_at);

-- The statutory clock: deadlines set by recorded outcomes, or started by an
-- event recorded on the case (a concern of significant harm, an accepted referral).
CREATE TABLE deadlines (
    id                 TEXT PRIMARY KEY,
    case_id            TEXT NOT NULL REFERENCES cases (id),
    kind               TEXT NOT NULL CHECK (kind IN ('strategy_discussion', 'assessment', 'strategy_record',
                                                     'initial_conference', 'first_core_group', 'first_review',
                                                     'next_review')),
    -- The meeting whose outcome set it; NULL when an event on the case started it.
    source_meeting_id  TEXT REFERENCES meetings (id),
    -- The day the clock started (the meeting, the concern, the referral).
    started_on         TEXT NOT NULL,
    started_by         TEXT REFERENCES people (id),
    note               TEXT NOT NULL DEFAULT '',
    -- Calendar dates (YYYY-MM-DD, London): the last day on which it is met.
    statutory_due_on   TEXT NOT NULL,
    due_on             TEXT NOT NULL,
    met_on             TEXT,
    met_by_meeting_id  TEXT REFERENCES meetings (id),
    created_at         BIGINT NOT NULL
);
CREATE UNIQUE INDEX deadlines_source ON deadlines (source_meeting_id, kind);
CREATE INDEX deadlines_case ON deadlines (case_id, due_on);

-- A later date for a deadline: a reason, and a manager's agreement.
CREATE TABLE deadline_extensions (
    id            TEXT PRIMARY KEY,
    deadline_id   TEXT NOT NULL REFERENCES deadlines (id),
    old_due_on    TEXT NOT NULL,
    new_due_on    TEXT NOT NULL,
    reason        TEXT NOT NULL,
    requested_by  TEXT NOT NULL REFERENCES people (id),
    requested_at  BIGINT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('requested', 'agreed', 'refused')),
    decided_by    TEXT REFERENCES people (id),
    decided_at    BIGINT
);
CREATE INDEX deadline_extensions_deadline ON deadline_extensions (deadline_id);

-- Each reminder once: the scheduler inserts its key before sending, so a
-- restart (or a second node) never sends it again.
CREATE TABLE reminders_sent (
    key      TEXT PRIMARY KEY,
    sent_at  BIGINT NOT NULL
);
