package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"linkdesk/pinwheel"
)

// Reconnect batches: "Send reconnect links" on the monitoring board. A
// batch fixes its members when it is created (the accounts selected, or
// every account the board's filter lists, in the order they waited); a job
// (worker.Reconnects) then gives each member a launch link that mints its
// token when opened, in chunks, so a batch of thousands never calls
// Pinwheel and survives a restart. Each link is audited like one made from
// the account page. A trigger (migration 052) notes when a member's account
// comes back to active after its link, which is how the board tracks what
// the batch achieved.

// JobReconnectBatch is the job kind that makes a batch's links.
const JobReconnectBatch = "reconnect.batch"

// BulkJobKinds are the job kinds that work through a large set in chunks:
// the bulk-stuck alert rule watches them. Campaigns add theirs here.
var BulkJobKinds = []string{JobReconnectBatch}

// ReconnectJobs are the jobs a reconnect link may ask for: reads only (a
// deposit switch is never sent in bulk). The user logs in again whatever
// the job; DefaultReconnectJob is the cheapest useful one.
var ReconnectJobs = []string{pinwheel.JobIdentity, pinwheel.JobEmployment, pinwheel.JobIncome, pinwheel.JobPaystubs, pinwheel.JobDDAllocations}

// DefaultReconnectJob is what a reconnect link asks for unless staff choose
// otherwise: one small read.
const DefaultReconnectJob = pinwheel.JobIdentity

// Limits of reconnect batches.
const (
	// MaxReconnectBatch bounds the members of one batch.
	MaxReconnectBatch = 50_000
	// ReconnectChunk is how many members one transaction links: one
	// transaction holds the single writer while it runs.
	ReconnectChunk = 200
)

// Reconnect batch states.
const (
	BatchQueued  = "queued"
	BatchRunning = "running"
	BatchDone    = "done"
	BatchFailed  = "failed"
)

// ReconnectRequest is the "Send reconnect links" form.
type ReconnectRequest struct {
	// AccountIDs are the accounts selected on the board; with All, every
	// account Query lists instead.
	AccountIDs []string
	All        bool
	Query      WaitingQuery
	Jobs       []string
	Language   string
	Reason     string
}

// ReconnectFilter is how a batch chose its members, as stored.
type ReconnectFilter struct {
	Status   string `json:"status,omitempty"`
	Platform string `json:"platform,omitempty"`
	// Selected is set when staff picked the accounts one by one.
	Selected int `json:"selected,omitempty"`
}

// ReconnectBatch is one batch with its progress and what it achieved.
type ReconnectBatch struct {
	ID            int64
	State         string
	CreatedBy     int64
	CreatedByName string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	FinishedAt    time.Time
	Filter        ReconnectFilter
	Jobs          []string
	Language      string
	Reason        string
	// Total members; Created of them got a link, Skipped did not (see
	// the member's reason); Returned came back to active after their link.
	Total, Created, Skipped, Returned int
	Error                             string
}

// Finished reports whether the batch has stopped making links.
func (b ReconnectBatch) Finished() bool { return b.State == BatchDone || b.State == BatchFailed }

// Percent is how far the batch is, 0 to 100.
func (b ReconnectBatch) Percent() int {
	if b.Total == 0 {
		return 100
	}
	return (b.Created + b.Skipped) * 100 / b.Total
}

// ValidateReconnect checks the form; the selection itself is checked
// against the accounts when the batch is created.
func ValidateReconnect(in ReconnectRequest) (ReconnectRequest, FieldErrors) {
	fe := FieldErrors{}
	var jobs []string
	for _, j := range ReconnectJobs {
		if slices.Contains(in.Jobs, j) {
			jobs = append(jobs, j)
		}
	}
	switch {
	case len(in.Jobs) == 0:
		fe["jobs"] = "Choose at least one thing the link asks for."
	case len(jobs) != len(sortedUniq(in.Jobs)):
		fe["jobs"] = "Choose only from the listed jobs."
	}
	in.Jobs = jobs
	switch in.Language {
	case "":
		in.Language = "en"
	case "en", "es":
	default:
		fe["language"] = "Choose English or Spanish."
	}
	in.Reason = strings.TrimSpace(in.Reason)
	switch {
	case in.Reason == "":
		fe[ReasonFieldName] = "Say why, for the audit trail (for example: monitoring needs the users to log in again)."
	case utf8.RuneCountInString(in.Reason) > maxReasonLen:
		fe[ReasonFieldName] = fmt.Sprintf("Keep it under %d characters.", maxReasonLen)
	}
	if err := in.Query.Validate(); err != nil {
		fe["status"] = "Choose a status from the list."
	}
	if !in.All {
		in.AccountIDs = sortedUniq(slices.DeleteFunc(slices.Clone(in.AccountIDs), func(s string) bool { return s == "" || len(s) > maxIDLen }))
		switch {
		case len(in.AccountIDs) == 0:
			fe["accounts"] = "Select the accounts to send links to, or send to every account listed."
		case len(in.AccountIDs) > 500:
			fe["accounts"] = "Select at most 500 accounts one by one, or send to every account listed."
		}
	}
	if len(fe) > 0 {
		return in, fe
	}
	return in, nil
}

// CreateReconnectBatch validates the form, fixes the batch's members (the
// accounts that are not active among those selected, or every account the
// filter lists, longest wait first), audits the batch and queues its job,
// in one transaction.
func (s *Store) CreateReconnectBatch(ctx context.Context, a Actor, in ReconnectRequest) (ReconnectBatch, error) {
	in, fe := ValidateReconnect(in)
	if fe != nil {
		return ReconnectBatch{}, fe
	}
	if a.StaffID == 0 {
		return ReconnectBatch{}, errors.New("db: create reconnect batch: no staff member")
	}
	filter := ReconnectFilter{Status: in.Query.Status, Platform: in.Query.Platform}
	if !in.All {
		filter = ReconnectFilter{Selected: len(in.AccountIDs)}
	}
	fj, _ := json.Marshal(filter)
	jj, _ := json.Marshal(in.Jobs)
	now := FormatTime(s.now())
	var id int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO reconnect_batches (state, created_by, created_at, updated_at, filter, jobs, language, reason, total)
VALUES ('queued', ?, ?, ?, ?, ?, ?, ?, 0) RETURNING id`, a.StaffID, now, now, string(fj), string(jj), in.Language, in.Reason).Scan(&id)
		if err != nil {
			return err
		}
		var where []string
		args := []any{id}
		if in.All {
			sts := in.Query.statuses()
			where = append(where, `monitoring_status IN (`+placeholders(len(sts))+`)`)
			for _, st := range sts {
				args = append(args, st)
			}
			if in.Query.Platform != "" {
				where, args = append(where, `platform_id = ?`), append(args, in.Query.Platform)
			}
		} else {
			where = append(where, `account_id IN (`+placeholders(len(in.AccountIDs))+`)`)
			for _, acc := range in.AccountIDs {
				args = append(args, acc)
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO reconnect_members (batch_id, seq, account_ref, status_at_send, waiting_since)
SELECT ?, ROW_NUMBER() OVER (ORDER BY status_since, id), id, monitoring_status, status_since FROM (
  SELECT id, monitoring_status, status_since FROM accounts
  WHERE `+strings.Join(where, " AND ")+` AND monitoring_status <> 'active'
  ORDER BY status_since, id LIMIT ?) picked`, append(args, MaxReconnectBatch+1)...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		switch {
		case err != nil:
			return err
		case n == 0:
			return FieldErrors{"accounts": "None of these accounts is waiting: each is active again or unknown."}
		case n > MaxReconnectBatch:
			return FieldErrors{"accounts": fmt.Sprintf("That is more than %d accounts; narrow the filter (a status or a platform).", MaxReconnectBatch)}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE reconnect_batches SET total = ? WHERE id = ?`, n, id); err != nil {
			return err
		}
		if err := s.appendAudit(ctx, tx, a, ActionReconnectBatchCreated, "reconnect_batch", fmt.Sprint(id), map[string]any{
			"filter": filter, "jobs": in.Jobs, "language": in.Language, "reason": in.Reason, "accounts": n,
		}); err != nil {
			return err
		}
		_, err = s.enqueueJob(ctx, tx, NewJob{Kind: JobReconnectBatch, Payload: ReconnectPayload{BatchID: id}, DedupeKey: fmt.Sprint(id)})
		return err
	})
	var fe2 FieldErrors
	if errors.As(err, &fe2) {
		return ReconnectBatch{}, fe2
	}
	if err != nil {
		return ReconnectBatch{}, fmt.Errorf("db: create reconnect batch: %w", err)
	}
	return s.ReconnectBatchByID(ctx, id)
}

// ReconnectPayload is the payload of a JobReconnectBatch job.
type ReconnectPayload struct {
	BatchID int64 `json:"batch_id"`
}

const batchColumns = `b.id, b.state, b.created_by, COALESCE(st.name, ''), b.created_at, b.updated_at, COALESCE(b.finished_at, ''),
  b.filter, b.jobs, b.language, b.reason, b.total, b.created, b.skipped, b.returned, COALESCE(b.error, '')`

func scanBatch(sc interface{ Scan(...any) error }) (ReconnectBatch, error) {
	var b ReconnectBatch
	var created, updated, finished, filter, jobs string
	err := sc.Scan(&b.ID, &b.State, &b.CreatedBy, &b.CreatedByName, &created, &updated, &finished, &filter, &jobs,
		&b.Language, &b.Reason, &b.Total, &b.Created, &b.Skipped, &b.Returned, &b.Error)
	if err != nil {
		return b, err
	}
	b.CreatedAt, b.UpdatedAt, b.FinishedAt = ParseTime(created), ParseTime(updated), ParseTime(finished)
	_ = json.Unmarshal([]byte(filter), &b.Filter)
	_ = json.Unmarshal([]byte(jobs), &b.Jobs)
	return b, nil
}

// ReconnectBatchByID returns one batch.
func (s *Store) ReconnectBatchByID(ctx context.Context, id int64) (ReconnectBatch, error) {
	b, err := scanBatch(s.r.QueryRowContext(ctx, `SELECT `+batchColumns+` FROM reconnect_batches b LEFT JOIN staff st ON st.id = b.created_by WHERE b.id = ?`, id))
	if err != nil {
		return b, fmt.Errorf("db: reconnect batch %d: %w", id, notFound(err))
	}
	return b, nil
}

// ListReconnectBatches returns batches newest first, below the id before
// (0: from the newest), and the cursor of the next page (0 at the end).
func (s *Store) ListReconnectBatches(ctx context.Context, before int64, limit int) ([]ReconnectBatch, int64, error) {
	if limit <= 0 || limit > 200 {
		limit = 20
	}
	if before <= 0 {
		before = 1 << 62
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+batchColumns+` FROM reconnect_batches b LEFT JOIN staff st ON st.id = b.created_by
WHERE b.id < ? ORDER BY b.id DESC LIMIT ?`, before, limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("db: reconnect batches: %w", err)
	}
	defer rows.Close()
	var out []ReconnectBatch
	for rows.Next() {
		b, err := scanBatch(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("db: reconnect batches: %w", err)
		}
		out = append(out, b)
	}
	var next int64
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].ID
	}
	return out, next, rows.Err()
}

// ReconnectCandidate is a member still without a link, with its account as
// it is now.
type ReconnectCandidate struct {
	Seq        int64
	AccountID  string
	EndUserID  string
	PlatformID string
	Status     string
	Connected  *bool
	// Caps are the platform's cached capabilities (Known false when none
	// are cached).
	Caps PlatformCaps
}

// ReconnectCandidates marks the batch running and returns its batch row,
// the staff member who made it (the links are theirs) and up to n members
// that have neither a link nor a reason to be skipped, in order.
func (s *Store) ReconnectCandidates(ctx context.Context, batchID int64, n int) (ReconnectBatch, Actor, []ReconnectCandidate, error) {
	var out []ReconnectCandidate
	var a Actor
	now := FormatTime(s.now())
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE reconnect_batches SET state = 'running', updated_at = ? WHERE id = ? AND state = 'queued'`, now, batchID); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT st.id, st.email FROM reconnect_batches b JOIN staff st ON st.id = b.created_by WHERE b.id = ?`, batchID).
			Scan(&a.StaffID, &a.Email); err != nil {
			return notFound(err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT m.seq, a.account_id, COALESCE(u.end_user_id, ''), COALESCE(a.platform_id, ''), COALESCE(a.monitoring_status, ''),
  a.connected, COALESCE(p.name, ''), p.supported_jobs
FROM reconnect_members m JOIN accounts a ON a.id = m.account_ref
LEFT JOIN end_users u ON u.id = a.end_user_ref
LEFT JOIN platforms_cache p ON p.platform_id = a.platform_id
WHERE m.batch_id = ? AND m.link_ref IS NULL AND m.skipped IS NULL ORDER BY m.seq LIMIT ?`, batchID, n)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c ReconnectCandidate
			var conn sql.NullBool
			var jobs sql.NullString
			if err := rows.Scan(&c.Seq, &c.AccountID, &c.EndUserID, &c.PlatformID, &c.Status, &conn, &c.Caps.Name, &jobs); err != nil {
				return err
			}
			if conn.Valid {
				c.Connected = &conn.Bool
			}
			if jobs.Valid && json.Unmarshal([]byte(jobs.String), &c.Caps.SupportedJobs) == nil {
				c.Caps.ID, c.Caps.Known = c.PlatformID, true
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return ReconnectBatch{}, Actor{}, nil, fmt.Errorf("db: reconnect candidates of %d: %w", batchID, err)
	}
	a.UserAgent = "job " + JobReconnectBatch
	b, err := s.ReconnectBatchByID(ctx, batchID)
	return b, a, out, err
}

// DecideReconnect says why a member gets no link ("" when it gets one):
// its account came back by itself, cannot be updated at all, or is on a
// platform known not to support the jobs. Pure, for table tests.
func DecideReconnect(c ReconnectCandidate, jobs []string) string {
	switch {
	case c.Status == pinwheel.StatusActive:
		return "active again before its link was made"
	case c.Connected != nil && !*c.Connected:
		return "disconnected: the user must connect the account anew"
	case c.PlatformID == "" || c.EndUserID == "":
		return "Pinwheel never reported the account's login (no account.added)"
	case c.Caps.Known:
		for _, j := range jobs {
			if !c.Caps.Supports(j) {
				return fmt.Sprintf("%s does not support %s", stringOr(c.Caps.Name, "the platform"), j)
			}
		}
	}
	return ""
}

// ReconnectOutcome is what became of one member: a link to store (prepared
// by odu.Minter.PrepareOnOpen), or the reason it got none.
type ReconnectOutcome struct {
	Seq  int64
	Link *NewLink
	Skip string
}

// AddReconnectLinks stores the links of a chunk of members, each audited
// as a's, records the members skipped, and moves the batch's progress, in
// one transaction; the batch is done when no member is left. A member that
// already has a link (a chunk run twice after a crash) is left alone.
func (s *Store) AddReconnectLinks(ctx context.Context, a Actor, batchID int64, outs []ReconnectOutcome) (ReconnectBatch, error) {
	now := s.now().UTC()
	at := FormatTime(now)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.purgeTokens(ctx, tx, now); err != nil {
			return err
		}
		var created, skipped int
		for _, o := range outs {
			var done int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM reconnect_members WHERE batch_id = ? AND seq = ? AND (link_ref IS NOT NULL OR skipped IS NOT NULL)`,
				batchID, o.Seq).Scan(&done); err != nil {
				return err
			}
			if done > 0 {
				continue
			}
			if o.Link == nil {
				if _, err := tx.ExecContext(ctx, `UPDATE reconnect_members SET skipped = ? WHERE batch_id = ? AND seq = ?`, stringOr(o.Skip, "skipped"), batchID, o.Seq); err != nil {
					return err
				}
				skipped++
				continue
			}
			ref, err := s.insertLink(ctx, tx, a, *o.Link, nil, now)
			if err != nil {
				return fmt.Errorf("link for %s: %w", o.Link.AccountID, err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE reconnect_members SET link_ref = ?, linked_at = ? WHERE batch_id = ? AND seq = ?`, ref, at, batchID, o.Seq); err != nil {
				return err
			}
			created++
		}
		_, err := tx.ExecContext(ctx, `UPDATE reconnect_batches SET created = created + ?, skipped = skipped + ?, updated_at = ?,
  state = CASE WHEN created + skipped + ? + ? >= total THEN 'done' ELSE state END,
  finished_at = CASE WHEN created + skipped + ? + ? >= total THEN ? ELSE finished_at END
WHERE id = ?`, created, skipped, at, created, skipped, created, skipped, at, batchID)
		return err
	})
	if err != nil {
		return ReconnectBatch{}, fmt.Errorf("db: reconnect links of %d: %w", batchID, err)
	}
	return s.ReconnectBatchByID(ctx, batchID)
}

// ContinueReconnect queues the batch's job again: its run stopped with
// members left (it works a bounded number of chunks per run).
func (s *Store) ContinueReconnect(ctx context.Context, batchID int64) error {
	_, err := s.EnqueueJob(ctx, NewJob{Kind: JobReconnectBatch, Payload: ReconnectPayload{BatchID: batchID}, DedupeKey: fmt.Sprint(batchID)})
	return err
}

// FailReconnectBatch marks a batch failed (its job gave up): the members
// linked so far keep their links.
func (s *Store) FailReconnectBatch(ctx context.Context, batchID int64, reason string) error {
	now := FormatTime(s.now())
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE reconnect_batches SET state = 'failed', error = ?, updated_at = ?, finished_at = ? WHERE id = ? AND state <> 'done'`,
			truncate(reason, 500), now, now, batchID)
		return err
	})
}

// ReconnectMember is one member of a batch as the batch page shows it.
type ReconnectMember struct {
	Seq          int64
	AccountID    string
	EndUserID    string
	PlatformName string
	StatusAtSend string
	WaitingSince time.Time
	// StatusNow is the account's monitoring status now.
	StatusNow string
	// TokenID and LaunchID name the member's launch link ("" when none).
	TokenID, LaunchID string
	LinkedAt          time.Time
	LinkExpiresAt     time.Time
	// Opened: the link minted a token (the user opened it).
	Opened     bool
	Skipped    string
	ReturnedAt time.Time
}

// TookToReturn is how long after its link the account came back (0 when it
// has not).
func (m ReconnectMember) TookToReturn() time.Duration {
	if m.ReturnedAt.IsZero() || m.LinkedAt.IsZero() {
		return 0
	}
	return m.ReturnedAt.Sub(m.LinkedAt)
}

const memberColumns = `m.seq, a.account_id, COALESCE(u.end_user_id, ''), COALESCE(a.platform_name, ''), m.status_at_send, COALESCE(m.waiting_since, ''),
  COALESCE(a.monitoring_status, ''), COALESCE(t.token_id, ''), COALESCE(t.launch_id, ''), COALESCE(m.linked_at, ''), COALESCE(t.link_expires_at, ''),
  EXISTS (SELECT 1 FROM link_token_mints k WHERE k.link_ref = m.link_ref), COALESCE(m.skipped, ''), COALESCE(m.returned_at, '')`

const memberFrom = ` FROM reconnect_members m JOIN accounts a ON a.id = m.account_ref
LEFT JOIN end_users u ON u.id = a.end_user_ref LEFT JOIN link_tokens t ON t.id = m.link_ref`

func scanMember(sc interface{ Scan(...any) error }) (ReconnectMember, error) {
	var m ReconnectMember
	var waiting, linked, expires, returned string
	err := sc.Scan(&m.Seq, &m.AccountID, &m.EndUserID, &m.PlatformName, &m.StatusAtSend, &waiting, &m.StatusNow, &m.TokenID, &m.LaunchID,
		&linked, &expires, &m.Opened, &m.Skipped, &returned)
	m.WaitingSince, m.LinkedAt, m.LinkExpiresAt, m.ReturnedAt = ParseTime(waiting), ParseTime(linked), ParseTime(expires), ParseTime(returned)
	return m, err
}

// ReconnectMembers returns a page of a batch's members after seq after, in
// order, and the cursor of the next page (0 at the end).
func (s *Store) ReconnectMembers(ctx context.Context, batchID, after int64, limit int) ([]ReconnectMember, int64, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+memberColumns+memberFrom+` WHERE m.batch_id = ? AND m.seq > ? ORDER BY m.seq LIMIT ?`, batchID, after, limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("db: reconnect members: %w", err)
	}
	defer rows.Close()
	var out []ReconnectMember
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("db: reconnect members: %w", err)
		}
		out = append(out, m)
	}
	var next int64
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].Seq
	}
	return out, next, rows.Err()
}

// ReconnectTracking is what a batch achieved so far.
type ReconnectTracking struct {
	// Linked members got a link; Opened of them opened it; Returned came
	// back to active after their link, ThroughLink of them after opening
	// it (a token was minted before they came back). A return is the
	// account's change to active learnt after the link was made, whatever
	// order its webhook and account fetch arrived in and whatever time
	// Pinwheel's clock gave it (migration 053).
	Linked, Opened, Returned, ThroughLink int
	// Median and Slowest are how long the returned took, from their link.
	Median, Slowest time.Duration
}

// Share is the percentage of linked members that came back.
func (t ReconnectTracking) Share() int {
	if t.Linked == 0 {
		return 0
	}
	return t.Returned * 100 / t.Linked
}

// ReconnectTrackingOf computes what a batch achieved: the members'
// returns are kept by a trigger, so this reads the batch's own rows only.
func (s *Store) ReconnectTrackingOf(ctx context.Context, batchID int64) (ReconnectTracking, error) {
	var t ReconnectTracking
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT COUNT(m.link_ref),
  COALESCE(SUM(CASE WHEN m.link_ref IS NOT NULL AND EXISTS (SELECT 1 FROM link_token_mints k WHERE k.link_ref = m.link_ref) THEN 1 ELSE 0 END), 0),
  COALESCE(SUM(CASE WHEN m.returned_at IS NOT NULL AND EXISTS (SELECT 1 FROM link_token_mints k WHERE k.link_ref = m.link_ref AND k.minted_at <= m.returned_at) THEN 1 ELSE 0 END), 0)
FROM reconnect_members m WHERE m.batch_id = ?`, batchID).Scan(&t.Linked, &t.Opened, &t.ThroughLink)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT linked_at, returned_at FROM reconnect_members WHERE batch_id = ? AND returned_at IS NOT NULL`, batchID)
		if err != nil {
			return err
		}
		defer rows.Close()
		var took []time.Duration
		for rows.Next() {
			var linked, returned string
			if err := rows.Scan(&linked, &returned); err != nil {
				return err
			}
			took = append(took, ParseTime(returned).Sub(ParseTime(linked)))
		}
		if err := rows.Err(); err != nil {
			return err
		}
		t.Returned = len(took)
		if len(took) > 0 {
			slices.Sort(took)
			t.Median, t.Slowest = took[len(took)/2], took[len(took)-1]
			if len(took)%2 == 0 {
				t.Median = (took[len(took)/2-1] + took[len(took)/2]) / 2
			}
		}
		return nil
	})
	if err != nil {
		return t, fmt.Errorf("db: reconnect tracking of %d: %w", batchID, err)
	}
	return t, nil
}

// ReconnectLinkRow is one exported reconnect link: what a messaging tool
// needs to reach the user.
type ReconnectLinkRow struct {
	AccountID, EndUserID, PlatformName, Status string
	TokenID, LaunchID                          string
	ExpiresAt                                  time.Time
}

// ExportReconnectLinks audits the export of a batch's links, then calls fn
// for every member that has a link (not revoked), in order, through
// exportChunks. It returns the number of rows.
func (s *Store) ExportReconnectLinks(ctx context.Context, a Actor, batchID int64, format string, fn func(ReconnectLinkRow) error) (int64, error) {
	if _, err := s.ReconnectBatchByID(ctx, batchID); err != nil {
		return 0, err
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		return s.appendAudit(ctx, tx, a, ActionReconnectExported, "reconnect_batch", fmt.Sprint(batchID), map[string]any{"format": format})
	})
	if err != nil {
		return 0, fmt.Errorf("db: export reconnect links: %w", err)
	}
	return exportChunks(ctx, s, exportQuery[ReconnectLinkRow]{
		sql: `SELECT m.seq, a.account_id, COALESCE(u.end_user_id, ''), COALESCE(a.platform_name, ''), COALESCE(a.monitoring_status, ''),
  t.token_id, t.launch_id, t.link_expires_at
FROM reconnect_members m JOIN accounts a ON a.id = m.account_ref LEFT JOIN end_users u ON u.id = a.end_user_ref JOIN link_tokens t ON t.id = m.link_ref
WHERE m.batch_id = ? AND t.revoked_at IS NULL AND m.seq > ? ORDER BY m.seq LIMIT ?`,
		args:  []any{batchID, int64(0)}, // ascending: each chunk continues above the last seq
		label: "export reconnect links",
		scan: func(rows *sql.Rows) (ReconnectLinkRow, int64, int, error) {
			var r ReconnectLinkRow
			var seq int64
			var expires string
			err := rows.Scan(&seq, &r.AccountID, &r.EndUserID, &r.PlatformName, &r.Status, &r.TokenID, &r.LaunchID, &expires)
			r.ExpiresAt = ParseTime(expires)
			return r, seq, len(r.AccountID) + len(r.EndUserID) + len(r.PlatformName) + len(r.LaunchID) + 64, err
		},
	}, fn)
}

// AccountReconnects lists the reconnect batches an account was part of,
// newest first (at most 10), for the account page.
func (s *Store) AccountReconnects(ctx context.Context, accountID string) ([]ReconnectMember, []int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+memberColumns+`, m.batch_id`+memberFrom+`
WHERE m.account_ref = (SELECT id FROM accounts WHERE account_id = ?) ORDER BY m.batch_id DESC LIMIT 10`, accountID)
	if err != nil {
		return nil, nil, fmt.Errorf("db: account reconnects: %w", err)
	}
	defer rows.Close()
	var out []ReconnectMember
	var batches []int64
	for rows.Next() {
		var m ReconnectMember
		var waiting, linked, expires, returned string
		var b int64
		err := rows.Scan(&m.Seq, &m.AccountID, &m.EndUserID, &m.PlatformName, &m.StatusAtSend, &waiting, &m.StatusNow, &m.TokenID, &m.LaunchID,
			&linked, &expires, &m.Opened, &m.Skipped, &returned, &b)
		if err != nil {
			return nil, nil, fmt.Errorf("db: account reconnects: %w", err)
		}
		m.WaitingSince, m.LinkedAt, m.LinkExpiresAt, m.ReturnedAt = ParseTime(waiting), ParseTime(linked), ParseTime(expires), ParseTime(returned)
		out = append(out, m)
		batches = append(batches, b)
	}
	return out, batches, rows.Err()
}
