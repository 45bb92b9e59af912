-- PostgreSQL twin of migrations/030_campaigns.sql: the same tables, columns and indexes (what they mean is said there).

CREATE TABLE cohort_accounts (
    account_ref        BIGINT PRIMARY KEY REFERENCES accounts (id),
    platform_id        TEXT COLLATE "C" NOT NULL DEFAULT '',
    monitoring_status  TEXT COLLATE "C" NOT NULL DEFAULT '',
    connected          BIGINT,
    created_at         TEXT COLLATE "C",
    alloc              TEXT COLLATE "C" NOT NULL DEFAULT 'unknown' CHECK (alloc IN ('unknown', 'none', 'amount', 'percentage', 'remainder')),
    alloc_cents        BIGINT NOT NULL DEFAULT 0,
    alloc_pct          DOUBLE PRECISION NOT NULL DEFAULT 0,
    alloc_est_cents    BIGINT,
    alloc_at           TEXT COLLATE "C",
    alloc_snapshot_ref BIGINT,
    last_switch_at     TEXT COLLATE "C",
    last_link_at       TEXT COLLATE "C",
    verdict            TEXT COLLATE "C" NOT NULL DEFAULT '',
    live_campaigns     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX cohort_accounts_alloc ON cohort_accounts (alloc, alloc_cents, alloc_pct, platform_id, monitoring_status, connected,
    live_campaigns, last_switch_at, last_link_at, verdict, created_at);
CREATE INDEX cohort_accounts_platform ON cohort_accounts (platform_id, alloc, alloc_cents, alloc_pct, monitoring_status, connected, live_campaigns);
CREATE INDEX cohort_accounts_status ON cohort_accounts (monitoring_status, alloc, alloc_cents, alloc_pct, platform_id, connected, live_campaigns);

INSERT INTO cohort_accounts (account_ref, platform_id, monitoring_status, connected, created_at, last_switch_at, last_link_at, verdict)
SELECT a.id, COALESCE(a.platform_id, ''), COALESCE(a.monitoring_status, ''), a.connected, a.created_at,
       (SELECT MAX(s.at) FROM dd_switches s WHERE s.account_ref = a.id AND s.outcome = 'success'),
       (SELECT MAX(t.created_at) FROM link_tokens t WHERE t.account_id = a.account_id),
       COALESCE((SELECT v.result FROM identity_verdicts v WHERE v.account_id = a.account_id), '')
FROM accounts a;

CREATE FUNCTION cohort_accounts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cohort_accounts (account_ref, platform_id, monitoring_status, connected, created_at)
    VALUES (NEW.id, COALESCE(NEW.platform_id, ''), COALESCE(NEW.monitoring_status, ''), NEW.connected, NEW.created_at);
    RETURN NULL;
END $$;
CREATE TRIGGER cohort_accounts_insert AFTER INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION cohort_accounts_insert();

CREATE FUNCTION cohort_accounts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE cohort_accounts SET platform_id = COALESCE(NEW.platform_id, ''), monitoring_status = COALESCE(NEW.monitoring_status, ''),
        connected = NEW.connected, created_at = NEW.created_at
    WHERE account_ref = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER cohort_accounts_update AFTER UPDATE OF platform_id, monitoring_status, connected, created_at ON accounts FOR EACH ROW
    WHEN (OLD.platform_id IS DISTINCT FROM NEW.platform_id OR OLD.monitoring_status IS DISTINCT FROM NEW.monitoring_status
      OR OLD.connected IS DISTINCT FROM NEW.connected OR OLD.created_at IS DISTINCT FROM NEW.created_at)
    EXECUTE FUNCTION cohort_accounts_update();

CREATE FUNCTION cohort_accounts_switch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE cohort_accounts SET last_switch_at = NEW.at
    WHERE account_ref = NEW.account_ref AND (last_switch_at IS NULL OR last_switch_at < NEW.at);
    RETURN NULL;
END $$;
CREATE TRIGGER cohort_accounts_switch AFTER INSERT ON dd_switches FOR EACH ROW
    WHEN (NEW.outcome = 'success' AND NEW.account_ref IS NOT NULL)
    EXECUTE FUNCTION cohort_accounts_switch();

CREATE FUNCTION cohort_accounts_verdict() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE cohort_accounts SET verdict = NEW.result WHERE account_ref = (SELECT id FROM accounts WHERE account_id = NEW.account_id);
    RETURN NULL;
END $$;
CREATE TRIGGER cohort_accounts_verdict_insert AFTER INSERT ON identity_verdicts FOR EACH ROW EXECUTE FUNCTION cohort_accounts_verdict();
CREATE TRIGGER cohort_accounts_verdict_update AFTER UPDATE OF result ON identity_verdicts FOR EACH ROW EXECUTE FUNCTION cohort_accounts_verdict();

CREATE FUNCTION cohort_accounts_link() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE cohort_accounts SET last_link_at = NEW.created_at
    WHERE account_ref = (SELECT id FROM accounts WHERE account_id = NEW.account_id)
      AND (last_link_at IS NULL OR last_link_at < NEW.created_at);
    RETURN NULL;
END $$;
CREATE TRIGGER cohort_accounts_link AFTER INSERT ON link_tokens FOR EACH ROW EXECUTE FUNCTION cohort_accounts_link();

INSERT INTO jobs (kind, payload, dedupe_key, state, run_at, attempts, created_at, updated_at)
SELECT 'cohort.allocations', '{}', 'all', 'queued', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"000Z"'), 0,
       to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"000Z"'), to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"000Z"')
WHERE EXISTS (SELECT 1 FROM data_snapshots WHERE kind = 'direct_deposit_allocations');

CREATE TABLE campaigns (
    id                 BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name               TEXT COLLATE "C" NOT NULL,
    goal               TEXT COLLATE "C" NOT NULL CHECK (goal IN ('allocation', 'identity', 'income', 'employment')),
    deposit_account_id BIGINT REFERENCES deposit_accounts (id),
    ask                TEXT COLLATE "C" NOT NULL DEFAULT '' CHECK (ask IN ('', 'amount', 'minimum', 'choice')),
    ask_cents          BIGINT NOT NULL DEFAULT 0,
    incentive_text     TEXT COLLATE "C" NOT NULL,
    incentive_cents    BIGINT NOT NULL,
    lifetime_days      BIGINT NOT NULL,
    hold_days          BIGINT NOT NULL,
    holdout_pct        DOUBLE PRECISION NOT NULL,
    tags               TEXT COLLATE "C" NOT NULL,
    cohort             TEXT COLLATE "C" NOT NULL,
    salt               TEXT COLLATE "C" NOT NULL,
    state              TEXT COLLATE "C" NOT NULL CHECK (state IN ('draft', 'approved', 'launching', 'paused', 'live', 'ended', 'cancelled')),
    created_by         BIGINT NOT NULL REFERENCES staff (id),
    updated_by         BIGINT NOT NULL REFERENCES staff (id),
    created_at         TEXT COLLATE "C" NOT NULL,
    updated_at         TEXT COLLATE "C" NOT NULL,
    approved_by        BIGINT REFERENCES staff (id),
    approved_at        TEXT COLLATE "C",
    launched_by        BIGINT REFERENCES staff (id),
    launched_at        TEXT COLLATE "C",
    frozen_at          TEXT COLLATE "C",
    launch_done_at     TEXT COLLATE "C",
    ended_at           TEXT COLLATE "C",
    note               TEXT COLLATE "C" NOT NULL DEFAULT '',
    members            BIGINT NOT NULL DEFAULT 0,
    treatment          BIGINT NOT NULL DEFAULT 0,
    holdout            BIGINT NOT NULL DEFAULT 0,
    links_created      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX campaigns_state ON campaigns (state, id);

ALTER TABLE link_tokens ADD COLUMN campaign_id BIGINT REFERENCES campaigns (id);

CREATE TABLE campaign_payouts (
    id               BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    campaign_id      BIGINT NOT NULL REFERENCES campaigns (id),
    eligible_through TEXT COLLATE "C" NOT NULL,
    members          BIGINT NOT NULL,
    cents            BIGINT NOT NULL,
    paid_by          BIGINT NOT NULL REFERENCES staff (id),
    paid_at          TEXT COLLATE "C" NOT NULL
);
CREATE INDEX campaign_payouts_campaign ON campaign_payouts (campaign_id, id);

CREATE TABLE campaign_members (
    id                BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    campaign_id       BIGINT NOT NULL REFERENCES campaigns (id),
    account_ref       BIGINT NOT NULL REFERENCES accounts (id),
    account_id        TEXT COLLATE "C" NOT NULL,
    end_user_id       TEXT COLLATE "C" NOT NULL,
    platform_id       TEXT COLLATE "C" NOT NULL,
    grp               TEXT COLLATE "C" NOT NULL CHECK (grp IN ('treatment', 'holdout')),
    bucket            DOUBLE PRECISION NOT NULL,
    frozen_at         TEXT COLLATE "C" NOT NULL,
    base_snapshot_ref BIGINT,
    base_alloc        TEXT COLLATE "C" NOT NULL,
    base_cents        BIGINT NOT NULL DEFAULT 0,
    base_pct          DOUBLE PRECISION NOT NULL DEFAULT 0,
    base_est_cents    BIGINT,
    base_at           TEXT COLLATE "C",
    base_fresh        BIGINT NOT NULL CHECK (base_fresh IN (0, 1)),
    link_ref          BIGINT REFERENCES link_tokens (id),
    stage             TEXT COLLATE "C" NOT NULL,
    link_created_at   TEXT COLLATE "C",
    page_opened_at    TEXT COLLATE "C",
    link_opened_at    TEXT COLLATE "C",
    logged_in_at      TEXT COLLATE "C",
    outcome           TEXT COLLATE "C",
    outcome_at        TEXT COLLATE "C",
    last_snap_at      TEXT COLLATE "C",
    cur_alloc         TEXT COLLATE "C",
    cur_cents         BIGINT,
    cur_pct           DOUBLE PRECISION,
    cur_est_cents     BIGINT,
    result            TEXT COLLATE "C" NOT NULL DEFAULT '' CHECK (result IN ('', 'up', 'down', 'same')),
    converted_at      TEXT COLLATE "C",
    delta_cents       BIGINT,
    conv_alloc        TEXT COLLATE "C",
    conv_cents        BIGINT,
    conv_pct          DOUBLE PRECISION,
    ledger            TEXT COLLATE "C" NOT NULL DEFAULT '' CHECK (ledger IN ('', 'holding', 'eligible', 'paid', 'clawback', 'not_qualified')),
    hold_until        TEXT COLLATE "C",
    eligible_at       TEXT COLLATE "C",
    clawback_at       TEXT COLLATE "C",
    payout_ref        BIGINT REFERENCES campaign_payouts (id),
    paid_at           TEXT COLLATE "C",
    UNIQUE (campaign_id, account_ref)
);
CREATE INDEX campaign_members_account ON campaign_members (account_ref, campaign_id);
CREATE INDEX campaign_members_link ON campaign_members (link_ref) WHERE link_ref IS NOT NULL;
CREATE INDEX campaign_members_pending ON campaign_members (campaign_id, id) WHERE grp = 'treatment' AND link_ref IS NULL;
CREATE INDEX campaign_members_campaign ON campaign_members (campaign_id, id);
CREATE INDEX campaign_members_group ON campaign_members (campaign_id, grp, id);
CREATE INDEX campaign_members_stage ON campaign_members (campaign_id, stage, id);
CREATE INDEX campaign_members_result ON campaign_members (campaign_id, result, id) WHERE result IN ('up', 'down');
CREATE INDEX campaign_members_ledger ON campaign_members (campaign_id, ledger, id) WHERE ledger <> '';
CREATE INDEX campaign_members_delta ON campaign_members (campaign_id, grp, delta_cents) WHERE result = 'up' AND delta_cents IS NOT NULL;
CREATE INDEX campaign_members_hold ON campaign_members (hold_until) WHERE ledger = 'holding';

CREATE TABLE campaign_counts (
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    grp         TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    n           BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, grp, name)
);

CREATE TABLE campaign_daily (
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    grp         TEXT COLLATE "C" NOT NULL,
    day         TEXT COLLATE "C" NOT NULL,
    n           BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, grp, day)
);
