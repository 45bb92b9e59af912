package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Data fetches: after a webhook says an account's data changed, a job reads
// that data from Pinwheel and stores a snapshot of it (snapshots.go). The
// ingest transaction enqueues the jobs (project.go), worker.Fetches runs
// them, and SnapshotFetched stores the result in the transaction that
// finishes the job.

// fetchJobPrefix starts the job kind of every fetch: "fetch." + the data.
const fetchJobPrefix = "fetch."

// FetchJobKind is the job kind that fetches data (one of the Fetch*
// constants): "fetch.identity".
func FetchJobKind(data string) string { return fetchJobPrefix + data }

// FetchJobKinds are the job kinds of every fetch.
var FetchJobKinds = func() []string {
	out := make([]string, len(FetchKinds))
	for i, k := range FetchKinds {
		out[i] = FetchJobKind(k)
	}
	return out
}()

// FetchPayload is the payload of a fetch job. Its dedupe key is the
// account: one queued fetch per account and data, moved to the newest
// event that asked for it.
type FetchPayload struct {
	AccountID string `json:"account_id"`
	// EventID is the latest event that asked for this fetch.
	EventID string `json:"event_id"`
}

// newFetchJob is the job that fetches data of kind for an event.
func newFetchJob(data, accountID, eventID string) NewJob {
	return NewJob{Kind: FetchJobKind(data), Payload: FetchPayload{AccountID: accountID, EventID: eventID}, DedupeKey: accountID}
}

// FetchJob is a fetch job with its payload read.
type FetchJob struct {
	Job
	// Data is what it fetches (one of the Fetch* constants).
	Data string
	FetchPayload
}

// ReadFetchJob reads a fetch job's payload; ok is false for a job that is
// not a fetch or whose payload does not decode.
func ReadFetchJob(j Job) (f FetchJob, ok bool) {
	data, isFetch := strings.CutPrefix(j.Kind, fetchJobPrefix)
	if !isFetch || data == "" || j.Decode(&f.FetchPayload) != nil {
		return FetchJob{}, false
	}
	f.Job, f.Data = j, data
	return f, true
}

// AccountFetches lists an account's fetch jobs, newest first.
func (s *Store) AccountFetches(ctx context.Context, accountID string) ([]FetchJob, error) {
	jobs, err := s.Jobs(ctx, FetchJobKinds, accountID)
	if err != nil {
		return nil, err
	}
	out := make([]FetchJob, 0, len(jobs))
	for _, j := range jobs {
		if f, ok := ReadFetchJob(j); ok {
			out = append(out, f)
		}
	}
	return out, nil
}

// SnapshotFetched is the result of a fetch job: the data Pinwheel returned,
// stored as a snapshot in the transaction that finishes the job; there too,
// an identity is compared with the customer record (and indexed for
// search) and an account's
// monitoring status applied (account_fetch.go).
type SnapshotFetched struct {
	// Body is the JSON data object.
	Body []byte
	// RefreshedAt is Pinwheel's meta.refreshed_at (zero when absent).
	RefreshedAt time.Time
}

func (e SnapshotFetched) applyJob(ctx context.Context, s *Store, tx *sql.Tx, j Job) error {
	f, ok := ReadFetchJob(j)
	if !ok || f.Data == FetchPaystubs || f.Data == FetchShifts {
		return fmt.Errorf("db: %s is not a snapshot fetch", j.Kind)
	}
	// A fetch that began before its end user was erased stores nothing.
	if erased, err := erasedSince(ctx, tx, f.AccountID, FormatTime(j.CreatedAt)); err != nil || erased {
		return err
	}
	sum := sha256.Sum256(e.Body)
	var refreshed sql.NullString
	if !e.RefreshedAt.IsZero() {
		refreshed = sql.NullString{String: FormatTime(e.RefreshedAt), Valid: true}
	}
	now := FormatTime(s.now())
	var accountRef, snap int64
	var eventRef sql.NullInt64
	err := tx.QueryRowContext(ctx, `INSERT INTO data_snapshots (account_ref, kind, fetched_at, refreshed_at, source_event_ref, body_sha256, body)
SELECT a.id, ?, ?, ?, (SELECT id FROM events WHERE event_id = ?), ?, ? FROM accounts a WHERE a.account_id = ?
RETURNING account_ref, id, source_event_ref`, f.Data, now, refreshed, f.EventID, hex.EncodeToString(sum[:]), string(e.Body), f.AccountID).Scan(&accountRef, &snap, &eventRef)
	if err != nil {
		return fmt.Errorf("snapshot of %s: %w", f.AccountID, notFound(err))
	}
	at := s.now().UTC()
	if !e.RefreshedAt.IsZero() {
		at = e.RefreshedAt.UTC()
	}
	switch f.Data {
	case FetchIdentity:
		if err := indexIdentity(ctx, tx, accountRef, e.Body); err != nil {
			return fmt.Errorf("search index of %s: %w", f.AccountID, err)
		}
		if err := s.verdictFromSnapshot(ctx, tx, accountRef, snap, e.Body); err != nil {
			return err
		}
		return s.judgeMembers(ctx, tx, accountRef, f.Data, AllocationLevel{}, at)
	case FetchIncome, FetchEmployment:
		return s.judgeMembers(ctx, tx, accountRef, f.Data, AllocationLevel{}, at)
	case FetchDDAllocations:
		return s.projectAllocations(ctx, tx, accountRef, snap, e.Body, at)
	case FetchAccount:
		if !eventRef.Valid {
			return fmt.Errorf("account fetch of %s: event %s is unknown", f.AccountID, f.EventID)
		}
		return s.applyFetchedAccount(ctx, tx, accountRef, eventRef.Int64, e.Body, now)
	}
	return nil
}

// verdictFromSnapshot compares a freshly fetched identity with the end
// user's customer record, in the transaction that stores the snapshot. A
// body that does not decode leaves the verdict as it was.
func (s *Store) verdictFromSnapshot(ctx context.Context, tx *sql.Tx, accountRef, snap int64, body []byte) error {
	data, ok := identityOf(body)
	if !ok {
		return nil
	}
	var accountID, endUserID string
	err := tx.QueryRowContext(ctx, `SELECT a.account_id, COALESCE(u.end_user_id, '') FROM accounts a LEFT JOIN end_users u ON u.id = a.end_user_ref WHERE a.id = ?`, accountRef).Scan(&accountID, &endUserID)
	if err != nil {
		return err
	}
	_, err = s.recordIdentityVerdict(ctx, tx, accountID, endUserID, data, strconv.FormatInt(snap, 10))
	return err
}
