-- The current state of each unit and item (issue 12 item 3): which file of the unit's counted
-- messages stands for each required item now, kept as the files and messages change, so that
-- recording a message reads one row per item instead of every file the unit ever sent.
--
-- "Current" is what contract §7 says and what the status always computed: among the files of the
-- unit's processed messages, for each item, the one of the newest message (received_at, then id),
-- the last of its files (ordinal). The rows are maintained here, by the database, in the same
-- transaction as the change that moves them, whichever code path makes it (recording, the
-- coordinator's corrections, a re-check that reclassifies a file), so they can never disagree with
-- the files: the common case (a new file) is one comparison; the rare ones (a message given to
-- another unit or campaign, a file reclassified or removed) recompute the units they touch.

CREATE TABLE unit_items (
    campaign_id BIGINT NOT NULL,
    unit_id     TEXT NOT NULL,
    item        TEXT NOT NULL,
    message_id  BIGINT NOT NULL,
    ordinal     INT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (campaign_id, unit_id, item),
    FOREIGN KEY (campaign_id, unit_id) REFERENCES units (campaign_id, id)
);

-- Recomputes one unit's rows from its files.
CREATE FUNCTION unit_items_refresh(c BIGINT, u TEXT) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF c IS NULL OR u IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM unit_items WHERE campaign_id = c AND unit_id = u;
    INSERT INTO unit_items (campaign_id, unit_id, item, message_id, ordinal, received_at)
    SELECT DISTINCT ON (f.item) c, u, f.item, f.message_id, f.ordinal, m.received_at
      FROM files f JOIN messages m ON m.id = f.message_id
     WHERE m.campaign_id = c AND m.unit_id = u AND m.disposition = 'processed'
     ORDER BY f.item, m.received_at DESC, m.id DESC, f.ordinal DESC;
END $$;

-- A new file takes its item over when it is newer than the one standing for it.
CREATE FUNCTION unit_items_file_added() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    m RECORD;
BEGIN
    SELECT campaign_id, unit_id, disposition, received_at INTO m
      FROM messages WHERE id = NEW.message_id;
    IF m.unit_id IS NULL OR m.disposition <> 'processed' THEN
        RETURN NULL;
    END IF;
    INSERT INTO unit_items AS cur (campaign_id, unit_id, item, message_id, ordinal, received_at)
    VALUES (m.campaign_id, m.unit_id, NEW.item, NEW.message_id, NEW.ordinal, m.received_at)
    ON CONFLICT (campaign_id, unit_id, item) DO UPDATE
       SET message_id = EXCLUDED.message_id, ordinal = EXCLUDED.ordinal,
           received_at = EXCLUDED.received_at
     WHERE (EXCLUDED.received_at, EXCLUDED.message_id, EXCLUDED.ordinal)
         > (cur.received_at, cur.message_id, cur.ordinal);
    RETURN NULL;
END $$;

-- A file reclassified or removed: its unit is recomputed.
CREATE FUNCTION unit_items_file_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    m RECORD;
BEGIN
    SELECT campaign_id, unit_id INTO m FROM messages WHERE id = OLD.message_id;
    PERFORM unit_items_refresh(m.campaign_id, m.unit_id);
    IF TG_OP = 'UPDATE' AND NEW.message_id <> OLD.message_id THEN
        SELECT campaign_id, unit_id INTO m FROM messages WHERE id = NEW.message_id;
        PERFORM unit_items_refresh(m.campaign_id, m.unit_id);
    END IF;
    RETURN NULL;
END $$;

-- A message given to another unit or campaign, counted or set aside: both units are recomputed.
CREATE FUNCTION unit_items_message_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM unit_items_refresh(OLD.campaign_id, OLD.unit_id);
    IF (NEW.campaign_id, NEW.unit_id) IS DISTINCT FROM (OLD.campaign_id, OLD.unit_id) THEN
        PERFORM unit_items_refresh(NEW.campaign_id, NEW.unit_id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER unit_items_file_added AFTER INSERT ON files
    FOR EACH ROW EXECUTE FUNCTION unit_items_file_added();
CREATE TRIGGER unit_items_file_reclassified AFTER UPDATE OF item, message_id, ordinal ON files
    FOR EACH ROW WHEN (OLD.item IS DISTINCT FROM NEW.item
                       OR OLD.message_id IS DISTINCT FROM NEW.message_id
                       OR OLD.ordinal IS DISTINCT FROM NEW.ordinal)
    EXECUTE FUNCTION unit_items_file_changed();
CREATE TRIGGER unit_items_file_removed AFTER DELETE ON files
    FOR EACH ROW EXECUTE FUNCTION unit_items_file_changed();
CREATE TRIGGER unit_items_message_moved
    AFTER UPDATE OF campaign_id, unit_id, disposition, received_at ON messages
    FOR EACH ROW WHEN ((OLD.campaign_id, OLD.unit_id, OLD.disposition, OLD.received_at)
                       IS DISTINCT FROM (NEW.campaign_id, NEW.unit_id, NEW.disposition, NEW.received_at))
    EXECUTE FUNCTION unit_items_message_changed();

-- What the rows are for the data already recorded.
INSERT INTO unit_items (campaign_id, unit_id, item, message_id, ordinal, received_at)
SELECT DISTINCT ON (m.campaign_id, m.unit_id, f.item)
       m.campaign_id, m.unit_id, f.item, f.message_id, f.ordinal, m.received_at
  FROM files f JOIN messages m ON m.id = f.message_id
 WHERE m.unit_id IS NOT NULL AND m.disposition = 'processed'
 ORDER BY m.campaign_id, m.unit_id, f.item, m.received_at DESC, m.id DESC, f.ordinal DESC;
