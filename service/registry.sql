-- The upload service's own registry (service.duckdb): labs, their API tokens (hashed), uploads and the
-- append-only history of each upload's status. Never the writer store. Idempotent: run at every start.
CREATE TABLE IF NOT EXISTS labs (
    name        VARCHAR PRIMARY KEY,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS tokens (
    token_id      VARCHAR PRIMARY KEY,          -- random, names the token in sessions; not a secret
    lab           VARCHAR NOT NULL,
    token_sha256  VARCHAR NOT NULL UNIQUE,      -- SHA-256 of the token; the token itself is never stored
    created_at    TIMESTAMPTZ NOT NULL,
    revoked_at    TIMESTAMPTZ
);

CREATE TABLE IF NOT EXISTS uploads (
    upload_id        VARCHAR PRIMARY KEY,
    lab              VARCHAR NOT NULL,
    received_at      TIMESTAMPTZ NOT NULL,
    file_name        VARCHAR NOT NULL,           -- as the lab named it: shown, never used as a path
    sha256           VARCHAR NOT NULL,
    size_bytes       BIGINT NOT NULL,
    platemap_name    VARCHAR,
    platemap_sha256  VARCHAR,
    verdict_json     VARCHAR,                    -- service.verdict.Verdict, set once
    verdict_seconds  DOUBLE
);
CREATE INDEX IF NOT EXISTS uploads_lab_sha ON uploads (lab, sha256);

CREATE SEQUENCE IF NOT EXISTS upload_event_seq;
CREATE TABLE IF NOT EXISTS upload_events (
    seq        BIGINT PRIMARY KEY DEFAULT nextval('upload_event_seq'),
    upload_id  VARCHAR NOT NULL,
    event_at   TIMESTAMPTZ NOT NULL,
    status     VARCHAR NOT NULL,                 -- received | verdict | refused | ingesting | loaded | failed | waiting
    message    VARCHAR
);
CREATE INDEX IF NOT EXISTS upload_events_upload ON upload_events (upload_id);

-- issue 15: server-side sessions of the upload page. The cookie carries a random session ID (only its
-- SHA-256 is kept); signing out ends the session at once, and revoking the lab's token ends every session
-- of that token (a session is valid only while its token is).
CREATE TABLE IF NOT EXISTS sessions (
    session_sha256  VARCHAR PRIMARY KEY,
    token_id        VARCHAR NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    ended_at        TIMESTAMPTZ
);
