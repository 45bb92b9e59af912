-- session_epoch is copied into each session cookie; sign-out and a password
-- change bump it, which ends every session of that staff member (a cookie is
-- otherwise valid until it expires, even after sign-out).
ALTER TABLE staff ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;
