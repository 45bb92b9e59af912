-- PostgreSQL twin of migrations/023_signin_throttles.sql: the same tables, columns and indexes (what they mean is said there).
CREATE TABLE signin_throttles (
    scope         TEXT COLLATE "C" NOT NULL CHECK (scope IN ('pair', 'ip', 'second_factor')),
    email         TEXT COLLATE "C" NOT NULL,
    source        TEXT COLLATE "C" NOT NULL,
    failures      BIGINT NOT NULL DEFAULT 0,
    level         DOUBLE PRECISION NOT NULL DEFAULT 0,
    updated_at    TEXT COLLATE "C" NOT NULL,
    blocked_until TEXT COLLATE "C" NOT NULL DEFAULT '',
    PRIMARY KEY (scope, email, source)
);
CREATE INDEX signin_throttles_updated ON signin_throttles (updated_at);

DROP TABLE login_failures;
