package db

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Reveal: the one audited exception to masking. The account page masks
// identity fields; a staff member who needs one asks to reveal it, and
// that request is recorded before the values are shown.

// ActionPIIRevealed is the audit action of an explicit Reveal of masked
// identity fields on the account page.
const ActionPIIRevealed = "account.pii_revealed"

// PII fields that the account page masks until a Reveal.
const (
	PIIDateOfBirth = "date_of_birth"
	PIISSNLastFour = "last_four_ssn"
)

// MaxRevealReason bounds the reason given for a Reveal.
const MaxRevealReason = 300

// RevealPII records that a staff member revealed masked identity fields of
// an account, with the reason they gave (optional; it lands in the row),
// the audit row being the whole effect: the caller then shows the values.
// Unknown field names are refused.
func (s *Store) RevealPII(ctx context.Context, a Actor, accountID string, fields []string, reason string) error {
	if len(fields) == 0 {
		return FieldErrors{"fields": "Choose what to reveal."}
	}
	reason = strings.Join(strings.Fields(reason), " ")
	if utf8.RuneCountInString(reason) > MaxRevealReason {
		return FieldErrors{"reason": fmt.Sprintf("Use at most %d characters for the reason.", MaxRevealReason)}
	}
	for _, f := range fields {
		if f != PIIDateOfBirth && f != PIISSNLastFour {
			return FieldErrors{"fields": "Only the date of birth and the SSN's last four can be revealed."}
		}
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE account_id = ?`, accountID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		detail := map[string]any{"fields": fields}
		if reason != "" {
			detail["reason"] = reason
		}
		return s.appendAudit(ctx, tx, a, ActionPIIRevealed, "account", accountID, detail)
	})
	if err != nil {
		return fmt.Errorf("db: reveal pii of %s: %w", accountID, err)
	}
	return nil
}
