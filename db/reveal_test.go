package db_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"linkdesk/db"
)

func TestStore_RevealPII(t *testing.T) {
	f := newBrowseFixture(t)
	ctx := context.Background()
	seedAccounts(t, f, f.clk.t.Add(-time.Hour))
	if err := f.s.RevealPII(ctx, admin, "acc-1", []string{db.PIIDateOfBirth, db.PIISSNLastFour}, "  caller asked\tto confirm  "); err != nil {
		t.Fatal(err)
	}
	rows, _, err := f.s.ListAudit(ctx, db.AuditFilter{Action: db.ActionPIIRevealed})
	if err != nil || len(rows) != 1 {
		t.Fatalf("audit rows %v, %v", rows, err)
	}
	if r := rows[0]; r.TargetType != "account" || r.TargetID != "acc-1" || r.Detail != `{"fields":["date_of_birth","last_four_ssn"],"reason":"caller asked to confirm"}` {
		t.Errorf("audit row %+v", r)
	}
	if err := f.s.RevealPII(ctx, admin, "nope", []string{db.PIIDateOfBirth}, ""); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("unknown account: %v", err)
	}
	var fe db.FieldErrors
	if err := f.s.RevealPII(ctx, admin, "acc-1", []string{"emails"}, ""); !errors.As(err, &fe) {
		t.Errorf("unknown field: %v", err)
	}
	if err := f.s.RevealPII(ctx, admin, "acc-1", []string{db.PIIDateOfBirth}, strings.Repeat("x", db.MaxRevealReason+1)); !errors.As(err, &fe) || fe["reason"] == "" {
		t.Errorf("long reason: %v", err)
	}
}
