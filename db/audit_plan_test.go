package db

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"linkdesk/dbtest"
)

// TestAuditFiltersUseTheirIndexes asserts on EXPLAIN QUERY PLAN that every
// stream of every /audit filter reads the index made for it, newest first,
// without sorting, and that the time range and the count do too. Plans
// without ANALYZE do not depend on the data, so an empty trail shows the
// plans of a large one.
func TestAuditFiltersUseTheirIndexes(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, dbtest.MigratedSQLite(t, filepath.Join(t.TempDir(), "plan.db")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		f     AuditFilter
		index string
	}{
		{"nothing", AuditFilter{}, "PRIMARY KEY"},
		{"actor", AuditFilter{Actors: []string{"a@example.com", "b@example.com"}}, "audit_log_actor_email"},
		{"actor and group", AuditFilter{Actors: []string{"a@example.com"}, Actions: ActionsOfGroup(GroupPII)}, "audit_log_actor_action"},
		{"group", AuditFilter{Actions: ActionsOfGroup(GroupSignIn)}, "audit_log_action"},
		{"target", AuditFilter{TargetType: "account", TargetID: "acc-1"}, "audit_log_target"},
		{"target and group", AuditFilter{TargetType: "account", TargetID: "acc-1", Actions: ActionsOfGroup(GroupPII)}, "audit_log_target_action"},
		{"target type", AuditFilter{TargetType: "staff"}, "audit_log_target_type"},
		{"time range and group", AuditFilter{Actions: ActionsOfGroup(GroupPII), From: day, To: day.AddDate(0, 3, 0)}, "audit_log_action"},
		{"time range alone", AuditFilter{From: day, To: day.AddDate(0, 3, 0)}, "PRIMARY KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.f.plan()
			p.lo, p.hi = 10, 1000 // as bound() would set them from the time range
			for _, st := range p.streams {
				where, args := p.streamSQL(st, 5000)
				plan := strings.Join(explain(t, s, `SELECT id FROM audit_log WHERE `+where+` ORDER BY id DESC LIMIT ?`, append(args, 51)...), "\n")
				if strings.Contains(plan, "TEMP B-TREE") {
					t.Errorf("stream sorts:\n%s", plan)
				}
				if !strings.Contains(plan, tc.index) {
					t.Errorf("stream does not use %s:\n%s", tc.index, plan)
				}
				if tc.index != "PRIMARY KEY" && strings.Contains(plan, "SCAN audit_log") && !strings.Contains(plan, "COVERING INDEX") && !strings.Contains(plan, "USING INDEX") {
					t.Errorf("stream scans the trail:\n%s", plan)
				}
			}
		})
	}
	for _, q := range []string{
		`SELECT id FROM audit_log WHERE at >= ? ORDER BY at, id LIMIT 1`,
		`SELECT id FROM audit_log WHERE at < ? ORDER BY at DESC, id DESC LIMIT 1`,
	} {
		plan := strings.Join(explain(t, s, q, "2026-12-01"), "\n")
		if !strings.Contains(plan, "audit_log_at") || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("time bound %s:\n%s", q, plan)
		}
	}
	// The reveals report counts inside an index, whatever narrows it.
	for _, tc := range []struct{ where, index string }{
		{"a.action = ? AND a.id >= ? AND a.id <= ?", "COVERING INDEX audit_log_action"},
		{"a.action = ? AND a.id >= ? AND a.id <= ? AND a.actor_email IN (?)", "COVERING INDEX audit_log_actor_action"},
		{"a.action = ? AND a.target_type = 'account' AND a.target_id IN (?, ?)", "COVERING INDEX audit_log_target_action"},
	} {
		args := []any{ActionPIIRevealed, 1, 2, 3}[:strings.Count(tc.where, "?")]
		plan := strings.Join(explain(t, s, `SELECT COUNT(*) FROM audit_log a WHERE `+tc.where, args...), "\n")
		if !strings.Contains(plan, tc.index) {
			t.Errorf("reveals count %s:\n%s", tc.where, plan)
		}
	}
	plan := strings.Join(explain(t, s, `SELECT actor_email FROM audit_log WHERE actor_email > ? AND actor_email < ? ORDER BY actor_email LIMIT 1`, "a", "b"), "\n")
	if !strings.Contains(plan, "audit_log_actor_email") || strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("actor prefix seek:\n%s", plan)
	}
}
