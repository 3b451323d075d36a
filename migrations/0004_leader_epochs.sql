-- Fencing for leadership (advisory locks). Whoever takes a job's lock bumps its epoch; every
-- commit the leader makes checks, in the same transaction, that the epoch is still its own. A
-- leader whose lock vanished (a database restart, a dropped connection) and that has not noticed
-- yet therefore cannot record anything once another instance has taken over.
CREATE TABLE leader_epochs (
    key         TEXT PRIMARY KEY,
    epoch       BIGINT NOT NULL,
    taken_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
