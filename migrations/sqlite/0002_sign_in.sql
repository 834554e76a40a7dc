-- Sign-in: email one-time codes for guest practitioners, the attempts that
-- rate limits and lock-outs count, and OpenID Connect flows in progress.
-- Codes and flow states are stored only as SHA-256 hashes.

CREATE TABLE email_codes (
    id               TEXT PRIMARY KEY,
    email            TEXT NOT NULL,
    person_id        TEXT NOT NULL REFERENCES people (id),
    code_hash        TEXT NOT NULL,
    link_hash        TEXT NOT NULL UNIQUE,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    used_at          BIGINT,
    failed_attempts  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX email_codes_email ON email_codes (email, created_at);

-- One row per code request or failed code, for rate limits and lock-out.
CREATE TABLE sign_in_attempts (
    id      TEXT PRIMARY KEY,
    kind    TEXT NOT NULL CHECK (kind IN ('code_requested', 'code_failed')),
    email   TEXT NOT NULL,
    client  TEXT NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX sign_in_attempts_email ON sign_in_attempts (email, kind, at);
CREATE INDEX sign_in_attempts_client ON sign_in_attempts (client, kind, at);

-- An OpenID Connect authorization request awaiting its callback.
CREATE TABLE oidc_flows (
    state_hash     TEXT PRIMARY KEY,
    provider_id    TEXT NOT NULL,
    pkce_verifier  TEXT NOT NULL,
    nonce          TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT
);
