package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"linkdesk/pinwheel"
)

// The fetch queue: rows inserted by the ingest transaction (project.go),
// claimed and finished by worker/. A claim is a lease: run_at of a running
// row is when the lease expires, so a worker that died (kill -9, power cut)
// leaves rows that the next claim picks up again; a restart resumes.

// Fetch states.
const (
	FetchQueued  = "queued"
	FetchRunning = "running"
	FetchDone    = "done"
	FetchFailed  = "failed"
)

// FetchJob is one row of the fetch queue.
type FetchJob struct {
	ID        int64
	Kind      string
	AccountID string
	// EventID is the latest event that asked for this fetch.
	EventID   string
	State     string
	RunAt     time.Time
	Attempts  int
	LastError string
	CreatedAt time.Time
	UpdatedAt time.Time
	// SnapshotID is the data_snapshots row a finished fetch stored.
	SnapshotID int64

	accountRef, eventRef int64
}

// ClaimFetches leases up to n due fetches (queued ones whose run_at has
// come, and running ones whose lease expired) for lease, counting an
// attempt on each.
func (s *Store) ClaimFetches(ctx context.Context, n int, lease time.Duration) ([]FetchJob, error) {
	now := s.now().UTC()
	var out []FetchJob
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE fetch_queue SET state = 'running', attempts = attempts + 1, run_at = ?, updated_at = ?
WHERE id IN (SELECT id FROM fetch_queue WHERE state IN ('queued', 'running') AND run_at <= ? ORDER BY run_at, id LIMIT ?)
RETURNING id, kind, account_ref, event_ref, attempts, created_at`, FormatTime(now.Add(lease)), FormatTime(now), FormatTime(now), n)
		if err != nil {
			return err
		}
		for rows.Next() {
			j := FetchJob{State: FetchRunning, RunAt: now.Add(lease), UpdatedAt: now}
			var created string
			if err := rows.Scan(&j.ID, &j.Kind, &j.accountRef, &j.eventRef, &j.Attempts, &created); err != nil {
				rows.Close()
				return err
			}
			j.CreatedAt = ParseTime(created)
			out = append(out, j)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i := range out {
			j := &out[i]
			if err := tx.QueryRowContext(ctx, `SELECT a.account_id, e.event_id FROM accounts a, events e WHERE a.id = ? AND e.id = ?`,
				j.accountRef, j.eventRef).Scan(&j.AccountID, &j.EventID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("db: claim fetches: %w", err)
	}
	return out, nil
}

// FetchResult is the outcome of one claimed fetch.
type FetchResult struct {
	Job FetchJob
	// Body is the JSON data returned (on success).
	Body []byte
	// RefreshedAt is Pinwheel's meta.refreshed_at (zero when absent).
	RefreshedAt time.Time
	// Err is the failure; nil means success.
	Err error
	// RetryAt is when to try again after a failure; zero means give up
	// (state failed).
	RetryAt time.Time
}

// FinishFetches records the outcomes of claimed fetches in one
// transaction: a success stores a snapshot and marks the row done; a
// failure records the error and requeues it for RetryAt (or marks it failed
// for good). A row whose lease was taken over meanwhile is left alone. When
// a newer fetch of the same account and kind is already queued, a failed
// row is closed as failed instead of requeued: the newer one will fetch.
func (s *Store) FinishFetches(ctx context.Context, results []FetchResult) error {
	now := FormatTime(s.now())
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, r := range results {
			j := r.Job
			if r.Err == nil {
				sum := sha256.Sum256(r.Body)
				var refreshed sql.NullString
				if !r.RefreshedAt.IsZero() {
					refreshed = sql.NullString{String: FormatTime(r.RefreshedAt), Valid: true}
				}
				var snap int64
				if err := tx.QueryRowContext(ctx, `INSERT INTO data_snapshots (account_ref, kind, fetched_at, refreshed_at, source_event_ref, body_sha256, body)
VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, j.accountRef, j.Kind, now, refreshed, j.eventRef, hex.EncodeToString(sum[:]), string(r.Body)).Scan(&snap); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `UPDATE fetch_queue SET state = 'done', snapshot_ref = ?, last_error = NULL, updated_at = ?
WHERE id = ? AND state = 'running' AND attempts = ?`, snap, now, j.ID, j.Attempts); err != nil {
					return err
				}
				if j.Kind == pinwheel.JobIdentity {
					if err := s.verdictFromSnapshot(ctx, tx, j.accountRef, snap, r.Body); err != nil {
						return err
					}
				}
				if j.Kind == FetchAccount {
					if err := applyFetchedAccount(ctx, tx, j.accountRef, j.eventRef, r.Body, now); err != nil {
						return err
					}
				}
				continue
			}
			msg := truncate(strings.ToValidUTF8(r.Err.Error(), "?"), 1000)
			if !r.RetryAt.IsZero() {
				res, err := tx.ExecContext(ctx, `UPDATE fetch_queue SET state = 'queued', run_at = ?, last_error = ?, updated_at = ?
WHERE id = ? AND state = 'running' AND attempts = ?
  AND NOT EXISTS (SELECT 1 FROM fetch_queue q WHERE q.account_ref = ? AND q.kind = ? AND q.state = 'queued')`,
					FormatTime(r.RetryAt), msg, now, j.ID, j.Attempts, j.accountRef, j.Kind)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n > 0 {
					continue
				}
				msg += " (a newer fetch is queued)"
			}
			if _, err := tx.ExecContext(ctx, `UPDATE fetch_queue SET state = 'failed', last_error = ?, updated_at = ?
WHERE id = ? AND state = 'running' AND attempts = ?`, msg, now, j.ID, j.Attempts); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("db: finish fetches: %w", err)
	}
	return nil
}

// NextFetchAt returns when the earliest queued or leased fetch falls due;
// ok is false when the queue is empty.
func (s *Store) NextFetchAt(ctx context.Context) (t time.Time, ok bool, err error) {
	var at sql.NullString
	err = s.r.QueryRowContext(ctx, `SELECT MIN(run_at) FROM fetch_queue WHERE state IN ('queued', 'running')`).Scan(&at)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("db: next fetch: %w", err)
	}
	return nullTime(at), at.Valid, nil
}

// QueueStats describes the fetch queue for metrics and the dashboard.
type QueueStats struct {
	// Depth is the number of queued and running fetches.
	Depth int64
	// Oldest is when the oldest of them was queued (zero when empty).
	Oldest time.Time
	// Failed is the number of fetches that gave up.
	Failed int64
}

// FetchQueueStats returns the queue depth, the age of its oldest item and
// the failures.
func (s *Store) FetchQueueStats(ctx context.Context) (QueueStats, error) {
	var q QueueStats
	var oldest sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*), MIN(created_at) FROM fetch_queue WHERE state IN ('queued', 'running')`).Scan(&q.Depth, &oldest)
	if err == nil {
		err = s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM fetch_queue WHERE state = 'failed'`).Scan(&q.Failed)
	}
	if err != nil {
		return QueueStats{}, fmt.Errorf("db: queue stats: %w", err)
	}
	q.Oldest = nullTime(oldest)
	return q, nil
}

// AccountFetches lists an account's fetches, newest first.
func (s *Store) AccountFetches(ctx context.Context, accountID string) ([]FetchJob, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT q.id, q.kind, a.account_id, e.event_id, q.state, q.run_at, q.attempts,
  COALESCE(q.last_error, ''), q.created_at, q.updated_at, COALESCE(q.snapshot_ref, 0)
FROM fetch_queue q JOIN accounts a ON a.id = q.account_ref JOIN events e ON e.id = q.event_ref
WHERE q.account_ref = (SELECT id FROM accounts WHERE account_id = ?) ORDER BY q.id DESC`, accountID)
	if err != nil {
		return nil, fmt.Errorf("db: account fetches: %w", err)
	}
	defer rows.Close()
	var out []FetchJob
	for rows.Next() {
		var j FetchJob
		var runAt, created, updated string
		if err := rows.Scan(&j.ID, &j.Kind, &j.AccountID, &j.EventID, &j.State, &runAt, &j.Attempts, &j.LastError, &created, &updated, &j.SnapshotID); err != nil {
			return nil, fmt.Errorf("db: account fetches: %w", err)
		}
		j.RunAt, j.CreatedAt, j.UpdatedAt = ParseTime(runAt), ParseTime(created), ParseTime(updated)
		out = append(out, j)
	}
	return out, rows.Err()
}

// SkipQueuedFetches marks every queued fetch failed with reason, without
// calling anything: `linkdesk seed` invents accounts Pinwheel does not know.
func (s *Store) SkipQueuedFetches(ctx context.Context, reason string) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE fetch_queue SET state = 'failed', last_error = ?, updated_at = ? WHERE state = 'queued'`,
			reason, FormatTime(s.now()))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("db: skip queued fetches: %w", err)
	}
	return n, nil
}

// verdictFromSnapshot compares a freshly fetched identity with the end
// user's customer record, in the transaction that stores the snapshot. A
// body that does not decode leaves the verdict as it was.
func (s *Store) verdictFromSnapshot(ctx context.Context, tx *sql.Tx, accountRef, snap int64, body []byte) error {
	var id pinwheel.Identity
	if json.Unmarshal(body, &id) != nil {
		return nil
	}
	var accountID, endUserID string
	err := tx.QueryRowContext(ctx, `SELECT a.account_id, COALESCE(u.end_user_id, '') FROM accounts a LEFT JOIN end_users u ON u.id = a.end_user_ref WHERE a.id = ?`, accountRef).Scan(&accountID, &endUserID)
	if err != nil {
		return err
	}
	data := IdentityData{FullName: id.FullName}
	if id.DateOfBirth != nil {
		data.DateOfBirth = *id.DateOfBirth
	}
	if id.LastFourSSN != nil {
		data.LastFourSSN = *id.LastFourSSN
	}
	_, err = s.recordIdentityVerdict(ctx, tx, accountID, endUserID, data, strconv.FormatInt(snap, 10))
	return err
}
