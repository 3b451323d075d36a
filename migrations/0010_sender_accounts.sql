-- Each sending account pauses alone (issue 11): a campaign with its own mailbox sends as that
-- account, and 163's daily quota or a refused code of one account must not stop the others.
-- The one row of before becomes the pause of account '' (it expires as it would have).
ALTER TABLE sender_state ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE sender_state DROP COLUMN id;
ALTER TABLE sender_state ADD PRIMARY KEY (account);
ALTER TABLE sender_state ALTER COLUMN account DROP DEFAULT;
