-- must_change_password is set when a password is handed over rather than
-- chosen (`linkdesk staff reset-password`, `linkdesk staff create`): the next
-- sign-in leads to the password-change page before anything else, and
-- choosing a new password clears it.
ALTER TABLE staff ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1));
