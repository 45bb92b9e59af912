package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"linkdesk/pinwheel"
)

// Alert rules. Each rule is a check that runs on the job queue
// (JobAlertCheck, one job per rule that queues its own next run) and
// returns the conditions that hold now; applyFindings (alerts.go) turns
// them into alerts. Every check reads counters, index ranges bounded by
// its window, or what is new since its last run (alert_rule_state), never
// a scan of events or accounts: each takes well under 50 ms at a million
// events (docs/PERFORMANCE.md).

// JobAlertCheck is the job kind of rule checks; the payload names the rule
// and the dedupe key is the rule, so each rule has one check queued.
const JobAlertCheck = "alert.check"

// AlertCheckEvery is how often each rule is checked.
const AlertCheckEvery = time.Minute

// Rules.
const (
	RuleSignatureFailures   = "signature_failures"
	RuleSilence             = "silence"
	RuleMissingLinkWebhooks = "missing_link_webhooks"
	RuleMissingJobWebhooks  = "missing_job_webhooks"
	RuleFetchFailing        = "fetch_failing"
	RuleFetchStuck          = "fetch_stuck"
	RulePlatformDegraded    = "platform_degraded"
	RuleAuditChain          = "audit_chain"
	RuleBulkStuck           = "bulk_stuck"
)

// RuleInfo describes a rule for people.
type RuleInfo struct {
	Name  string
	Label string
	// About says what the rule watches.
	About string
}

// Rules lists every rule in the order pages show them.
var Rules = []RuleInfo{
	{RuleSignatureFailures, "Signature or timestamp failures", "Webhook deliveries refused for a bad or missing signature or timestamp, above a threshold within a window: a wrong secret, a clock off, or someone else posting."},
	{RuleSilence, "Silence", "No webhook at all for a while although accounts are active: the feed may have stopped. Off by default (quiet hours are normal for small volumes)."},
	{RuleMissingLinkWebhooks, "Link success without its webhooks", "A launch page reported Link's success for a job, but no job webhook of that Link session arrived in time."},
	{RuleMissingJobWebhooks, "Account added without its job webhooks", "Pinwheel reported a new account, but no job webhook of the same Link session followed in time."},
	{RuleFetchFailing, "Data fetches failing", "Data fetches after webhooks gave up, or keep retrying, above a threshold within a window."},
	{RuleFetchStuck, "Data fetches stuck", "Data fetches due for a while that no worker has run."},
	{RulePlatformDegraded, "A platform going bad", "A share of one platform's accounts left active within 24 hours and have not come back."},
	{RuleAuditChain, "Audit chain check failing", "The latest check of the audit trail's hash chain found it broken."},
	{RuleBulkStuck, "Bulk job stuck", "A reconnect batch (or another bulk job) has made no progress for a while."},
}

// RuleLabel returns a rule's label, "" for an unknown name.
func RuleLabel(name string) string {
	for _, r := range Rules {
		if r.Name == name {
			return r.Label
		}
	}
	return ""
}

// AlertCheckPayload is the payload of a JobAlertCheck job.
type AlertCheckPayload struct {
	Rule string `json:"rule"`
}

// ScheduleAlertChecks makes sure every rule has a check queued (at start:
// each check queues its own next run, and the dedupe key keeps one).
func (s *Store) ScheduleAlertChecks(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, r := range Rules {
			if _, err := s.enqueueJob(ctx, tx, NewJob{Kind: JobAlertCheck, Payload: AlertCheckPayload{Rule: r.Name}, DedupeKey: r.Name}); err != nil {
				return err
			}
		}
		return nil
	})
}

// ScheduleNextCheck queues a rule's next check AlertCheckEvery from now
// (a check that fails is retried by the queue and the next one still
// comes). Checks that finished more than an hour ago are deleted: nine
// rules a minute would otherwise add 13,000 rows a day to the queue's
// history (failed ones are kept, for the dashboard).
func (s *Store) ScheduleNextCheck(ctx context.Context, rule string) error {
	now := s.now()
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.enqueueJob(ctx, tx, NewJob{Kind: JobAlertCheck, Payload: AlertCheckPayload{Rule: rule}, DedupeKey: rule, RunAt: now.Add(AlertCheckEvery)}); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE dedupe_key = ? AND kind = ? AND state = 'done' AND finished_at < ?`,
			rule, JobAlertCheck, FormatTime(now.Add(-time.Hour)))
		return err
	})
}

// CheckResult is what one check found and did.
type CheckResult struct {
	Rule     string
	Findings []Finding
	Changes  []AlertChange
}

// CheckRule runs one rule's check at the Store's clock and applies what it
// found, in one transaction: the rule's own state (what it has read so
// far) and its alerts move together. A rule turned off finds nothing, so
// its alerts resolve.
func (s *Store) CheckRule(ctx context.Context, rule string) (CheckResult, error) {
	check, ok := ruleChecks[rule]
	if !ok {
		return CheckResult{}, fmt.Errorf("db: check: unknown rule %q", rule)
	}
	set, err := s.AlertSettings(ctx)
	if err != nil {
		return CheckResult{}, err
	}
	now := s.now().UTC()
	res := CheckResult{Rule: rule}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if set.On(rule) {
			if res.Findings, err = check(ctx, s, tx, set, now); err != nil {
				return err
			}
		}
		if res.Changes, err = s.applyFindings(ctx, tx, rule, res.Findings, now); err != nil {
			return err
		}
		// cursor -1: a rule that follows a source has not started (ruleCursor).
		_, err = tx.ExecContext(ctx, `INSERT INTO alert_rule_state (rule, cursor, checked_at) VALUES (?, -1, ?)
ON CONFLICT (rule) DO UPDATE SET checked_at = excluded.checked_at`, rule, FormatTime(now))
		return err
	})
	if err != nil {
		return CheckResult{}, fmt.Errorf("db: check %s: %w", rule, err)
	}
	return res, nil
}

// ruleCheck finds the conditions of one rule that hold at now.
type ruleCheck func(ctx context.Context, s *Store, tx *sql.Tx, set AlertSettings, now time.Time) ([]Finding, error)

var ruleChecks = map[string]ruleCheck{
	RuleSignatureFailures:   checkSignatureFailures,
	RuleSilence:             checkSilence,
	RuleMissingLinkWebhooks: checkMissingLinkWebhooks,
	RuleMissingJobWebhooks:  checkMissingJobWebhooks,
	RuleFetchFailing:        checkFetchFailing,
	RuleFetchStuck:          checkFetchStuck,
	RulePlatformDegraded:    checkPlatformDegraded,
	RuleAuditChain:          checkAuditChain,
	RuleBulkStuck:           checkBulkStuck,
}

// ---- signature and timestamp failures ----

// signatureReasons are the refusals that mean "not signed by Pinwheel as
// we expect": a wrong secret, a clock off, or someone else posting.
var signatureReasons = []string{ReasonMissingSignature, ReasonMalformedSignature, ReasonBadSignature,
	ReasonMissingTimestamp, ReasonMalformedTimestamp, ReasonStaleTimestamp, ReasonFutureTimestamp}

// checkSignatureFailures counts refused deliveries of those reasons in the
// window: one range of webhook_rejections_reason_at per reason.
func checkSignatureFailures(ctx context.Context, s *Store, tx *sql.Tx, set AlertSettings, now time.Time) ([]Finding, error) {
	since := FormatTime(now.Add(-time.Duration(set.SignatureWindowMinutes) * time.Minute))
	args := []any{}
	for _, r := range signatureReasons {
		args = append(args, r)
	}
	args = append(args, since)
	where := `reason IN (` + placeholders(len(signatureReasons)) + `) AND at >= ?`
	n, err := countUpTo(ctx, tx, `SELECT 1 FROM webhook_rejections WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	if n < set.SignatureThreshold {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, reason, at FROM webhook_rejections WHERE `+where+` ORDER BY at DESC LIMIT ?`, append(args, maxEvidenceItems)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ev := AlertEvidence{Value: float64(n), Threshold: float64(set.SignatureThreshold),
		Summary: fmt.Sprintf("%s refused in the last %s (threshold %d).", atLeast(n), minutes(set.SignatureWindowMinutes), set.SignatureThreshold)}
	for rows.Next() {
		var id int64
		var reason, at string
		if err := rows.Scan(&id, &reason, &at); err != nil {
			return nil, err
		}
		ev.Items = append(ev.Items, EvidenceItem{Kind: EvidenceRejection, ID: reason, Label: strings.ReplaceAll(reason, "_", " ") + " #" + strconv.FormatInt(id, 10), At: ParseTime(at)})
	}
	ev.More = n - len(ev.Items)
	return []Finding{{Subject: fmt.Sprintf("%s webhook deliveries failed the signature or timestamp check in %s", atLeast(n), minutes(set.SignatureWindowMinutes)), Evidence: ev}}, rows.Err()
}

// ---- silence ----

// checkSilence compares the newest delivery Pinwheel sent (the events
// primary key's edge, past any reconciled ones) with the clock, while
// status_counts says accounts are active.
func checkSilence(ctx context.Context, s *Store, tx *sql.Tx, set AlertSettings, now time.Time) ([]Finding, error) {
	var active int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(n), 0) FROM status_counts WHERE monitoring_status = 'active'`).Scan(&active); err != nil {
		return nil, err
	}
	var eventID, recv string
	err := tx.QueryRowContext(ctx, `SELECT event_id, received_at FROM events WHERE origin IS NULL ORDER BY id DESC LIMIT 1`).Scan(&eventID, &recv)
	if errors.Is(err, sql.ErrNoRows) || active == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	last := ParseTime(recv)
	quiet := now.Sub(last)
	limit := time.Duration(set.SilenceMinutes) * time.Minute
	if quiet < limit {
		return nil, nil
	}
	ev := AlertEvidence{Value: quiet.Minutes(), Threshold: float64(set.SilenceMinutes),
		Summary: fmt.Sprintf("The last webhook arrived %s ago; %d accounts are active.", roundDuration(quiet), active),
		Items:   []EvidenceItem{{Kind: EvidenceEvent, ID: eventID, Label: "the last webhook received", At: last}}}
	return []Finding{{Subject: fmt.Sprintf("No webhook from Pinwheel for %s while %d accounts are active", roundDuration(quiet), active), Evidence: ev}}, nil
}

// ---- expected webhooks missing ----

// expectationKindOf maps a missing-webhook rule to its expectations.
func expectationKindOf(rule string) string {
	switch rule {
	case RuleMissingLinkWebhooks:
		return "link_success"
	case RuleMissingJobWebhooks:
		return "account_added"
	}
	return ""
}

// jobEventNames are the catalogue's job events (their arrival meets an
// expectation of "any job webhook").
var jobEventNames = func() []string {
	var out []string
	for _, e := range pinwheel.Events {
		if e.Job != "" {
			out = append(out, e.Name)
		}
	}
	return out
}()

// maxExpectationFeed bounds the new rows one check turns into
// expectations; the rest wait for the next check.
const maxExpectationFeed = 5000

// maxExpectationCheck bounds the due expectations one check looks at; the
// alert counts all of them.
const maxExpectationCheck = 500

// ruleCursor returns a rule's position in the source it follows. The first
// time, it starts at the source's current end (top): expectations begin
// when the rule does, not with the whole history.
func ruleCursor(ctx context.Context, tx *sql.Tx, rule string, top func() (int64, error)) (int64, error) {
	c := int64(-1)
	err := tx.QueryRowContext(ctx, `SELECT cursor FROM alert_rule_state WHERE rule = ?`, rule).Scan(&c)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	if c >= 0 {
		return c, nil
	}
	t, err := top()
	if err != nil {
		return 0, err
	}
	return t, setRuleCursor(ctx, tx, rule, t)
}

func setRuleCursor(ctx context.Context, tx *sql.Tx, rule string, c int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO alert_rule_state (rule, cursor) VALUES (?, ?) ON CONFLICT (rule) DO UPDATE SET cursor = excluded.cursor`, rule, c)
	return err
}

// checkMissingLinkWebhooks turns new Link successes reported by launch
// pages into expectations, then looks at the ones that are due.
func checkMissingLinkWebhooks(ctx context.Context, s *Store, tx *sql.Tx, set AlertSettings, now time.Time) ([]Finding, error) {
	cur, err := ruleCursor(ctx, tx, RuleMissingLinkWebhooks, func() (int64, error) {
		var top int64
		err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM launch_events`).Scan(&top)
		return top, err
	})
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, name, account_id, COALESCE(link_token_id, ''), payload, at FROM launch_events WHERE id > ? ORDER BY id LIMIT ?`, cur, maxExpectationFeed)
	if err != nil {
		return nil, err
	}
	type success struct {
		id                       int64
		account, token, at, want string
	}
	var found []success
	next := cur
	for rows.Next() {
		var sc success
		var name, payload string
		if err := rows.Scan(&sc.id, &name, &sc.account, &sc.token, &payload, &sc.at); err != nil {
			rows.Close()
			return nil, err
		}
		next = sc.id
		if name != LinkEventSuccess || sc.token == "" {
			continue
		}
		var p struct {
			Job string `json:"job"`
		}
		_ = json.Unmarshal([]byte(payload), &p)
		sc.want = pinwheel.JobEvent(p.Job) // "" for login: any job webhook
		found = append(found, sc)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, sc := range found {
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_expectations (kind, source_ref, account_id, link_token_id, expect_event, since)
VALUES ('link_success', ?, ?, ?, ?, ?) ON CONFLICT (kind, source_ref) DO NOTHING`, sc.id, sc.account, sc.token, sc.want, sc.at); err != nil {
			return nil, err
		}
	}
	if err := setRuleCursor(ctx, tx, RuleMissingLinkWebhooks, next); err != nil {
		return nil, err
	}
	due := now.Add(-time.Duration(set.MissingLinkMinutes) * time.Minute)
	return checkExpectations(ctx, tx, "link_success", due, now, func(n int, wait time.Duration) (string, string) {
		return fmt.Sprintf("%d Link %s reported by launch pages had no job webhook after %s", n, word(n, "success", "successes"), minutes(set.MissingLinkMinutes)),
			fmt.Sprintf("%d waiting, the oldest for %s (threshold %s).", n, roundDuration(wait), minutes(set.MissingLinkMinutes))
	})
}

// checkMissingJobWebhooks turns new account.added events into
// expectations (one events_event range above the cursor), then looks at the
// ones that are due.
func checkMissingJobWebhooks(ctx context.Context, s *Store, tx *sql.Tx, set AlertSettings, now time.Time) ([]Finding, error) {
	// Never past an event that may still commit below one read now
	// (events_horizon.go).
	newest := func() (int64, error) { return s.newestEvent(ctx, tx) }
	cur, err := ruleCursor(ctx, tx, RuleMissingJobWebhooks, newest)
	if err != nil {
		return nil, err
	}
	top, err := newest()
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT e.id, COALESCE(a.account_id, ''), COALESCE(l.link_token_id, ''), e.received_at FROM events e
LEFT JOIN accounts a ON a.id = e.account_ref LEFT JOIN link_tokens_seen l ON l.id = e.link_token_ref
WHERE e.event = ? AND e.id > ? AND e.id <= ? ORDER BY e.id LIMIT ?`, pinwheel.EventAccountAdded, cur, top, maxExpectationFeed)
	if err != nil {
		return nil, err
	}
	type added struct {
		id                 int64
		account, token, at string
	}
	var found []added
	next := max(top, cur)
	for rows.Next() {
		var ad added
		if err := rows.Scan(&ad.id, &ad.account, &ad.token, &ad.at); err != nil {
			rows.Close()
			return nil, err
		}
		found = append(found, ad)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(found) == maxExpectationFeed {
		next = found[len(found)-1].id // more to read next time
	}
	for _, ad := range found {
		if ad.token == "" || ad.account == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_expectations (kind, source_ref, account_id, link_token_id, since)
VALUES ('account_added', ?, ?, ?, ?) ON CONFLICT (kind, source_ref) DO NOTHING`, ad.id, ad.account, ad.token, ad.at); err != nil {
			return nil, err
		}
	}
	if err := setRuleCursor(ctx, tx, RuleMissingJobWebhooks, next); err != nil {
		return nil, err
	}
	due := now.Add(-time.Duration(set.MissingJobHours) * time.Hour)
	return checkExpectations(ctx, tx, "account_added", due, now, func(n int, wait time.Duration) (string, string) {
		return fmt.Sprintf("%d %s added with no job webhook after %d h", n, word(n, "account was", "accounts were"), set.MissingJobHours),
			fmt.Sprintf("%d waiting, the oldest for %s (threshold %d h).", n, roundDuration(wait), set.MissingJobHours)
	})
}

// checkExpectations looks at the due expectations of kind (the oldest
// maxExpectationCheck): one that has its webhook now is deleted; the rest
// are the finding. Each is an index probe: the Link token's events through
// events_link_token.
func checkExpectations(ctx context.Context, tx *sql.Tx, kind string, due, now time.Time, words func(n int, wait time.Duration) (subject, summary string)) ([]Finding, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, account_id, link_token_id, expect_event, since FROM webhook_expectations
WHERE kind = ? AND dismissed_at IS NULL AND since <= ? ORDER BY since, id LIMIT ?`, kind, FormatTime(due), maxExpectationCheck)
	if err != nil {
		return nil, err
	}
	type exp struct {
		id                          int64
		account, token, want, since string
	}
	var list []exp
	for rows.Next() {
		var e exp
		if err := rows.Scan(&e.id, &e.account, &e.token, &e.want, &e.since); err != nil {
			rows.Close()
			return nil, err
		}
		list = append(list, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	names := make([]any, len(jobEventNames))
	for i, n := range jobEventNames {
		names[i] = n
	}
	// The unary + keeps SQLite off events_event (a range of every event of
	// that name) and on events_link_token (the session's few events).
	metSQL := `SELECT COUNT(*) FROM events e WHERE e.link_token_ref = (SELECT id FROM link_tokens_seen WHERE link_token_id = ?) AND +e.event IN (` + placeholders(len(names)) + `)`
	var open []exp
	for _, e := range list {
		var n int
		args := []any{e.token}
		if e.want != "" {
			err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM events e WHERE e.link_token_ref = (SELECT id FROM link_tokens_seen WHERE link_token_id = ?) AND +e.event = ?`, e.token, e.want).Scan(&n)
		} else {
			err = tx.QueryRowContext(ctx, metSQL, append(args, names...)...).Scan(&n)
		}
		if err != nil {
			return nil, err
		}
		if n > 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_expectations WHERE id = ?`, e.id); err != nil {
				return nil, err
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_expectations SET checked_at = ? WHERE id = ?`, FormatTime(now), e.id); err != nil {
			return nil, err
		}
		open = append(open, e)
	}
	if len(open) == 0 {
		return nil, nil
	}
	total, err := countUpTo(ctx, tx, `SELECT 1 FROM webhook_expectations WHERE kind = ? AND dismissed_at IS NULL AND since <= ?`, kind, FormatTime(due))
	if err != nil {
		return nil, err
	}
	subject, summary := words(total, now.Sub(ParseTime(open[0].since)))
	ev := AlertEvidence{Value: float64(total), Summary: summary}
	for _, e := range open {
		if len(ev.Items) == maxEvidenceItems {
			break
		}
		label := "Link session " + ShortToken(e.token)
		if e.want != "" {
			label += ": no " + e.want
		}
		ev.Items = append(ev.Items, EvidenceItem{Kind: EvidenceAccount, ID: e.account, Label: label, At: ParseTime(e.since)})
	}
	ev.More = total - len(ev.Items)
	return []Finding{{Subject: subject, Evidence: ev}}, nil
}

// ShortToken shortens a Link token id for labels.
func ShortToken(id string) string {
	if len(id) > 8 {
		return id[:8] + "…"
	}
	return id
}

// ExpectationAccounts lists the accounts of the open expectations behind a
// missing-webhook alert (at most limit): what "reconcile the subjects"
// reconciles.
func (s *Store) ExpectationAccounts(ctx context.Context, rule string, limit int) ([]string, error) {
	kind := expectationKindOf(rule)
	if kind == "" {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT DISTINCT account_id FROM (SELECT account_id FROM webhook_expectations
WHERE kind = ? AND dismissed_at IS NULL AND checked_at IS NOT NULL ORDER BY since LIMIT ?) x`, kind, limit)
	if err != nil {
		return nil, fmt.Errorf("db: expectation accounts: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// ---- data fetches ----

// retryingAttempts is when a fetch still retrying counts as failing.
const retryingAttempts = 3

// checkFetchFailing counts fetches that gave up within the window (a range
// of the jobs_failed index) and those still retrying after
// retryingAttempts attempts (among the pending jobs, a bounded read).
func checkFetchFailing(ctx context.Context, s *Store, tx *sql.Tx, set AlertSettings, now time.Time) ([]Finding, error) {
	kinds := make([]any, len(FetchJobKinds))
	for i, k := range FetchJobKinds {
		kinds[i] = k
	}
	in := placeholders(len(kinds))
	since := FormatTime(now.Add(-time.Duration(set.FetchFailWindowMinutes) * time.Minute))
	failed, err := countUpTo(ctx, tx, `SELECT 1 FROM jobs WHERE state = 'failed' AND updated_at >= ? AND kind IN (`+in+`)`, append([]any{since}, kinds...)...)
	if err != nil {
		return nil, err
	}
	retrying, err := countUpTo(ctx, tx, `SELECT 1 FROM jobs WHERE state IN ('queued', 'running') AND kind IN (`+in+`) AND attempts >= ?`, append(kinds, retryingAttempts)...)
	if err != nil {
		return nil, err
	}
	n := failed + retrying
	if n < set.FetchFailThreshold {
		return nil, nil
	}
	ev := AlertEvidence{Value: float64(n), Threshold: float64(set.FetchFailThreshold),
		Summary: fmt.Sprintf("%s gave up in the last %s, %s still retrying after %d attempts (threshold %d).", atLeast(failed), minutes(set.FetchFailWindowMinutes), atLeast(retrying), retryingAttempts, set.FetchFailThreshold)}
	rows, err := tx.QueryContext(ctx, `SELECT * FROM (
  SELECT id, kind, COALESCE(dedupe_key, ''), COALESCE(last_error, ''), updated_at FROM jobs WHERE state = 'failed' AND updated_at >= ? AND kind IN (`+in+`) ORDER BY updated_at DESC LIMIT ?) f
UNION ALL SELECT * FROM (
  SELECT id, kind, COALESCE(dedupe_key, ''), COALESCE(last_error, ''), updated_at FROM jobs WHERE state IN ('queued', 'running') AND kind IN (`+in+`) AND attempts >= ? LIMIT ?) r`,
		append(append(append([]any{since}, kinds...), maxEvidenceItems/2), append(kinds, retryingAttempts, maxEvidenceItems/2)...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var kind, key, lastErr, at string
		if err := rows.Scan(&id, &kind, &key, &lastErr, &at); err != nil {
			return nil, err
		}
		ev.Items = append(ev.Items, EvidenceItem{Kind: EvidenceAccount, ID: key,
			Label: strings.TrimPrefix(kind, fetchJobPrefix) + " fetch: " + truncate(lastErr, 120), At: ParseTime(at)})
	}
	ev.More = n - len(ev.Items)
	return []Finding{{Subject: fmt.Sprintf("%s data %s failing (%s gave up in %s, %s retrying)", atLeast(n), word(n, "fetch", "fetches"), atLeast(failed), minutes(set.FetchFailWindowMinutes), atLeast(retrying)), Evidence: ev}}, rows.Err()
}

// stuckJobs reads the pending jobs of kinds that fell due before cutoff and
// still have not run: a range of jobs_kind_due per kind that is empty while
// workers keep up.
func stuckJobs(ctx context.Context, tx *sql.Tx, kinds []string, cutoff time.Time) (int, []EvidenceItem, error) {
	args := []any{FormatTime(cutoff)}
	for _, k := range kinds {
		args = append(args, k)
	}
	where := `state IN ('queued', 'running') AND run_at <= ? AND kind IN (` + placeholders(len(kinds)) + `)`
	n, err := countUpTo(ctx, tx, `SELECT 1 FROM jobs WHERE `+where, args...)
	if err != nil {
		return 0, nil, err
	}
	if n == 0 {
		return 0, nil, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, kind, COALESCE(dedupe_key, ''), run_at, attempts FROM jobs WHERE `+where+` ORDER BY run_at, id LIMIT ?`, append(args, maxEvidenceItems)...)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	var items []EvidenceItem
	for rows.Next() {
		var id int64
		var kind, key, at string
		var attempts int
		if err := rows.Scan(&id, &kind, &key, &at, &attempts); err != nil {
			return 0, nil, err
		}
		it := EvidenceItem{Kind: EvidenceJob, ID: strconv.FormatInt(id, 10), Label: fmt.Sprintf("%s job %d, %d attempts", kind, id, attempts), At: ParseTime(at)}
		if strings.HasPrefix(kind, fetchJobPrefix) {
			it = EvidenceItem{Kind: EvidenceAccount, ID: key, Label: fmt.Sprintf("%s fetch, due since then, %d attempts", strings.TrimPrefix(kind, fetchJobPrefix), attempts), At: ParseTime(at)}
		}
		items = append(items, it)
	}
	return n, items, rows.Err()
}

// checkFetchStuck finds fetches due for longer than the threshold.
func checkFetchStuck(ctx context.Context, s *Store, tx *sql.Tx, set AlertSettings, now time.Time) ([]Finding, error) {
	n, items, err := stuckJobs(ctx, tx, FetchJobKinds, now.Add(-time.Duration(set.FetchStuckMinutes)*time.Minute))
	if err != nil || n == 0 {
		return nil, err
	}
	ev := AlertEvidence{Value: float64(n), Threshold: float64(set.FetchStuckMinutes), Items: items, More: n - len(items),
		Summary: fmt.Sprintf("%s due for over %s without a worker running them: is the job runner stopped, or Pinwheel unreachable?", atLeast(n), minutes(set.FetchStuckMinutes))}
	return []Finding{{Subject: fmt.Sprintf("%s data %s waiting over %s to run", atLeast(n), word(n, "fetch", "fetches"), minutes(set.FetchStuckMinutes)), Evidence: ev}}, nil
}

// ---- a platform going bad ----

// checkPlatformDegraded compares, per platform with enough accounts, the
// accounts that left active within 24 hours and are still not back (ranges
// of accounts_waiting_platform) with all its accounts (the counters).
func checkPlatformDegraded(ctx context.Context, s *Store, tx *sql.Tx, set AlertSettings, now time.Time) ([]Finding, error) {
	rows, err := tx.QueryContext(ctx, `SELECT c.platform_id, COALESCE(MAX(f.label), ''), SUM(c.n) FROM platform_status_counts c
LEFT JOIN account_facet_counts f ON f.facet = 'platform' AND f.value = c.platform_id
WHERE c.platform_id <> '' AND c.monitoring_status <> '' GROUP BY c.platform_id HAVING SUM(c.n) >= ?`, set.PlatformMinAccounts)
	if err != nil {
		return nil, err
	}
	type plat struct {
		id, name string
		total    int64
	}
	var plats []plat
	for rows.Next() {
		var p plat
		if err := rows.Scan(&p.id, &p.name, &p.total); err != nil {
			rows.Close()
			return nil, err
		}
		plats = append(plats, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	since := FormatTime(now.Add(-24 * time.Hour))
	var out []Finding
	for _, p := range plats {
		var left int64
		for _, st := range WaitingStatuses {
			var n int64
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE platform_id = ? AND monitoring_status = ? AND monitoring_status <> 'active' AND status_since >= ?`,
				p.id, st, since).Scan(&n); err != nil {
				return nil, err
			}
			left += n
		}
		share := float64(left) * 100 / float64(p.total)
		if left < int64(set.PlatformMinAccounts) || share < float64(set.PlatformSharePercent) {
			continue
		}
		name := stringOr(p.name, p.id)
		ev := AlertEvidence{Value: share, Threshold: float64(set.PlatformSharePercent),
			Summary: fmt.Sprintf("%d of %d accounts (%.0f%%) left active in the last 24 hours and are not back (threshold %d%%, at least %d accounts).",
				left, p.total, share, set.PlatformSharePercent, set.PlatformMinAccounts),
			Items: []EvidenceItem{{Kind: EvidencePlatform, ID: p.id, Label: name + ": accounts not active"}}}
		acc, err := tx.QueryContext(ctx, `SELECT account_id, monitoring_status, status_since FROM accounts
WHERE platform_id = ? AND monitoring_status IN (`+placeholders(len(WaitingStatuses))+`) AND monitoring_status <> 'active' AND status_since >= ?
ORDER BY status_since DESC LIMIT ?`, append(append([]any{p.id}, anySlice(WaitingStatuses)...), since, maxEvidenceItems-1)...)
		if err != nil {
			return nil, err
		}
		for acc.Next() {
			var id, st, at string
			if err := acc.Scan(&id, &st, &at); err != nil {
				acc.Close()
				return nil, err
			}
			ev.Items = append(ev.Items, EvidenceItem{Kind: EvidenceAccount, ID: id, Label: st, At: ParseTime(at)})
		}
		acc.Close()
		if err := acc.Err(); err != nil {
			return nil, err
		}
		ev.More = int(left) - (len(ev.Items) - 1)
		out = append(out, Finding{Scope: p.id, Evidence: ev,
			Subject: fmt.Sprintf("%s: %d of %d accounts (%.0f%%) left active in the last 24 hours", name, left, p.total, share)})
	}
	return out, nil
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// ---- the audit chain ----

// AuditChainCheck is one check of the audit trail's hash chain.
type AuditChainCheck struct {
	ID          int64
	CheckedAt   time.Time
	OK          bool
	RowsChecked int
	BrokenAt    int64
	Reason      string
}

// RecordAuditChainCheck stores the result of a check of the audit chain:
// the seam between whoever checks the chain (VerifyNow: the daily job,
// Verify now on /audit) and the audit-chain alert rule, which reads the
// newest row.
func (s *Store) RecordAuditChainCheck(ctx context.Context, c AuditChainCheck) error {
	if c.CheckedAt.IsZero() {
		c.CheckedAt = s.now()
	}
	var broken any
	if c.BrokenAt > 0 {
		broken = c.BrokenAt
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO audit_chain_checks (checked_at, ok, rows_checked, broken_at, reason) VALUES (?, ?, ?, ?, ?)`,
			FormatTime(c.CheckedAt), boolInt(c.OK), c.RowsChecked, broken, truncate(c.Reason, 500))
		return err
	})
}

// checkAuditChain reads the newest chain check.
func checkAuditChain(ctx context.Context, s *Store, tx *sql.Tx, set AlertSettings, now time.Time) ([]Finding, error) {
	var c AuditChainCheck
	var at string
	var broken sql.NullInt64
	err := tx.QueryRowContext(ctx, `SELECT id, checked_at, ok, rows_checked, broken_at, reason FROM audit_chain_checks ORDER BY id DESC LIMIT 1`).
		Scan(&c.ID, &at, &c.OK, &c.RowsChecked, &broken, &c.Reason)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil || c.OK {
		return nil, err
	}
	c.CheckedAt, c.BrokenAt = ParseTime(at), broken.Int64
	ev := AlertEvidence{Value: float64(c.BrokenAt),
		Summary: fmt.Sprintf("The check of %s found the chain broken at row %d: %s. Someone or something changed the audit trail; compare with a backup.",
			c.CheckedAt.Format(time.RFC3339), c.BrokenAt, c.Reason),
		Items: []EvidenceItem{{Kind: EvidenceCheck, ID: strconv.FormatInt(c.BrokenAt, 10), Label: fmt.Sprintf("audit row %d", c.BrokenAt), At: c.CheckedAt}}}
	return []Finding{{Subject: fmt.Sprintf("The audit trail's hash chain is broken at row %d", c.BrokenAt), Evidence: ev}}, nil
}

// ---- bulk jobs ----

// checkBulkStuck finds reconnect batches that made no progress for the
// threshold (reconnect_batches_state), and bulk jobs due that long without
// running (jobs_kind_due).
func checkBulkStuck(ctx context.Context, s *Store, tx *sql.Tx, set AlertSettings, now time.Time) ([]Finding, error) {
	cutoff := now.Add(-time.Duration(set.BulkStuckMinutes) * time.Minute)
	rows, err := tx.QueryContext(ctx, `SELECT id, state, created + skipped, total, updated_at FROM reconnect_batches
WHERE state IN ('queued', 'running') AND updated_at <= ? ORDER BY updated_at LIMIT ?`, FormatTime(cutoff), maxEvidenceItems)
	if err != nil {
		return nil, err
	}
	var items []EvidenceItem
	for rows.Next() {
		var id int64
		var state, at string
		var done, total int
		if err := rows.Scan(&id, &state, &done, &total, &at); err != nil {
			rows.Close()
			return nil, err
		}
		items = append(items, EvidenceItem{Kind: EvidenceBatch, ID: strconv.FormatInt(id, 10),
			Label: fmt.Sprintf("reconnect batch %d, %s, %d of %d done, no progress since then", id, state, done, total), At: ParseTime(at)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	n, jobs, err := stuckJobs(ctx, tx, BulkJobKinds, cutoff)
	if err != nil {
		return nil, err
	}
	stuck := len(items)
	for _, j := range jobs {
		if len(items) < maxEvidenceItems {
			items = append(items, j)
		}
	}
	total := stuck + n
	if total == 0 {
		return nil, nil
	}
	ev := AlertEvidence{Value: float64(total), Threshold: float64(set.BulkStuckMinutes), Items: items, More: max(0, total-len(items)),
		Summary: fmt.Sprintf("%d bulk %s without progress for over %s.", total, word(total, "job", "jobs"), minutes(set.BulkStuckMinutes))}
	return []Finding{{Subject: fmt.Sprintf("%d bulk %s stuck for over %s", total, word(total, "job", "jobs"), minutes(set.BulkStuckMinutes)), Evidence: ev}}, nil
}

// ---- counting ----

// countCap bounds what a rule counts: past it, the figure reads "10000 or
// more", and a flood (a million failed fetches in the window) costs a
// check no more than ten thousand index entries.
const countCap = 10_000

// countUpTo counts the rows of query (a SELECT 1 …), at most countCap.
func countUpTo(ctx context.Context, tx *sql.Tx, query string, args ...any) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM (`+query+` LIMIT `+strconv.Itoa(countCap)+`) x`, args...).Scan(&n)
	return n, err
}

// atLeast words a capped count.
func atLeast(n int) string {
	if n >= countCap {
		return strconv.Itoa(countCap) + " or more"
	}
	return strconv.Itoa(n)
}

// ---- words ----

func minutes(n int) string {
	switch {
	case n%1440 == 0:
		return fmt.Sprintf("%d d", n/1440)
	case n%60 == 0:
		return fmt.Sprintf("%d h", n/60)
	}
	return fmt.Sprintf("%d min", n)
}

func roundDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d d", int(d.Hours()/24))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d h", int(d.Hours()))
	case d >= time.Minute:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	}
	return fmt.Sprintf("%d s", int(d.Seconds()))
}

// word is one or many as n asks (the number is written apart).
func word(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// RuleChecks returns when each rule was last checked.
func (s *Store) RuleChecks(ctx context.Context) (map[string]time.Time, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT rule, checked_at FROM alert_rule_state WHERE checked_at IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("db: rule checks: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var rule, at string
		if err := rows.Scan(&rule, &at); err != nil {
			return nil, fmt.Errorf("db: rule checks: %w", err)
		}
		out[rule] = ParseTime(at)
	}
	return out, rows.Err()
}

// AlertSubjects are the accounts behind an alert, for "reconcile the
// subjects": the open expectations of a missing-webhook rule (up to
// MaxReconcileMany), else the accounts its evidence lists.
func (s *Store) AlertSubjects(ctx context.Context, a Alert) ([]string, error) {
	if !a.Active() {
		return nil, nil
	}
	if expectationKindOf(a.Rule) != "" {
		return s.ExpectationAccounts(ctx, a.Rule, MaxReconcileMany)
	}
	var out []string
	for _, it := range a.Evidence.Items {
		if it.Kind == EvidenceAccount && it.ID != "" {
			out = append(out, it.ID)
		}
	}
	return sortedUniq(out), nil
}
