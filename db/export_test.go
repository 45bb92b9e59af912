package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Test-only views of state no Store method reads yet, for the db_test
// package (a _test.go file of package db, so the API stays as small as
// what production calls).

// VerifyAuditChain exposes verifyAuditChain to the tests.
func (s *Store) VerifyAuditChain(ctx context.Context) (int, error) { return s.verifyAuditChain(ctx) }

// PinwheelToken is what webhooks said about one of Pinwheel's link tokens
// (link_tokens_seen). No page reads these counters yet; the ingest tests do.
type PinwheelToken struct {
	LinkTokenID   string
	AccountID     string
	EndUserID     string
	FirstSeenAt   time.Time
	LastSeenAt    time.Time
	EventCount    int
	SuccessCount  int
	ErrorCount    int
	PendingCount  int
	LastJob       string
	LastOutcome   string
	LastOutcomeAt time.Time
	LastErrorType string
	LastErrorCode string
}

// PinwheelTokenByID returns what events said about a Pinwheel link token.
func (s *Store) PinwheelTokenByID(ctx context.Context, linkTokenID string) (PinwheelToken, error) {
	var t PinwheelToken
	var ac, eu, job, outcome, outAt, et, ec sql.NullString
	var first, last string
	err := s.r.QueryRowContext(ctx, `SELECT l.link_token_id, a.account_id, u.end_user_id, l.first_seen_at, l.last_seen_at, l.event_count,
  l.success_count, l.error_count, l.pending_count, l.last_job, l.last_outcome, l.last_outcome_at, l.last_error_type, l.last_error_code
FROM link_tokens_seen l LEFT JOIN accounts a ON a.id = l.account_ref LEFT JOIN end_users u ON u.id = l.end_user_ref
WHERE l.link_token_id = ?`, linkTokenID).Scan(&t.LinkTokenID, &ac, &eu, &first, &last, &t.EventCount, &t.SuccessCount, &t.ErrorCount,
		&t.PendingCount, &job, &outcome, &outAt, &et, &ec)
	if err != nil {
		return PinwheelToken{}, fmt.Errorf("db: link token %s: %w", linkTokenID, notFound(err))
	}
	t.AccountID, t.EndUserID, t.LastJob, t.LastOutcome, t.LastErrorType, t.LastErrorCode = ac.String, eu.String, job.String, outcome.String, et.String, ec.String
	t.FirstSeenAt, t.LastSeenAt, t.LastOutcomeAt = ParseTime(first), ParseTime(last), nullTime(outAt)
	return t, nil
}
