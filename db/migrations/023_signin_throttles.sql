-- Sign-in throttling that cannot lock the real user out (replaces
-- login_failures, whose five failures per email or per IP refused even the
-- right password for 15 minutes: anyone could lock the admin out, and
-- everyone behind one proxy shared one IP). One row per key:
--   scope 'pair': an email from one source (source 'ip:<address>', or
--     'device:<id>' for a browser that signed in as that email before);
--     failures are consecutive, and each one past the first few makes the
--     next attempt wait longer (db/throttle.go);
--   scope 'ip': a leaky bucket of failures from one address, whatever the
--     email, against password spraying (level leaks at a fixed rate);
--   scope 'second_factor': consecutive wrong codes of one person's second
--     step (source '').
-- blocked_until is when the key may try again ('' when it may now). Rows
-- are pruned a day after their last failure. Plain SQL that PostgreSQL
-- also accepts.
CREATE TABLE signin_throttles (
    scope         TEXT NOT NULL CHECK (scope IN ('pair', 'ip', 'second_factor')),
    email         TEXT NOT NULL,
    source        TEXT NOT NULL,
    failures      INTEGER NOT NULL DEFAULT 0,
    level         REAL NOT NULL DEFAULT 0,
    updated_at    TEXT NOT NULL,
    blocked_until TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (scope, email, source)
);
CREATE INDEX signin_throttles_updated ON signin_throttles (updated_at);

DROP TABLE login_failures;
