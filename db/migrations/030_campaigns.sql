-- Incentive campaigns (issue 11): the cohort facts of every account, the
-- campaigns, their frozen members with baselines and tracking, the counters
-- the campaign page reads, and payouts. See db/campaigns.go, db/cohort.go,
-- db/campaign_launch.go and db/campaign_tracking.go.
--
-- Plain SQL that PostgreSQL also accepts (partial indexes included),
-- triggers aside (PostgreSQL writes them as functions), and strftime in the
-- one job row below (to_char there).

-- cohort_accounts: one row per account with every fact a cohort filters
-- on, so that a cohort's count and sample read one narrow table through its
-- indexes, never events or snapshots. The account's own columns follow
-- accounts by triggers; alloc* is the projection of the latest allocations
-- snapshot onto the organisation's deposit accounts, written in Go when a
-- snapshot is stored (allocations.go): alloc is unknown (no snapshot yet),
-- none, amount, percentage (some percentage, maybe amounts too) or
-- remainder (the remainder is ours); alloc_cents and alloc_pct are the
-- fixed amounts and percentages to our accounts; alloc_est_cents is the
-- estimate in cents per paycheck (NULL when a percentage or the remainder
-- cannot be priced: no income data); alloc_at is the snapshot's time
-- (refreshed_at, else fetched_at), the order key of out-of-order fetches.
-- last_switch_at is the latest successful deposit switch, last_link_at the
-- latest launch link made for the account, verdict the identity verdict,
-- live_campaigns how many launched, not ended campaigns hold it as member.
CREATE TABLE cohort_accounts (
    account_ref        INTEGER PRIMARY KEY REFERENCES accounts (id),
    platform_id        TEXT NOT NULL DEFAULT '',
    monitoring_status  TEXT NOT NULL DEFAULT '',
    connected          INTEGER,
    created_at         TEXT,
    alloc              TEXT NOT NULL DEFAULT 'unknown' CHECK (alloc IN ('unknown', 'none', 'amount', 'percentage', 'remainder')),
    alloc_cents        INTEGER NOT NULL DEFAULT 0,
    alloc_pct          REAL NOT NULL DEFAULT 0,
    alloc_est_cents    INTEGER,
    alloc_at           TEXT,
    alloc_snapshot_ref INTEGER,
    last_switch_at     TEXT,
    last_link_at       TEXT,
    verdict            TEXT NOT NULL DEFAULT '',
    live_campaigns     INTEGER NOT NULL DEFAULT 0
);
-- The allocation filter (the main one of a campaign) and the two facets
-- that split accounts most are index ranges, and each index covers the
-- columns the common filters test, so a count reads index entries only.
-- The allocation index also covers the rarer filters (switch, link,
-- verdict, creation date); without an allocation filter those read rows.
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

CREATE TRIGGER cohort_accounts_insert AFTER INSERT ON accounts BEGIN
    INSERT INTO cohort_accounts (account_ref, platform_id, monitoring_status, connected, created_at)
    VALUES (NEW.id, COALESCE(NEW.platform_id, ''), COALESCE(NEW.monitoring_status, ''), NEW.connected, NEW.created_at);
END;
CREATE TRIGGER cohort_accounts_update AFTER UPDATE OF platform_id, monitoring_status, connected, created_at ON accounts
WHEN OLD.platform_id IS NOT NEW.platform_id OR OLD.monitoring_status IS NOT NEW.monitoring_status
  OR OLD.connected IS NOT NEW.connected OR OLD.created_at IS NOT NEW.created_at BEGIN
    UPDATE cohort_accounts SET platform_id = COALESCE(NEW.platform_id, ''), monitoring_status = COALESCE(NEW.monitoring_status, ''),
        connected = NEW.connected, created_at = NEW.created_at
    WHERE account_ref = NEW.id;
END;
CREATE TRIGGER cohort_accounts_switch AFTER INSERT ON dd_switches
WHEN NEW.outcome = 'success' AND NEW.account_ref IS NOT NULL BEGIN
    UPDATE cohort_accounts SET last_switch_at = NEW.at
    WHERE account_ref = NEW.account_ref AND (last_switch_at IS NULL OR last_switch_at < NEW.at);
END;
CREATE TRIGGER cohort_accounts_verdict_insert AFTER INSERT ON identity_verdicts BEGIN
    UPDATE cohort_accounts SET verdict = NEW.result WHERE account_ref = (SELECT id FROM accounts WHERE account_id = NEW.account_id);
END;
CREATE TRIGGER cohort_accounts_verdict_update AFTER UPDATE OF result ON identity_verdicts BEGIN
    UPDATE cohort_accounts SET verdict = NEW.result WHERE account_ref = (SELECT id FROM accounts WHERE account_id = NEW.account_id);
END;
CREATE TRIGGER cohort_accounts_link AFTER INSERT ON link_tokens BEGIN
    UPDATE cohort_accounts SET last_link_at = NEW.created_at
    WHERE account_ref = (SELECT id FROM accounts WHERE account_id = NEW.account_id)
      AND (last_link_at IS NULL OR last_link_at < NEW.created_at);
END;

-- The allocation projection of accounts that already have snapshots is
-- computed by a job (decoding JSON and matching deposit accounts is Go's
-- work): db.JobCohortAllocations, also queued when a deposit account is
-- added.
INSERT INTO jobs (kind, payload, dedupe_key, state, run_at, attempts, created_at, updated_at)
SELECT 'cohort.allocations', '{}', 'all', 'queued', strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'), 0,
       strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'), strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')
WHERE EXISTS (SELECT 1 FROM data_snapshots WHERE kind = 'direct_deposit_allocations');

-- campaigns: an offer to a cohort. goal allocation raises the direct
-- deposit allocation to deposit_account_id (ask: a fixed amount, a minimum,
-- or the user's choice; ask_cents for the first two); identity, income and
-- employment refresh that data. cohort is the filter as its canonical query
-- string (cohort.go); tags a JSON object sent with every token; salt the
-- per-campaign secret of the holdout split. state: draft -> approved ->
-- launching <-> paused -> live -> ended, or cancelled from launching or
-- paused; with approval off in settings, draft -> launching directly.
-- frozen_at is when the launch froze the cohort into campaign_members; the
-- counts beside it are the members and the launch's progress.
CREATE TABLE campaigns (
    id                 INTEGER PRIMARY KEY,
    name               TEXT NOT NULL,
    goal               TEXT NOT NULL CHECK (goal IN ('allocation', 'identity', 'income', 'employment')),
    deposit_account_id INTEGER REFERENCES deposit_accounts (id),
    ask                TEXT NOT NULL DEFAULT '' CHECK (ask IN ('', 'amount', 'minimum', 'choice')),
    ask_cents          INTEGER NOT NULL DEFAULT 0,
    incentive_text     TEXT NOT NULL,
    incentive_cents    INTEGER NOT NULL,
    lifetime_days      INTEGER NOT NULL,
    hold_days          INTEGER NOT NULL,
    holdout_pct        REAL NOT NULL,
    tags               TEXT NOT NULL,
    cohort             TEXT NOT NULL,
    salt               TEXT NOT NULL,
    state              TEXT NOT NULL CHECK (state IN ('draft', 'approved', 'launching', 'paused', 'live', 'ended', 'cancelled')),
    created_by         INTEGER NOT NULL REFERENCES staff (id),
    updated_by         INTEGER NOT NULL REFERENCES staff (id),
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    approved_by        INTEGER REFERENCES staff (id),
    approved_at        TEXT,
    launched_by        INTEGER REFERENCES staff (id),
    launched_at        TEXT,
    frozen_at          TEXT,
    launch_done_at     TEXT,
    ended_at           TEXT,
    note               TEXT NOT NULL DEFAULT '',
    members            INTEGER NOT NULL DEFAULT 0,
    treatment          INTEGER NOT NULL DEFAULT 0,
    holdout            INTEGER NOT NULL DEFAULT 0,
    links_created      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX campaigns_state ON campaigns (state, id);

-- The launch link a campaign made (NULL for every other link).
ALTER TABLE link_tokens ADD COLUMN campaign_id INTEGER REFERENCES campaigns (id);

-- campaign_payouts: a batch of eligible members an admin marked paid.
CREATE TABLE campaign_payouts (
    id               INTEGER PRIMARY KEY,
    campaign_id      INTEGER NOT NULL REFERENCES campaigns (id),
    eligible_through TEXT NOT NULL,
    members          INTEGER NOT NULL,
    cents            INTEGER NOT NULL,
    paid_by          INTEGER NOT NULL REFERENCES staff (id),
    paid_at          TEXT NOT NULL
);
CREATE INDEX campaign_payouts_campaign ON campaign_payouts (campaign_id, id);

-- campaign_members: the cohort frozen at launch. grp is treatment or
-- holdout (bucket < holdout share, bucket = HMAC(salt, account_id) as a
-- uniform number in [0, 1)). base_* is the baseline: the latest allocations
-- snapshot at launch projected onto our deposit accounts; base_fresh says
-- whether it is recent enough to judge (members without a fresh baseline
-- are not judged: they count in no rate). The funnel stages of a
-- treatment member (link_created_at … outcome) come from its launch link's
-- page, Link events and webhooks; stage is the furthest. cur_* is the
-- allocation of the newest snapshot after launch (last_snap_at, its time:
-- an older snapshot arriving later changes nothing), result how it
-- compares with the baseline (up: converted, down: lowered, same),
-- delta_cents the change in cents per paycheck (NULL when it cannot be
-- priced). conv_* is the level at conversion, which the incentive must
-- hold until hold_until; ledger is holding, eligible, paid, clawback (it
-- fell inside the hold period) or not_qualified (below the ask).
CREATE TABLE campaign_members (
    id                INTEGER PRIMARY KEY,
    campaign_id       INTEGER NOT NULL REFERENCES campaigns (id),
    account_ref       INTEGER NOT NULL REFERENCES accounts (id),
    account_id        TEXT NOT NULL,
    end_user_id       TEXT NOT NULL,
    platform_id       TEXT NOT NULL,
    grp               TEXT NOT NULL CHECK (grp IN ('treatment', 'holdout')),
    bucket            REAL NOT NULL,
    frozen_at         TEXT NOT NULL,
    base_snapshot_ref INTEGER,
    base_alloc        TEXT NOT NULL,
    base_cents        INTEGER NOT NULL DEFAULT 0,
    base_pct          REAL NOT NULL DEFAULT 0,
    base_est_cents    INTEGER,
    base_at           TEXT,
    base_fresh        INTEGER NOT NULL CHECK (base_fresh IN (0, 1)),
    link_ref          INTEGER REFERENCES link_tokens (id),
    stage             TEXT NOT NULL,
    link_created_at   TEXT,
    page_opened_at    TEXT,
    link_opened_at    TEXT,
    logged_in_at      TEXT,
    outcome           TEXT,
    outcome_at        TEXT,
    last_snap_at      TEXT,
    cur_alloc         TEXT,
    cur_cents         INTEGER,
    cur_pct           REAL,
    cur_est_cents     INTEGER,
    result            TEXT NOT NULL DEFAULT '' CHECK (result IN ('', 'up', 'down', 'same')),
    converted_at      TEXT,
    delta_cents       INTEGER,
    conv_alloc        TEXT,
    conv_cents        INTEGER,
    conv_pct          REAL,
    ledger            TEXT NOT NULL DEFAULT '' CHECK (ledger IN ('', 'holding', 'eligible', 'paid', 'clawback', 'not_qualified')),
    hold_until        TEXT,
    eligible_at       TEXT,
    clawback_at       TEXT,
    payout_ref        INTEGER REFERENCES campaign_payouts (id),
    paid_at           TEXT,
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

-- campaign_counts: per campaign and group, the counters the campaign page
-- reads (members, judged, each funnel stage reached, current outcomes,
-- converted, lowered, the sum and sum of squares of the deltas, ledger
-- states), changed in the transaction of every change they count.
CREATE TABLE campaign_counts (
    campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
    grp         TEXT NOT NULL,
    name        TEXT NOT NULL,
    n           INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, grp, name)
);

-- campaign_daily: conversions per day (UTC) and group, for the chart.
CREATE TABLE campaign_daily (
    campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
    grp         TEXT NOT NULL,
    day         TEXT NOT NULL,
    n           INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, grp, day)
);
