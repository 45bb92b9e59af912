package db

import (
	"context"
	"database/sql"
	"fmt"
)

// The SQL of the ingest path, prepared once on the writer connection (the
// modernc driver otherwise re-parses each statement on every call, which is
// a large share of a small insert).
//
// The statements name the rows they point at by Pinwheel's ids (subqueries
// on the UNIQUE indexes) rather than by our integer ids read back from
// earlier statements: no statement needs another's result, except the
// account read that the merge decides by, so on PostgreSQL the rest are
// pipelined (postgres_pipeline.go) instead of waiting a round trip each.
const (
	refEndUser   = `(SELECT id FROM end_users WHERE end_user_id = ?)`
	refAccount   = `(SELECT id FROM accounts WHERE account_id = ?)`
	refLinkToken = `(SELECT id FROM link_tokens_seen WHERE link_token_id = ?)`
	refEvent     = `(SELECT id FROM events WHERE event_id = ?)`

	sqlEndUserUpsert = `INSERT INTO end_users (end_user_id, first_seen_at, last_seen_at, account_count, event_count)
VALUES (?, ?, ?, 0, 1)
ON CONFLICT (end_user_id) DO UPDATE SET
  first_seen_at = CASE WHEN excluded.first_seen_at < end_users.first_seen_at THEN excluded.first_seen_at ELSE end_users.first_seen_at END,
  last_seen_at = CASE WHEN excluded.last_seen_at > end_users.last_seen_at THEN excluded.last_seen_at ELSE end_users.last_seen_at END,
  event_count = end_users.event_count + 1`

	sqlEndUserAddAccount = `UPDATE end_users SET account_count = account_count + 1 WHERE end_user_id = ?`

	sqlAccountGet = `SELECT account_id, id, end_user_ref, platform_id, platform_name, platform_type, link_token_id, created_at,
  connected, monitoring_status, monitoring_status_at, status_rank, first_seen_at, last_event_at, last_job, last_job_outcome, last_job_at
FROM accounts WHERE account_id = ?`

	sqlAccountInsert = `INSERT INTO accounts (account_id, end_user_ref, platform_id, platform_name, platform_type, link_token_id,
  created_at, connected, monitoring_status, monitoring_status_at, status_rank, first_seen_at, last_event_at, last_job, last_job_outcome,
  last_job_at, event_count)
VALUES (?, ` + refEndUser + `, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`

	// The end user is set once: a NULL end_user_id keeps the stored one.
	sqlAccountUpdate = `UPDATE accounts SET end_user_ref = COALESCE(end_user_ref, ` + refEndUser + `), platform_id = ?, platform_name = ?,
  platform_type = ?, link_token_id = ?, created_at = ?, connected = ?, monitoring_status = ?, monitoring_status_at = ?, status_rank = ?,
  first_seen_at = ?, last_event_at = ?, last_job = ?, last_job_outcome = ?, last_job_at = ?, event_count = event_count + 1
WHERE account_id = ?`

	sqlAccountTouch = `UPDATE accounts SET first_seen_at = ?, last_event_at = ?, event_count = event_count + 1 WHERE account_id = ?`

	// The latest job is the committer's merge (mergeAccount), written with
	// the activity: one write of the account row per job event (until
	// migration 084 a trigger on account_jobs wrote it a second time).
	sqlAccountTouchJob = `UPDATE accounts SET first_seen_at = ?, last_event_at = ?, last_job = ?, last_job_outcome = ?, last_job_at = ?,
  event_count = event_count + 1 WHERE account_id = ?`

	// The last_* columns move only for an outcome not older than the stored one.
	sqlLinkTokenUpsert = `INSERT INTO link_tokens_seen (link_token_id, account_ref, end_user_ref, first_seen_at, last_seen_at,
  event_count, success_count, error_count, pending_count, last_job, last_outcome, last_outcome_at, last_error_type, last_error_code)
VALUES (?, ` + refAccount + `, ` + refEndUser + `, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (link_token_id) DO UPDATE SET
  account_ref = COALESCE(link_tokens_seen.account_ref, excluded.account_ref),
  end_user_ref = COALESCE(link_tokens_seen.end_user_ref, excluded.end_user_ref),
  first_seen_at = CASE WHEN excluded.first_seen_at < link_tokens_seen.first_seen_at THEN excluded.first_seen_at ELSE link_tokens_seen.first_seen_at END,
  last_seen_at = CASE WHEN excluded.last_seen_at > link_tokens_seen.last_seen_at THEN excluded.last_seen_at ELSE link_tokens_seen.last_seen_at END,
  event_count = link_tokens_seen.event_count + 1,
  success_count = link_tokens_seen.success_count + excluded.success_count,
  error_count = link_tokens_seen.error_count + excluded.error_count,
  pending_count = link_tokens_seen.pending_count + excluded.pending_count,
  last_job = CASE WHEN ` + newerOutcome + ` THEN excluded.last_job ELSE link_tokens_seen.last_job END,
  last_outcome = CASE WHEN ` + newerOutcome + ` THEN excluded.last_outcome ELSE link_tokens_seen.last_outcome END,
  last_error_type = CASE WHEN ` + newerOutcome + ` THEN excluded.last_error_type ELSE link_tokens_seen.last_error_type END,
  last_error_code = CASE WHEN ` + newerOutcome + ` THEN excluded.last_error_code ELSE link_tokens_seen.last_error_code END,
  last_outcome_at = CASE WHEN ` + newerOutcome + ` THEN excluded.last_outcome_at ELSE link_tokens_seen.last_outcome_at END`

	newerOutcome = `(excluded.last_outcome_at IS NOT NULL AND (link_tokens_seen.last_outcome_at IS NULL OR excluded.last_outcome_at >= link_tokens_seen.last_outcome_at))`

	sqlEventInsert = `INSERT INTO events (event_id, event, account_ref, end_user_ref, link_token_ref, outcome, occurred_at, sent_at,
  received_at, last_received_at, delivery_count, projection, projection_error, webhook_id, api_version, signature, body, origin)
VALUES (?, ?, ` + refAccount + `, ` + refEndUser + `, ` + refLinkToken + `, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)`

	sqlEventDuplicate = `UPDATE events SET delivery_count = delivery_count + 1,
  last_received_at = CASE WHEN ? > last_received_at THEN ? ELSE last_received_at END
WHERE event_id = ?`

	sqlJobUpsert = `INSERT INTO account_jobs (account_ref, job, outcome, at, error_type, error_code, link_token_id, event_ref)
VALUES (` + refAccount + `, ?, ?, ?, ?, ?, ?, ` + refEvent + `)
ON CONFLICT (account_ref, job) DO UPDATE SET outcome = excluded.outcome, at = excluded.at, error_type = excluded.error_type,
  error_code = excluded.error_code, link_token_id = excluded.link_token_id, event_ref = excluded.event_ref
WHERE excluded.at >= account_jobs.at`

	sqlHistoryInsert = `INSERT INTO monitoring_status_history (account_ref, event_ref, status, connected, status_rank, at)
VALUES (` + refAccount + `, ` + refEvent + `, ?, ?, ?, ?)`

	// sqlHistoryInsertRefs is sqlHistoryInsert by our ids (a fetched
	// account's status, account_fetch.go).
	sqlHistoryInsertRefs = `INSERT INTO monitoring_status_history (account_ref, event_ref, status, connected, status_rank, at)
VALUES (?, ?, ?, ?, ?, ?)`

	sqlSwitchInsert = `INSERT INTO dd_switches (event_ref, account_ref, end_user_ref, link_token_id, at, outcome, error_type, error_code,
  action, allocation_type, allocation_value, target_name, target_type, target_last4, card_name)
VALUES (` + refEvent + `, ` + refAccount + `, ` + refEndUser + `, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

	sqlEventCounts = `INSERT INTO event_counts (hour, event, accepted, duplicates) VALUES (?, ?, ?, ?)
ON CONFLICT (hour, event) DO UPDATE SET accepted = event_counts.accepted + excluded.accepted, duplicates = event_counts.duplicates + excluded.duplicates`

	sqlJobCounts = `INSERT INTO job_outcome_counts (hour, job, outcome, n) VALUES (?, ?, ?, ?)
ON CONFLICT (hour, job, outcome) DO UPDATE SET n = job_outcome_counts.n + excluded.n`

	sqlRejectionCounts = `INSERT INTO rejection_counts (hour, reason, n) VALUES (?, ?, ?)
ON CONFLICT (hour, reason) DO UPDATE SET n = rejection_counts.n + excluded.n`

	sqlStatusCounts = `INSERT INTO status_counts (monitoring_status, n) VALUES (?, ?)
ON CONFLICT (monitoring_status) DO UPDATE SET n = status_counts.n + excluded.n`

	sqlTotals = `INSERT INTO totals (name, n) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET n = totals.n + excluded.n`

	sqlRejectionInsert = `INSERT INTO webhook_rejections (at, reason, status, remote_addr, headers, body_size, body_sha256, body)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

	sqlRejectionPrune = `DELETE FROM webhook_rejections WHERE id <= (SELECT MAX(id) FROM webhook_rejections) - ?`

	// sqlCampaignLink is the campaign launch link that minted a Pinwheel
	// token, if any (campaign_tracking.go).
	sqlCampaignLink = `SELECT mt.link_token_id, t.id FROM link_token_mints mt JOIN link_tokens t ON t.id = mt.link_ref
WHERE mt.link_token_id = ? AND t.campaign_id IS NOT NULL`
)

// boundStmts are the statements bound to one transaction.
type boundStmts struct {
	endUserUpsert, endUserAddAccount, accountGet, accountInsert, accountUpdate, accountTouch, accountTouchJob *sql.Stmt
	linkTokenUpsert                                                                                           *sql.Stmt
	eventInsert, eventDuplicate, jobUpsert, historyInsert, switchInsert, jobEnqueue                           *sql.Stmt
	eventCounts, jobCounts, rejectionCounts, statusCounts, totals, rejectionInsert, rejectionPrune            *sql.Stmt
	campaignLink                                                                                              *sql.Stmt
	paySyncRequest, paySyncMilestone, payPendingInsert, payDeletionInsert, payItemDelete, payPendingDrop      *sql.Stmt
	savepoint, release, rollbackTo                                                                            *sql.Stmt
	// tx is the transaction the statements are bound to (nil before
	// bind), for the rare writes without a prepared statement (campaign
	// tracking).
	tx *sql.Tx
}

// fields pairs each boundStmts field with its SQL on dialect d.
func (b *boundStmts) fields(d dialect) []struct {
	p   **sql.Stmt
	sql string
} {
	return []struct {
		p   **sql.Stmt
		sql string
	}{
		{&b.endUserUpsert, sqlEndUserUpsert}, {&b.endUserAddAccount, sqlEndUserAddAccount}, {&b.accountGet, sqlAccountGet + d.forUpdate},
		{&b.accountInsert, sqlAccountInsert}, {&b.accountUpdate, sqlAccountUpdate}, {&b.accountTouch, sqlAccountTouch}, {&b.accountTouchJob, sqlAccountTouchJob},
		{&b.linkTokenUpsert, sqlLinkTokenUpsert},
		{&b.eventInsert, sqlEventInsert}, {&b.eventDuplicate, sqlEventDuplicate}, {&b.jobUpsert, sqlJobUpsert},
		{&b.historyInsert, sqlHistoryInsert}, {&b.switchInsert, sqlSwitchInsert}, {&b.jobEnqueue, sqlJobEnqueue},
		{&b.eventCounts, sqlEventCounts}, {&b.jobCounts, sqlJobCounts}, {&b.rejectionCounts, sqlRejectionCounts},
		{&b.statusCounts, sqlStatusCounts}, {&b.totals, sqlTotals}, {&b.rejectionInsert, sqlRejectionInsert}, {&b.rejectionPrune, sqlRejectionPrune},
		{&b.campaignLink, sqlCampaignLink},
		{&b.paySyncRequest, sqlPaySyncRequest}, {&b.paySyncMilestone, sqlPaySyncMilestone}, {&b.payPendingInsert, fmt.Sprintf(sqlPayPendingInsert, d.jsonStrings)},
		{&b.payDeletionInsert, sqlPayDeletionInsert}, {&b.payItemDelete, sqlPayItemDelete}, {&b.payPendingDrop, sqlPayPendingDrop},
		{&b.savepoint, `SAVEPOINT ev`}, {&b.release, `RELEASE SAVEPOINT ev`}, {&b.rollbackTo, `ROLLBACK TO SAVEPOINT ev`},
	}
}

// prepareStmts prepares the ingest statements on the writer pool.
func (s *Store) prepareStmts(ctx context.Context) (*boundStmts, error) {
	var b boundStmts
	for _, f := range b.fields(s.d) {
		st, err := s.w.PrepareContext(ctx, f.sql)
		if err != nil {
			b.close()
			return nil, fmt.Errorf("db: prepare %.40q: %w", f.sql, err)
		}
		*f.p = st
	}
	return &b, nil
}

// bind returns the statements bound to tx. On the single writer connection
// database/sql reuses the prepared statements rather than re-preparing.
func (b *boundStmts) bind(ctx context.Context, tx *sql.Tx) *boundStmts {
	var out boundStmts
	src, dst := b.fields(dialect{}), out.fields(dialect{})
	for i := range src {
		*dst[i].p = tx.StmtContext(ctx, *src[i].p)
	}
	out.tx = tx
	return &out
}

func (b *boundStmts) close() {
	for _, f := range b.fields(dialect{}) {
		if *f.p != nil {
			(*f.p).Close()
		}
	}
}
