package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"linkdesk/pinwheel"
)

// Reconciliation: when webhooks went missing, read the account and its
// jobs from Pinwheel's API and fill in what they left out. The worker
// (worker.Reconciles) reads the API; PlanReconcile compares what it read
// with what Linkdesk has and returns the events to write, each built as
// the webhook Pinwheel would have sent and marked reconciled
// (Delivery.Reconciled, events.origin): they go through the ingestion code
// like any delivery, so every projection (the account, its jobs, the
// expectations of the alert rules, the fetches after them) is the same,
// and the timeline shows them as reconciled rather than received. Their
// event ids derive from what they describe, so a reconcile run twice
// writes nothing twice. A run Pinwheel refused changes nothing but its own
// row and the audit trail.

// JobReconcile is the job kind that reconciles one account.
const JobReconcile = "account.reconcile"

// Reconcile run states.
const (
	ReconcileQueued  = "queued"
	ReconcileRunning = "running"
	ReconcileDone    = "done"
	ReconcileRefused = "refused"
	ReconcileFailed  = "failed"
)

// MaxReconcileMany bounds the accounts one bulk reconcile queues.
const MaxReconcileMany = 500

// ReconcilePayload is the payload of a JobReconcile job.
type ReconcilePayload struct {
	RunID int64 `json:"run_id"`
}

// ReconciledEvent is one event a reconcile wrote.
type ReconciledEvent struct {
	EventID string `json:"event_id"`
	Event   string `json:"event"`
	// What says what it filled in, for people.
	What string `json:"what"`
}

// ReconcileResult is what a reconcile did.
type ReconcileResult struct {
	// Status is the monitoring status Pinwheel reported.
	Status string            `json:"status"`
	Filled []ReconciledEvent `json:"filled"`
	// Fetches are the data fetches queued because Pinwheel holds newer
	// data than Linkdesk's latest snapshot.
	Fetches []string `json:"fetches"`
	// JobsRead is how many jobs the API listed for the account.
	JobsRead int `json:"jobs_read"`
}

// Nothing reports whether the reconcile found nothing missing.
func (r ReconcileResult) Nothing() bool { return len(r.Filled) == 0 && len(r.Fetches) == 0 }

// ReconcileRun is one reconciliation of one account.
type ReconcileRun struct {
	ID          int64
	AccountID   string
	AlertID     int64
	RequestedBy string // staff name
	State       string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	FinishedAt  time.Time
	Result      ReconcileResult
	Error       string
}

// Finished reports whether the run has ended.
func (r ReconcileRun) Finished() bool {
	return r.State != ReconcileQueued && r.State != ReconcileRunning
}

// ErrReconcilePending means a reconcile of the account is already queued
// or running.
var ErrReconcilePending = errors.New("db: a reconcile of this account is already under way")

// RequestReconcile queues a reconcile of one account (known to Linkdesk:
// from a webhook or a launch link), audited as a's; alertID ties it to the
// alert it answers (0 for none).
func (s *Store) RequestReconcile(ctx context.Context, a Actor, accountID string, alertID int64) (ReconcileRun, error) {
	var id int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		id, err = s.requestReconcile(ctx, tx, a, accountID, alertID)
		return err
	})
	if err != nil {
		return ReconcileRun{}, fmt.Errorf("db: request reconcile of %s: %w", accountID, err)
	}
	return s.ReconcileRunByID(ctx, id)
}

// RequestReconcileMany queues reconciles of several accounts (an alert's
// subjects) in one transaction, skipping those already under way, and
// returns how many it queued.
func (s *Store) RequestReconcileMany(ctx context.Context, a Actor, accountIDs []string, alertID int64) (int, error) {
	ids := sortedUniq(accountIDs)
	if len(ids) > MaxReconcileMany {
		ids = ids[:MaxReconcileMany]
	}
	n := 0
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, acc := range ids {
			_, err := s.requestReconcile(ctx, tx, a, acc, alertID)
			switch {
			case errors.Is(err, ErrReconcilePending), errors.Is(err, ErrNotFound):
				continue
			case err != nil:
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("db: request reconciles: %w", err)
	}
	return n, nil
}

func (s *Store) requestReconcile(ctx context.Context, tx *sql.Tx, a Actor, accountID string, alertID int64) (int64, error) {
	if a.StaffID == 0 {
		return 0, errors.New("no staff member")
	}
	var known int
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM accounts WHERE account_id = ?) + (SELECT COUNT(*) FROM (SELECT 1 FROM link_tokens WHERE account_id = ? LIMIT 1) x)`,
		accountID, accountID).Scan(&known); err != nil {
		return 0, err
	}
	if known == 0 {
		return 0, ErrNotFound
	}
	now := FormatTime(s.now())
	var alert any
	if alertID > 0 {
		alert = alertID
	}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO reconcile_runs (account_id, alert_id, requested_by, state, created_at, updated_at)
VALUES (?, ?, ?, 'queued', ?, ?) RETURNING id`, accountID, alert, a.StaffID, now, now).Scan(&id)
	if err != nil {
		if s.d.isUnique(err) {
			return 0, ErrReconcilePending
		}
		return 0, err
	}
	detail := map[string]any{"run": id}
	if alertID > 0 {
		detail["alert"] = alertID
	}
	if err := s.appendAudit(ctx, tx, a, ActionReconcileRequested, "account", accountID, detail); err != nil {
		return 0, err
	}
	_, err = s.enqueueJob(ctx, tx, NewJob{Kind: JobReconcile, Payload: ReconcilePayload{RunID: id}})
	return id, err
}

const runColumns = `r.id, r.account_id, COALESCE(r.alert_id, 0), COALESCE(st.name, ''), r.state, r.created_at, r.updated_at,
  COALESCE(r.finished_at, ''), COALESCE(r.result, ''), COALESCE(r.error, '')`

const runFrom = ` FROM reconcile_runs r LEFT JOIN staff st ON st.id = r.requested_by`

func scanRun(sc interface{ Scan(...any) error }) (ReconcileRun, error) {
	var r ReconcileRun
	var created, updated, finished, result string
	err := sc.Scan(&r.ID, &r.AccountID, &r.AlertID, &r.RequestedBy, &r.State, &created, &updated, &finished, &result, &r.Error)
	if err != nil {
		return r, err
	}
	r.CreatedAt, r.UpdatedAt, r.FinishedAt = ParseTime(created), ParseTime(updated), ParseTime(finished)
	if result != "" {
		_ = json.Unmarshal([]byte(result), &r.Result)
	}
	return r, nil
}

// ReconcileRunByID returns one run.
func (s *Store) ReconcileRunByID(ctx context.Context, id int64) (ReconcileRun, error) {
	r, err := scanRun(s.r.QueryRowContext(ctx, `SELECT `+runColumns+runFrom+` WHERE r.id = ?`, id))
	if err != nil {
		return r, fmt.Errorf("db: reconcile run %d: %w", id, notFound(err))
	}
	return r, nil
}

func (s *Store) runs(ctx context.Context, where string, arg any, limit int) ([]ReconcileRun, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+runColumns+runFrom+` WHERE `+where+` ORDER BY r.id DESC LIMIT ?`, arg, limit)
	if err != nil {
		return nil, fmt.Errorf("db: reconcile runs: %w", err)
	}
	defer rows.Close()
	var out []ReconcileRun
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("db: reconcile runs: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// AccountReconcileRuns lists an account's latest runs, newest first.
func (s *Store) AccountReconcileRuns(ctx context.Context, accountID string) ([]ReconcileRun, error) {
	return s.runs(ctx, `r.account_id = ?`, accountID, 5)
}

// AlertReconcileRuns lists the runs asked for from an alert, newest first.
func (s *Store) AlertReconcileRuns(ctx context.Context, alertID int64) ([]ReconcileRun, error) {
	return s.runs(ctx, `r.alert_id = ?`, alertID, 100)
}

// ReconcileLocal is what Linkdesk knows about an account, as a reconcile
// compares it with the API.
type ReconcileLocal struct {
	AccountID string
	// Known: the account has a row (some webhook named it).
	Known bool
	// Added: its account.added arrived (the platform is known).
	Added  bool
	Status string
	// Jobs is the time of the latest outcome per job name.
	Jobs map[string]time.Time
	// Snapshots is the time of the latest snapshot per data kind (its
	// refreshed_at when Pinwheel gave one, else when it was fetched); for
	// paystubs and shifts, of the latest fetch of pay data (pay_sync).
	Snapshots map[string]time.Time
}

// StartReconcile marks a queued run running and returns it with the staff
// member who asked (the reconcile is theirs) and the account as Linkdesk
// knows it. A run already finished returns ErrReconcileDone.
func (s *Store) StartReconcile(ctx context.Context, runID int64) (ReconcileRun, Actor, ReconcileLocal, error) {
	var a Actor
	l := ReconcileLocal{Jobs: map[string]time.Time{}, Snapshots: map[string]time.Time{}}
	run, err := s.ReconcileRunByID(ctx, runID)
	if err != nil {
		return run, a, l, err
	}
	if run.Finished() {
		return run, a, l, ErrReconcileDone
	}
	l.AccountID = run.AccountID
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE reconcile_runs SET state = 'running', updated_at = ? WHERE id = ? AND state = 'queued'`, FormatTime(s.now()), runID); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT st.id, st.email FROM reconcile_runs r JOIN staff st ON st.id = r.requested_by WHERE r.id = ?`, runID).
			Scan(&a.StaffID, &a.Email); err != nil {
			return err
		}
		var ref int64
		var platform sql.NullString
		var status sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT id, platform_id, monitoring_status FROM accounts WHERE account_id = ?`, run.AccountID).Scan(&ref, &platform, &status)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		l.Known, l.Added, l.Status = true, platform.Valid && platform.String != "", status.String
		rows, err := tx.QueryContext(ctx, `SELECT job, at FROM account_jobs WHERE account_ref = ?`, ref)
		if err != nil {
			return err
		}
		for rows.Next() {
			var job, at string
			if err := rows.Scan(&job, &at); err != nil {
				rows.Close()
				return err
			}
			l.Jobs[job] = ParseTime(at)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, kind := range FetchKinds {
			var at string
			q := `SELECT COALESCE(refreshed_at, fetched_at) FROM data_snapshots WHERE account_ref = ? AND kind = ? ORDER BY id DESC LIMIT 1`
			if isPayKind(kind) {
				q = `SELECT COALESCE(last_refreshed_at, last_fetched_at) FROM pay_sync WHERE account_ref = ? AND kind = ? AND last_fetched_at IS NOT NULL`
			}
			err := tx.QueryRowContext(ctx, q, ref, kind).Scan(&at)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			l.Snapshots[kind] = ParseTime(at)
		}
		return nil
	})
	if err != nil {
		return run, a, l, fmt.Errorf("db: start reconcile %d: %w", runID, err)
	}
	a.UserAgent = "job " + JobReconcile
	return run, a, l, nil
}

// ErrReconcileDone means the run has already finished.
var ErrReconcileDone = errors.New("db: reconcile already finished")

// ReconcilePlan is what a reconcile will write.
type ReconcilePlan struct {
	// Deliveries are the events to write, built as Pinwheel's webhooks
	// and marked reconciled, in the order to ingest them.
	Deliveries []Delivery
	Result     ReconcileResult
}

// reconciledEventID derives the event id of a reconciled event from what
// it describes, so that the same fact is never written twice.
func reconciledEventID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return "reconciled-" + hex.EncodeToString(h.Sum(nil))[:32]
}

// reconciledDelivery builds the delivery of a reconciled event.
func reconciledDelivery(id, event string, payload any, now time.Time) (Delivery, error) {
	body, err := json.Marshal(map[string]any{"event_id": id, "event": event, "payload": payload})
	if err != nil {
		return Delivery{}, err
	}
	d, err := ParseDelivery(body)
	if err != nil {
		return Delivery{}, err
	}
	d.ReceivedAt, d.Reconciled = now, true
	return d, nil
}

// accountPayload is the account.added / monitoring payload a reconcile
// writes: the fields of the account as the API returned them.
type accountPayload struct {
	CreatedAt        string `json:"created_at,omitempty"`
	LinkTokenID      string `json:"link_token_id,omitempty"`
	PlatformID       string `json:"platform_id"`
	Connected        bool   `json:"connected"`
	MonitoringStatus string `json:"monitoring_status"`
	EndUserID        string `json:"end_user_id,omitempty"`
	AccountID        string `json:"account_id"`
	PlatformName     string `json:"platform_name,omitempty"`
}

// jobPayload is a job event's payload as a reconcile writes it.
type jobPayload struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Timestamp   string          `json:"timestamp"`
	Outcome     string          `json:"outcome"`
	ErrorCode   *string         `json:"error_code"`
	ErrorType   *string         `json:"error_type"`
	LinkTokenID string          `json:"link_token_id,omitempty"`
	Params      json.RawMessage `json:"params,omitempty"`
	AccountID   string          `json:"account_id"`
	EndUserID   string          `json:"end_user_id,omitempty"`
	PlatformID  string          `json:"platform_id,omitempty"`
}

// PlanReconcile compares the account and jobs read from the API with what
// Linkdesk has (local) and returns what to write: account.added when it
// never arrived, a monitoring update when the status differs, the latest
// job event of every job whose outcome Linkdesk lacks or holds older, and
// the data fetches Pinwheel holds newer data for. platformName names the
// platform (the API's account has only its id). Pure, for table tests.
func PlanReconcile(local ReconcileLocal, acc pinwheel.Account, jobs []pinwheel.Job, platformName string, now time.Time) (ReconcilePlan, error) {
	var p ReconcilePlan
	p.Result.Status, p.Result.JobsRead = acc.MonitoringStatus, len(jobs)
	base := accountPayload{LinkTokenID: acc.LinkTokenID, PlatformID: acc.PlatformID, Connected: acc.Connected,
		MonitoringStatus: acc.MonitoringStatus, EndUserID: acc.EndUserID, AccountID: acc.ID, PlatformName: platformName}
	if !acc.CreatedAt.IsZero() {
		base.CreatedAt = acc.CreatedAt.UTC().Format("2006-01-02T15:04:05.000000+00:00")
	}
	add := func(event, what string, payload any, parts ...string) error {
		id := reconciledEventID(append([]string{acc.ID, event}, parts...)...)
		d, err := reconciledDelivery(id, event, payload, now)
		if err != nil {
			return err
		}
		p.Deliveries = append(p.Deliveries, d)
		p.Result.Filled = append(p.Result.Filled, ReconciledEvent{EventID: id, Event: event, What: what})
		return nil
	}
	if !local.Added {
		if err := add(pinwheel.EventAccountAdded, "the account's login (platform, creation, status)", base, acc.LinkTokenID); err != nil {
			return p, err
		}
	} else if acc.MonitoringStatus != "" && acc.MonitoringStatus != local.Status {
		if err := add(pinwheel.EventMonitoringStatusUpdated, "monitoring status "+acc.MonitoringStatus, base, acc.MonitoringStatus, now.Format(time.RFC3339)); err != nil {
			return p, err
		}
	}

	// The newest job of each name, oldest name first (by name at the same
	// time: the order of the plan does not depend on the map's).
	latest := map[string]pinwheel.Job{}
	for _, j := range jobs {
		if cur, ok := latest[j.Name]; !ok || j.Timestamp.After(cur.Timestamp.Time) {
			latest[j.Name] = j
		}
	}
	names := make([]string, 0, len(latest))
	for n := range latest {
		names = append(names, n)
	}
	sort.Slice(names, func(i, k int) bool {
		a, b := latest[names[i]].Timestamp.Time, latest[names[k]].Timestamp.Time
		return a.Before(b) || a.Equal(b) && names[i] < names[k]
	})
	fetching := map[string]bool{}
	for _, name := range names {
		j := latest[name]
		event := pinwheel.JobEvent(name)
		if event == "" || j.Timestamp.IsZero() {
			continue
		}
		if at, ok := local.Jobs[name]; ok && !at.Before(j.Timestamp.UTC()) {
			continue
		}
		jp := jobPayload{ID: j.ID, Name: j.Name, Timestamp: j.Timestamp.UTC().Format("2006-01-02T15:04:05.000000+00:00"), Outcome: j.Outcome,
			ErrorCode: j.ErrorCode, ErrorType: j.ErrorType, LinkTokenID: j.LinkTokenID, Params: j.Params,
			AccountID: acc.ID, EndUserID: acc.EndUserID, PlatformID: stringOr(j.PlatformID, acc.PlatformID)}
		if err := add(event, name+" "+j.Outcome, jp, j.ID, j.Outcome, jp.Timestamp); err != nil {
			return p, err
		}
		if k := pinwheel.FetchAfter(event, j.Outcome); k != "" {
			fetching[k] = true
		}
	}
	for _, kind := range FetchKinds {
		// A filled paystubs or shifts event names no ids (the API's job
		// does not list them), so its fetch would read nothing: pay data
		// is decided by its time alone, and read whole (FinishReconcile).
		if kind == FetchAccount || fetching[kind] && !isPayKind(kind) {
			continue
		}
		updated, ok := acc.DataUpdatedAt[kind]
		if !ok || updated.IsZero() {
			continue
		}
		if have, ok := local.Snapshots[kind]; ok && !have.Before(updated.UTC()) {
			continue
		}
		p.Result.Fetches = append(p.Result.Fetches, kind)
	}
	return p, nil
}

// isPayKind reports whether a fetch kind is pay data (pay_items and
// pay_sync rather than data_snapshots).
func isPayKind(kind string) bool { return kind == FetchPaystubs || kind == FetchShifts }

// KnownEvents returns which of the event ids are stored already.
func (s *Store) KnownEvents(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 200)]
		ids = ids[len(chunk):]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.r.QueryContext(ctx, `SELECT event_id FROM events WHERE event_id IN (`+placeholders(len(chunk))+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("db: known events: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// FinishReconcile records a run done, queues the data fetches it found
// due, and audits what it filled in, as a's, in one transaction. The
// reconciled events themselves were ingested before (they are events).
func (s *Store) FinishReconcile(ctx context.Context, a Actor, runID int64, res ReconcileResult) error {
	run, err := s.ReconcileRunByID(ctx, runID)
	if err != nil {
		return err
	}
	if res.Filled == nil {
		res.Filled = []ReconciledEvent{}
	}
	if res.Fetches == nil {
		res.Fetches = []string{}
	}
	b, _ := json.Marshal(res)
	now := FormatTime(s.now())
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var latest string
		err := tx.QueryRowContext(ctx, `SELECT e.event_id FROM events e WHERE e.account_ref = (SELECT id FROM accounts WHERE account_id = ?) ORDER BY e.id DESC LIMIT 1`,
			run.AccountID).Scan(&latest)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		for _, kind := range res.Fetches {
			if isPayKind(kind) {
				// Which pay dates changed is what the missing webhooks
				// said: ask for the whole history (items are stored once
				// per content, so what is held already costs only the
				// reading).
				if _, err := tx.ExecContext(ctx, `INSERT INTO pay_sync (account_ref, kind, version, want_full, updated_at)
SELECT id, ?, 1, 1, ? FROM accounts WHERE account_id = ?
ON CONFLICT (account_ref, kind) DO UPDATE SET version = pay_sync.version + 1, want_full = 1, updated_at = excluded.updated_at`,
					kind, now, run.AccountID); err != nil {
					return err
				}
			}
			if _, err := s.enqueueJob(ctx, tx, newFetchJob(kind, run.AccountID, latest)); err != nil {
				return err
			}
		}
		r, err := tx.ExecContext(ctx, `UPDATE reconcile_runs SET state = 'done', result = ?, error = NULL, updated_at = ?, finished_at = ? WHERE id = ? AND state IN ('queued', 'running')`,
			string(b), now, now, runID)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return nil // finished meanwhile (a run repeated after a crash)
		}
		filled := make([]string, len(res.Filled))
		for i, f := range res.Filled {
			filled[i] = f.Event
		}
		return s.appendAudit(ctx, tx, a, ActionAccountReconciled, "account", run.AccountID, map[string]any{
			"run": runID, "status": res.Status, "filled": filled, "fetches": res.Fetches, "jobs_read": res.JobsRead})
	})
	if err != nil {
		return fmt.Errorf("db: finish reconcile %d: %w", runID, err)
	}
	return nil
}

// RefuseReconcile records that Pinwheel refused a run (why, in words
// staff can act on): nothing else changes. Audited as a's.
func (s *Store) RefuseReconcile(ctx context.Context, a Actor, runID int64, why string) error {
	run, err := s.ReconcileRunByID(ctx, runID)
	if err != nil {
		return err
	}
	now := FormatTime(s.now())
	err = s.tx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE reconcile_runs SET state = 'refused', error = ?, updated_at = ?, finished_at = ? WHERE id = ? AND state IN ('queued', 'running')`,
			truncate(why, 500), now, now, runID)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return nil
		}
		return s.appendAudit(ctx, tx, a, ActionAccountReconcileRefuse, "account", run.AccountID, map[string]any{"run": runID, "why": truncate(why, 500)})
	})
	if err != nil {
		return fmt.Errorf("db: refuse reconcile %d: %w", runID, err)
	}
	return nil
}

// FailReconcile marks a run failed when its job gave up (Pinwheel never
// answered): nothing was written.
func (s *Store) FailReconcile(ctx context.Context, runID int64, why string) error {
	now := FormatTime(s.now())
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE reconcile_runs SET state = 'failed', error = ?, updated_at = ?, finished_at = ? WHERE id = ? AND state IN ('queued', 'running')`,
			truncate(why, 500), now, now, runID)
		return err
	})
}
