package db

import (
	"context"
	"strings"
	"testing"
)

// TestReplan_PlansEveryExecution: on PostgreSQL a statement marked replan
// is never a prepared statement of its connection (so PostgreSQL cannot
// keep a generic plan for it, made while the table was small), while the
// same statement unmarked is; a marked statement sends what is pipelined
// before it, and reports its error. On SQLite the mark is a comment.
func TestReplan_PlansEveryExecution(t *testing.T) {
	ctx := context.Background()
	s := openInternal(t, "replan.db")
	conn, err := s.w.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const marked = `SELECT COUNT(*) FROM jobs WHERE id > ? AND kind <> 'replan-marked'`
	const plain = `SELECT COUNT(*) FROM jobs WHERE id > ? AND kind <> 'replan-plain'`
	for i := 0; i < 8; i++ {
		for _, q := range []string{replan + marked, plain} {
			var n int
			if err := conn.QueryRowContext(ctx, q, 0).Scan(&n); err != nil || n != 0 {
				t.Fatalf("%s: %d %v", q, n, err)
			}
		}
	}
	if s.Backend() == "postgres" {
		prepared := map[string]bool{}
		rows, err := conn.QueryContext(ctx, `SELECT statement FROM pg_prepared_statements`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var q string
			if err := rows.Scan(&q); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"replan-marked", "replan-plain"} {
				if strings.Contains(q, k) {
					prepared[k] = true
				}
			}
		}
		rows.Close()
		if !prepared["replan-plain"] || prepared["replan-marked"] {
			t.Errorf("prepared statements of the connection: %v, want the plain one only", prepared)
		}

		// A URL that turns pgx's description cache off (or chooses another
		// mode) still runs marked statements.
		for _, opt := range []string{"description_cache_capacity=0", "default_query_exec_mode=simple_protocol", "default_query_exec_mode=exec"} {
			raw, err := Connect(s.Path() + "&" + opt)
			if err != nil {
				t.Fatal(err)
			}
			var n int
			if err := raw.QueryRowContext(ctx, replan+marked, 0).Scan(&n); err != nil {
				t.Errorf("%s: %v", opt, err)
			}
			raw.Close()
		}
	}

	// A queued statement's error shows at the marked statement after it.
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(withPipeline(ctx), `INSERT INTO totals (name, n) VALUES (?, ?)`, "replan-test", 1); err != nil {
		t.Fatal(err)
	}
	_, dupErr := tx.ExecContext(withPipeline(ctx), `INSERT INTO totals (name, n) VALUES (?, ?)`, "replan-test", 1)
	var n int
	queryErr := tx.QueryRowContext(ctx, replan+`SELECT COUNT(*) FROM totals WHERE name = ?`, "replan-test").Scan(&n)
	if dupErr == nil && queryErr == nil {
		t.Errorf("the duplicate insert before a marked query went unreported (count %d)", n)
	}
	if s.Backend() == "postgres" && dupErr != nil {
		t.Errorf("a pipelined insert reported its error at once: %v", dupErr)
	}
}
