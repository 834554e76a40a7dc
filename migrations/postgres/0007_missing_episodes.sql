-- Missing episodes, return home interviews with every attempt to reach the
-- child, and strategy-discussion prompts (issue 7). Findings of an interview
-- (B's part of the issue) reference return_interviews (id) in 0008.

-- A period when the child was missing from home or care: reported (when, by
-- whom, the police reference), returned (when, where found, by whom) and
-- whether the child was harmed. Each episode has its own channel.
CREATE TABLE missing_episodes (
    id                   TEXT PRIMARY KEY,
    case_id              TEXT NOT NULL REFERENCES cases (id),
    channel_id           TEXT NOT NULL REFERENCES channels (id),
    -- When the child was reported missing; the repeat-missing window counts these.
    reported_missing_at  BIGINT NOT NULL,
    -- Who reported it (free text: "Carer at the children's home", "Mother").
    reported_by          TEXT NOT NULL,
    police_reference     TEXT NOT NULL DEFAULT '',
    recorded_by          TEXT NOT NULL REFERENCES people (id),
    recorded_at          BIGINT NOT NULL,
    -- The return: NULL until recorded. The 72-hour clock starts at returned_at.
    returned_at          BIGINT,
    found_where          TEXT,
    found_by             TEXT,
    harmed               BIGINT CHECK (harmed IN (0, 1)),
    harm_detail          TEXT NOT NULL DEFAULT '',
    return_recorded_by   TEXT REFERENCES people (id),
    return_recorded_at   BIGINT
);
CREATE INDEX missing_episodes_case ON missing_episodes (case_id, reported_missing_at);

-- The independent return home interview offered after a return: one per
-- episode, created when the return is recorded.
CREATE TABLE return_interviews (
    id                     TEXT PRIMARY KEY,
    episode_id             TEXT NOT NULL UNIQUE REFERENCES missing_episodes (id),
    case_id                TEXT NOT NULL REFERENCES cases (id),
    -- returned_at + 72 hours (milliseconds).
    due_at                 BIGINT NOT NULL,
    interviewer_person_id  TEXT REFERENCES people (id),
    assigned_by            TEXT REFERENCES people (id),
    assigned_at            BIGINT,
    -- NULL while open.
    outcome                TEXT CHECK (outcome IN ('completed', 'declined', 'not_completed')),
    -- When the interview took place (completed) or the outcome was reached.
    outcome_at             BIGINT,
    -- Declined by the child: whether carers were offered the chance to
    -- contribute, and what they said.
    carers_offered         BIGINT CHECK (carers_offered IN (0, 1)),
    carers_contribution    TEXT NOT NULL DEFAULT '',
    -- Not completed: why.
    not_completed_reason   TEXT NOT NULL DEFAULT '',
    outcome_recorded_by    TEXT REFERENCES people (id),
    outcome_recorded_at    BIGINT,
    created_at             BIGINT NOT NULL
);
CREATE INDEX return_interviews_case ON return_interviews (case_id);
CREATE INDEX return_interviews_open ON return_interviews (outcome, due_at);
CREATE INDEX return_interviews_interviewer ON return_interviews (interviewer_person_id, outcome);

-- Every attempt to reach the child: when, how, and what happened.
CREATE TABLE rhi_attempts (
    id            TEXT PRIMARY KEY,
    interview_id  TEXT NOT NULL REFERENCES return_interviews (id),
    case_id       TEXT NOT NULL REFERENCES cases (id),
    attempted_at  BIGINT NOT NULL,
    method        TEXT NOT NULL CHECK (method IN ('visit', 'phone', 'text_message', 'video', 'letter', 'via_carer', 'other')),
    outcome       TEXT NOT NULL CHECK (outcome IN ('spoke_to_child', 'no_response', 'child_not_available',
                                                   'appointment_made', 'child_declined', 'other')),
    note          TEXT NOT NULL DEFAULT '',
    recorded_by   TEXT NOT NULL REFERENCES people (id),
    recorded_at   BIGINT NOT NULL
);
CREATE INDEX rhi_attempts_interview ON rhi_attempts (interview_id, attempted_at);

-- A prompt to the lead social worker to convene a strategy discussion
-- (repeat missing, or exploitation indicators in findings), and what they did:
-- convened (the meeting) or not (why).
CREATE TABLE strategy_prompts (
    id               TEXT PRIMARY KEY,
    case_id          TEXT NOT NULL REFERENCES cases (id),
    reason           TEXT NOT NULL CHECK (reason IN ('repeat_missing', 'exploitation_indicators')),
    -- Why, in words safe to show the case team ("3 missing episodes in 90 days").
    detail           TEXT NOT NULL,
    -- What raised it: the episode, or the findings; one prompt per source.
    source_id        TEXT NOT NULL,
    raised_at        BIGINT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('open', 'convened', 'declined')),
    meeting_id       TEXT REFERENCES meetings (id),
    declined_reason  TEXT NOT NULL DEFAULT '',
    decided_by       TEXT REFERENCES people (id),
    decided_at       BIGINT
);
CREATE UNIQUE INDEX strategy_prompts_source ON strategy_prompts (case_id, reason, source_id);
CREATE INDEX strategy_prompts_open ON strategy_prompts (status, case_id);
