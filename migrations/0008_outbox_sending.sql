-- An email whose envelope the server accepted is marked "sending" before its message is
-- transmitted. If the sender dies then, the server may or may not have taken it: such a row is
-- sent again (same Message-ID) only after smtp.resend_grace, never at once, and a crash
-- before that point leaves the row "pending", safe to send straight away.
ALTER TABLE outbox ADD COLUMN sending_at TIMESTAMPTZ;
CREATE INDEX outbox_sending ON outbox (sending_at) WHERE state = 'sending';
