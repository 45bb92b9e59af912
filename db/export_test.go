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

// VerifyAuditChain walks the chain (without the anchor file) and returns
// the rows checked and the first bad row as a *ChainError.
func (s *Store) VerifyAuditChain(ctx context.Context) (int, error) {
	v, err := s.VerifyChain(ctx, VerifyOptions{Anchor: "-"})
	if err != nil {
		return int(v.Rows), err
	}
	if v.Bad != nil {
		return int(v.Rows), v.Bad
	}
	return int(v.Rows), nil
}

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

// UnkeyedHash is the hash a row would carry under the first, unkeyed
// scheme: what someone without the key can compute.
func UnkeyedHash(e AuditEntry) string {
	r := e.chainRow()
	return string(newHasher(nil).sum(&r, SchemeSHA256, ""))
}

// AppendUnkeyed appends a row hashed the way the trail was before it had a
// key, to build an old trail.
func (s *Store) AppendUnkeyed(ctx context.Context, a Actor, action, targetType, targetID string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		prev := genesisHash
		var last int64
		tx.QueryRowContext(ctx, `SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&last, &prev)
		e := AuditEntry{ID: last + 1, At: s.now().UTC(), ActorID: a.StaffID, ActorEmail: a.Email, Action: action,
			TargetType: targetType, TargetID: targetID, IP: a.IP, UserAgent: a.UserAgent, Detail: "{}", PrevHash: prev}
		e.Hash = UnkeyedHash(e)
		_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (id, at, actor_id, actor_email, action, target_type, target_id, ip, user_agent, detail, prev_hash, hash)
			VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, FormatTime(e.At), e.ActorEmail, e.Action, e.TargetType, e.TargetID, e.IP, e.UserAgent, e.Detail, e.PrevHash, e.Hash)
		return err
	})
}

// ForgetAuditKey removes the audit key settings, as a database from before
// the keyed chain has none.
func (s *Store) ForgetAuditKey(ctx context.Context) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM settings WHERE key IN (?, ?)`, settingAuditKey, settingAuditKeyID)
	return err
}
