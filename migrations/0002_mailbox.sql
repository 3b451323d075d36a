-- How far the mailbox daemon has got in each folder. UIDs mean something only within one
-- UIDVALIDITY; when the server changes it the folder is scanned again from the start and the
-- pipeline's dedupe (raw sha256, Message-ID) keeps anything from counting twice.
CREATE TABLE mailbox_progress (
    account         TEXT NOT NULL,
    folder          TEXT NOT NULL,
    uidvalidity     BIGINT NOT NULL,
    -- Highest UID whose message is committed (or given up on, see mailbox_failures).
    last_uid        BIGINT NOT NULL DEFAULT 0,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (account, folder)
);

-- Messages the daemon tried and could not record. A row is written before each attempt, so a
-- message that crashes the process is noticed too; after mailbox.max_attempts the daemon gives up
-- on it (gave_up) and moves on, and the row stays for the coordinator to see.
CREATE TABLE mailbox_failures (
    account         TEXT NOT NULL,
    folder          TEXT NOT NULL,
    uidvalidity     BIGINT NOT NULL,
    uid             BIGINT NOT NULL,
    attempts        INT NOT NULL DEFAULT 0,
    last_error      TEXT,
    gave_up         BOOLEAN NOT NULL DEFAULT FALSE,
    first_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (account, folder, uidvalidity, uid)
);
