-- Health a separate process can read (`reportbox status`, the metrics endpoint): the daemon is
-- one process, so what it knows about itself must be in the database to be seen.

-- When the daemon last finished a pass over the folder without error: one write per folder per
-- pass, not per message.
ALTER TABLE mailbox_progress ADD COLUMN last_poll_at TIMESTAMPTZ;

-- `reportbox retry` asks for a given-up message to be fetched and processed again on the next
-- pass, although the folder's mark has moved past it.
ALTER TABLE mailbox_failures ADD COLUMN retry_requested_at TIMESTAMPTZ;

-- The running daemon (the most recently started, when two run side by side) and the last error
-- either of its loops met. Written at start and on errors only.
CREATE TABLE service_health (
    id                  INT PRIMARY KEY CHECK (id = 1),
    pid                 INT,
    version             TEXT,
    host                TEXT,
    started_at          TIMESTAMPTZ,
    -- mailbox | sender
    last_error_source   TEXT,
    last_error          TEXT,
    last_error_at       TIMESTAMPTZ
);
INSERT INTO service_health (id) VALUES (1);
