-- Staff two-factor sign-in (TOTP, RFC 6238). totp_secret_enc is the shared
-- secret, encrypted like every secret at rest (db/crypto.go); while
-- totp_enabled_at is NULL it is an enrolment not yet confirmed by a code.
-- totp_last_step is the last 30-second step whose code was accepted: a
-- code is never accepted twice. Recovery codes are kept as SHA-256 hashes
-- (each is 50 random bits, so a fast hash suffices) and used once.
-- Plain SQL that PostgreSQL also accepts.
ALTER TABLE staff ADD COLUMN totp_secret_enc TEXT;
ALTER TABLE staff ADD COLUMN totp_enabled_at TEXT;
ALTER TABLE staff ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;

CREATE TABLE staff_recovery_codes (
    id        INTEGER PRIMARY KEY,
    staff_id  INTEGER NOT NULL REFERENCES staff (id),
    code_hash TEXT NOT NULL,
    used_at   TEXT
);
CREATE INDEX staff_recovery_codes_staff ON staff_recovery_codes (staff_id);
