package db

import (
	"context"
	"fmt"
	"strings"
)

// tableRef is a column that holds the id of another table's row.
type tableRef struct {
	Table, Column, Parent string
}

func (r tableRef) String() string { return r.Table + "." + r.Column + " → " + r.Parent }

// ingestRefs are the references that ingestion writes and that PostgreSQL
// does not declare as foreign keys (migration 086; docs/ARCHITECTURE.md,
// "References the ingest keeps"). SQLite declares them all. The committer
// writes each one in the ingest lock from a row it read or wrote in the
// same transaction (pay_sync's account_ref also the pay fetch and
// reconciliation jobs, from the account row they read), and Linkdesk
// never deletes or renumbers a row of the parents.
// TestSchemas_Match checks that every foreign key of the SQLite schema is
// declared on PostgreSQL or listed here, and that migration 086's delete
// triggers cover exactly these.
var ingestRefs = []tableRef{
	{"accounts", "end_user_ref", "end_users"},
	{"link_tokens_seen", "account_ref", "accounts"},
	{"link_tokens_seen", "end_user_ref", "end_users"},
	{"events", "account_ref", "accounts"},
	{"events", "end_user_ref", "end_users"},
	{"events", "link_token_ref", "link_tokens_seen"},
	{"account_jobs", "account_ref", "accounts"},
	{"account_jobs", "event_ref", "events"},
	{"monitoring_status_history", "account_ref", "accounts"},
	{"monitoring_status_history", "event_ref", "events"},
	{"dd_switches", "account_ref", "accounts"},
	{"dd_switches", "end_user_ref", "end_users"},
	{"dd_switches", "event_ref", "events"},
	{"cohort_accounts", "account_ref", "accounts"},
	{"pay_sync", "account_ref", "accounts"},
	{"pay_pending", "account_ref", "accounts"},
	{"pay_pending", "event_ref", "events"},
	{"pay_deletions", "account_ref", "accounts"},
	{"pay_deletions", "event_ref", "events"},
}

// CheckReferences reports the rows whose reference in ingestRefs names no
// row of its parent: none, unless something wrote around the committer.
// On SQLite, which declares these references as foreign keys, it checks
// them all the same. Each reference costs one pass over its table (an
// anti-join on the parent's primary key): seconds at millions of rows,
// for tests and migrate-db, not for a request.
func (s *Store) CheckReferences(ctx context.Context) error {
	var bad []string
	for _, r := range ingestRefs {
		var n int64
		var example string
		q := fmt.Sprintf(`SELECT COUNT(*), COALESCE(CAST(MIN(c.%[2]s) AS TEXT), '') FROM %[1]s c
WHERE c.%[2]s IS NOT NULL AND NOT EXISTS (SELECT 1 FROM %[3]s p WHERE p.id = c.%[2]s)`, r.Table, r.Column, r.Parent)
		if err := s.r.QueryRowContext(ctx, q).Scan(&n, &example); err != nil {
			return fmt.Errorf("db: check references %s: %w", r, err)
		}
		if n > 0 {
			bad = append(bad, fmt.Sprintf("%d rows of %s name no %s row (the least missing id: %s)", n, r.Table+"."+r.Column, r.Parent, example))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("db: references broken: %s", strings.Join(bad, "; "))
	}
	return nil
}
