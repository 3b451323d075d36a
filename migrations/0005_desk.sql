-- The coordinator's verdicts on items that need a person's eye (a large-attachment link, a PDF
-- without text): events, never updated, so the history is kept. The newest review of an item's
-- newest file decides its state; a newer file for the item supersedes every review of an older
-- one, because a review is tied to the file it judged.
CREATE TABLE reviews (
    id          BIGSERIAL PRIMARY KEY,
    unit_id     TEXT NOT NULL REFERENCES units(id),
    item        TEXT NOT NULL,
    message_id  BIGINT NOT NULL,
    ordinal     INT NOT NULL,
    -- accepted | rejected
    verdict     TEXT NOT NULL CHECK (verdict IN ('accepted', 'rejected')),
    reason      TEXT NOT NULL DEFAULT '',
    reviewer    TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    FOREIGN KEY (message_id, ordinal) REFERENCES files (message_id, ordinal)
);
CREATE INDEX reviews_file ON reviews (message_id, ordinal, id);
CREATE INDEX reviews_unit ON reviews (unit_id, at);

-- What a unit wrote to the staff (a question, or a message without any file): shown in the
-- daily email under 单位来信 until the coordinator marks it handled. The unit is the message's.
CREATE TABLE notes (
    message_id  BIGINT PRIMARY KEY REFERENCES messages(id),
    -- The unit's own words (quoted mail removed), at most 500 characters.
    text        TEXT NOT NULL,
    -- The message also carried files, counted as a submission as usual.
    with_files  BOOLEAN NOT NULL,
    handled_at  TIMESTAMPTZ,
    handled_by  TEXT
);
CREATE INDEX notes_open ON notes (message_id) WHERE handled_at IS NULL;
