-- Every email reportbox sends is first a row here, written in the same transaction as the
-- state change that causes it; the unique key makes "one ack per message, one reminder per unit
-- per round, one report per day" a property of the database, whatever restarts or a second
-- instance do.
CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    dedupe_key      TEXT NOT NULL UNIQUE,
    -- ack | reminder | report
    kind            TEXT NOT NULL,
    unit_id         TEXT REFERENCES units(id),
    message_id      BIGINT REFERENCES messages(id),
    recipients      TEXT[] NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT NOT NULL,
    in_reply_to     TEXT,
    refs            TEXT,
    -- auto-replied (acknowledgements) | auto-generated (reminders, reports)
    auto_submitted  TEXT NOT NULL,
    -- [{"name", "content_type", "sha256"}]; the bytes are in the object store.
    attachments     JSONB NOT NULL DEFAULT '[]',
    -- pending | sent | failed
    state           TEXT NOT NULL DEFAULT 'pending',
    attempts        INT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error      TEXT,
    smtp_reply      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at         TIMESTAMPTZ
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';

-- Scheduled rounds (reminders, daily reports) that were carried out, so a round is done once.
CREATE TABLE schedule_runs (
    key             TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    due_at          TIMESTAMPTZ NOT NULL,
    ran_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    detail          JSONB NOT NULL DEFAULT '{}'
);

-- A pause the SMTP server imposed on all sending (163's MI:SFQ, daily quota).
CREATE TABLE sender_state (
    id              INT PRIMARY KEY CHECK (id = 1),
    paused_until    TIMESTAMPTZ,
    reason          TEXT
);
INSERT INTO sender_state (id) VALUES (1);
