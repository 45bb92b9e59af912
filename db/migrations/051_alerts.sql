-- Account health, part two: alerts, the state their rules keep between
-- checks, and their notifications. See db/alerts.go, db/alert_rules.go and
-- db/alert_notify.go. Plain SQL that PostgreSQL also accepts (partial
-- indexes included).

-- alerts: one row per time a rule's condition held. rule names the rule
-- (db.Rule* constants); scope tells apart the conditions of one rule (the
-- platform id of the platform rule, '' for the others). The unique partial
-- index is the deduplication: the same condition can never have two alerts
-- that are not resolved, whatever races between checks. evidence is JSON
-- (db.AlertEvidence): the figure, the threshold and the events, accounts or
-- jobs behind it. state: open -> acknowledged or snoozed -> resolved
-- (cleared: the condition cleared; manual: by a staff member).
CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    rule            TEXT NOT NULL,
    scope           TEXT NOT NULL DEFAULT '',
    subject         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'snoozed', 'resolved')),
    opened_at       TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    checked_at      TEXT NOT NULL,
    evidence        TEXT NOT NULL,
    acknowledged_by INTEGER REFERENCES staff (id),
    acknowledged_at TEXT,
    snoozed_by      INTEGER REFERENCES staff (id),
    snoozed_until   TEXT,
    resolved_by     INTEGER REFERENCES staff (id),
    resolved_at     TEXT,
    resolution      TEXT CHECK (resolution IN ('cleared', 'manual'))
);
CREATE UNIQUE INDEX alerts_active ON alerts (rule, scope) WHERE state <> 'resolved';
CREATE INDEX alerts_state ON alerts (state, id);
CREATE INDEX alerts_rule ON alerts (rule, id);

-- alert_rule_state: what a rule remembers between checks (the position it
-- has read up to in a source it follows, e.g. launch events; -1 before it
-- starts, at the source's end), so that a check reads only what is new,
-- and when it last ran.
CREATE TABLE alert_rule_state (
    rule       TEXT PRIMARY KEY,
    cursor     INTEGER NOT NULL DEFAULT 0,
    checked_at TEXT
);

-- webhook_expectations: webhooks Linkdesk expects and has not seen yet.
-- kind 'link_success': a launch page reported Link's success
-- (launch_events row source_ref), so the job webhooks of its Link token
-- (expect_event, or any job event when '') should follow. kind
-- 'account_added': account.added arrived (events row source_ref), so the
-- job webhooks of the same Link session should follow. A row is deleted
-- when its webhook arrives (or a reconcile writes it); a manual resolution
-- of its alert dismisses it.
CREATE TABLE webhook_expectations (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('link_success', 'account_added')),
    source_ref    INTEGER NOT NULL,
    account_id    TEXT NOT NULL,
    link_token_id TEXT NOT NULL,
    expect_event  TEXT NOT NULL DEFAULT '',
    since         TEXT NOT NULL,
    checked_at    TEXT,
    dismissed_at  TEXT,
    UNIQUE (kind, source_ref)
);
CREATE INDEX webhook_expectations_due ON webhook_expectations (kind, since) WHERE dismissed_at IS NULL;

-- audit_chain_checks: results of checking the audit trail's hash chain
-- (worker.AuditChainChecks runs one a day; the auditors' workspace may
-- record its own here). The audit-chain rule reads the newest row.
CREATE TABLE audit_chain_checks (
    id           INTEGER PRIMARY KEY,
    checked_at   TEXT NOT NULL,
    ok           INTEGER NOT NULL CHECK (ok IN (0, 1)),
    rows_checked INTEGER NOT NULL,
    broken_at    INTEGER,
    reason       TEXT NOT NULL DEFAULT ''
);

-- alert_destinations: where new and resolved alerts are sent. config is
-- JSON without secrets (the webhook's host for display; the SMTP server,
-- sender and recipients of an email). secret_enc is AES-256-GCM ciphertext
-- (db/crypto.go) of a JSON object: the webhook's URL (which is itself a
-- credential for Slack's incoming webhooks) and our signing secret, or the
-- SMTP password. failures counts consecutive failed attempts; at the limit
-- the destination is marked failing and nothing more is sent to it until
-- an admin re-enables it or a test succeeds.
CREATE TABLE alert_destinations (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('webhook', 'email')),
    enabled         INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    state           TEXT NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'failing')),
    config          TEXT NOT NULL,
    secret_enc      TEXT NOT NULL,
    failures        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    last_success_at TEXT,
    failing_since   TEXT,
    created_by      INTEGER REFERENCES staff (id),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

-- alert_deliveries: one notification of one alert (alert_id NULL for a
-- test) to one destination, with its attempts: the delivery log.
CREATE TABLE alert_deliveries (
    id             INTEGER PRIMARY KEY,
    alert_id       INTEGER REFERENCES alerts (id),
    destination_id INTEGER NOT NULL REFERENCES alert_destinations (id),
    event          TEXT NOT NULL CHECK (event IN ('opened', 'resolved', 'test')),
    state          TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'skipped')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT,
    response       TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    sent_at        TEXT
);
CREATE INDEX alert_deliveries_alert ON alert_deliveries (alert_id, id);
CREATE INDEX alert_deliveries_destination ON alert_deliveries (destination_id, id);
