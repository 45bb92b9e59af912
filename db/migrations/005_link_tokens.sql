-- On Demand Updates, part two: Linkdesk's own Link tokens (launch links),
-- the Pinwheel tokens minted for them, the Link events their launch pages
-- report, and a cache of platform capabilities. See db/tokens.go.
-- Plain SQL that PostgreSQL also accepts (partial indexes included).

-- link_tokens: one row per launch link staff create from an account; the
-- UI calls it a token. id is the internal keyset order; token_id is our
-- public id (URLs, audit, tags.linkdesk_token_id sent to Pinwheel);
-- launch_id is the unguessable /l/{launch_id} (192 random bits), a bearer
-- secret that is never sent to Pinwheel.
--
-- mode 'minted': the Pinwheel token was minted when staff created the link,
-- and link_expires_at is that token's expiry. mode 'mint_on_open': no token
-- until the end user opens the page; link_expires_at is created_at + the
-- configured link lifetime.
--
-- allocation is JSON with masked numbers only (deposit account id, name,
-- type, routing number, last four digits): the full account number lives
-- only, encrypted, in deposit_accounts and is decrypted just for the
-- request. tags is the JSON object sent to Pinwheel. identity_override is
-- the reason staff gave to switch deposits on an identity mismatch.
CREATE TABLE link_tokens (
    id                INTEGER PRIMARY KEY,
    token_id          TEXT NOT NULL UNIQUE,
    launch_id         TEXT NOT NULL UNIQUE,
    mode              TEXT NOT NULL CHECK (mode IN ('minted', 'mint_on_open')),
    account_id        TEXT NOT NULL,
    end_user_id       TEXT NOT NULL,
    platform_id       TEXT NOT NULL,
    jobs              TEXT NOT NULL,
    allocation        TEXT,
    language          TEXT NOT NULL,
    skip_intro        INTEGER NOT NULL CHECK (skip_intro IN (0, 1)),
    reason            TEXT NOT NULL,
    identity_override TEXT,
    api_version       TEXT NOT NULL,
    tags              TEXT NOT NULL,
    created_by        INTEGER NOT NULL REFERENCES staff (id),
    created_at        TEXT NOT NULL,
    link_expires_at   TEXT NOT NULL,
    revoked_at        TEXT,
    revoked_by        INTEGER REFERENCES staff (id)
);
CREATE INDEX link_tokens_account ON link_tokens (account_id, id);
CREATE INDEX link_tokens_creator ON link_tokens (created_by, id);

-- link_token_mints: every Pinwheel token minted for a link (one for a
-- 'minted' link; one per open after the previous token expired for a
-- 'mint_on_open' link), so webhooks can be joined by link_token_id for the
-- link's whole history. token_enc is the token (a JWT: a short-lived bearer
-- credential of the end user's Link session) encrypted like deposit account
-- numbers; it is set to NULL once expired. minted_by is NULL when the end
-- user's open minted it.
CREATE TABLE link_token_mints (
    id            INTEGER PRIMARY KEY,
    link_ref      INTEGER NOT NULL REFERENCES link_tokens (id),
    link_token_id TEXT NOT NULL UNIQUE,
    token_enc     TEXT,
    api_version   TEXT NOT NULL,
    minted_at     TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    minted_by     INTEGER REFERENCES staff (id)
);
CREATE INDEX link_token_mints_link ON link_token_mints (link_ref, id);
CREATE INDEX link_token_mints_live ON link_token_mints (expires_at) WHERE token_enc IS NOT NULL;

-- launch_events: what launch pages report: page_opened (one per page view),
-- mint_failed (a mint-on-open that Pinwheel refused) and every Link event
-- (open, login, success, error, exit, screen_transition, ...) with its
-- payload (a JSON object of at most 8 KiB). account_id and end_user_id are
-- copied from the link so the account timeline reads one index.
CREATE TABLE launch_events (
    id            INTEGER PRIMARY KEY,
    link_ref      INTEGER NOT NULL REFERENCES link_tokens (id),
    mint_ref      INTEGER REFERENCES link_token_mints (id),
    account_id    TEXT NOT NULL,
    end_user_id   TEXT NOT NULL,
    link_token_id TEXT,
    name          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    at            TEXT NOT NULL
);
CREATE INDEX launch_events_link ON launch_events (link_ref, id);
CREATE INDEX launch_events_account ON launch_events (account_id, id);

-- platforms_cache: GET /platforms/{id} answers, refreshed when older than an
-- hour; the pre-flight panel reads supported_jobs (a JSON array) from here.
CREATE TABLE platforms_cache (
    platform_id    TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    supported_jobs TEXT NOT NULL,
    fetched_at     TEXT NOT NULL
);
