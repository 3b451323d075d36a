-- Units mirror the roster file; the file stays the source of truth and is synced at start-up.
CREATE TABLE units (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    aliases     TEXT[] NOT NULL DEFAULT '{}',
    emails      TEXT[] NOT NULL DEFAULT '{}',
    grp         TEXT NOT NULL DEFAULT '',
    contact     TEXT,
    phone       TEXT,
    -- A unit removed from the roster keeps its history but leaves the status.
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    -- Roster order, so every listing follows the file.
    position    INT NOT NULL DEFAULT 0,
    synced_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every message that reached reportbox, whatever became of it. Never deleted.
CREATE TABLE messages (
    id              BIGSERIAL PRIMARY KEY,
    raw_sha256      TEXT NOT NULL UNIQUE,
    -- Message-ID, or "sha256:<body hash>" when there is none (contract §8).
    dedupe_key      TEXT NOT NULL,
    message_id      TEXT,
    from_addr       TEXT,
    from_name       TEXT,
    sender_addr     TEXT,
    reply_to        TEXT,
    subject         TEXT NOT NULL DEFAULT '',
    date_header     TIMESTAMPTZ,
    received_at     TIMESTAMPTZ NOT NULL,
    size_bytes      BIGINT NOT NULL,
    -- How it arrived: "import:<file name>", "imap:<folder>/<uidvalidity>/<uid>".
    source          TEXT NOT NULL,
    -- processed | duplicate | auto_reply | bounce | bulk | own_address
    disposition     TEXT NOT NULL,
    -- Why no acknowledgement is sent although it was processed (message.rate_limited), if so.
    no_ack_reason   TEXT,
    unit_id         TEXT REFERENCES units(id),
    -- sender | table | subject | file_name | assigned; NULL when unmatched or set aside.
    match_rule      TEXT,
    -- Problems of the message that belong to no item (contract §3, §9).
    problems        JSONB NOT NULL DEFAULT '[]',
    body_excerpt    TEXT NOT NULL DEFAULT '',
    processed_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX messages_dedupe_key ON messages (dedupe_key);
CREATE INDEX messages_unit ON messages (unit_id, received_at);
CREATE INDEX messages_from ON messages (from_addr, received_at);

-- Every file of a message (attachments, archive members, large-attachment links).
CREATE TABLE files (
    id              BIGSERIAL PRIMARY KEY,
    message_id      BIGINT NOT NULL REFERENCES messages(id),
    ordinal         INT NOT NULL,
    name            TEXT NOT NULL,
    -- Containers it came out of, outermost first (archive names, forwarded messages).
    origin          TEXT[] NOT NULL DEFAULT '{}',
    -- attachment | archive | member | link
    role            TEXT NOT NULL,
    sha256          TEXT,
    size_bytes      BIGINT NOT NULL DEFAULT 0,
    kind            TEXT NOT NULL,
    declared_type   TEXT,
    link_url        TEXT,
    -- statistics_table | summary_report | video | table_scan | photos | other | archive
    item            TEXT NOT NULL,
    state           TEXT NOT NULL,
    problems        JSONB NOT NULL DEFAULT '[]',
    -- Typed values read from a statistics table, for the summary of all units.
    data            JSONB,
    UNIQUE (message_id, ordinal)
);
CREATE INDEX files_item ON files (item);

-- Addresses learned at run time: a message from an unknown address identified by content.
CREATE TABLE learned_addresses (
    address         TEXT PRIMARY KEY,
    unit_id         TEXT NOT NULL REFERENCES units(id),
    learned_from    BIGINT REFERENCES messages(id),
    learned_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE exemptions (
    unit_id         TEXT PRIMARY KEY REFERENCES units(id),
    reason          TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every change of what counts: message attributed, assigned, exempted, a unit's status moved.
CREATE TABLE audit (
    id              BIGSERIAL PRIMARY KEY,
    at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    unit_id         TEXT,
    message_id      BIGINT,
    kind            TEXT NOT NULL,
    detail          JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_unit ON audit (unit_id, at);
