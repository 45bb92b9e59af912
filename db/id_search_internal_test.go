package db

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"linkdesk/dbtest"
)

// TestIDSearch checks the one-statement binary search (idSearchSQL) against
// a plain scan, on a table with gaps in its ids and runs of equal times,
// for every time before, between, on and after the rows, and on an empty
// table; then that idRange's statement reads events by its primary key
// only (no scan of events), on both backends.
func TestIDSearch(t *testing.T) {
	ctx := context.Background()
	s := openInternal(t, "ids.db")
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE id_search_t (id INTEGER PRIMARY KEY, at TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	minute := func(m int) string { return FormatTime(base.Add(time.Duration(m) * time.Minute)) }
	// got splits the table: every row below it before at, every row
	// from it on at or after at (an id in a gap of the ids is as good as
	// the next row's).
	check := func(n int) {
		t.Helper()
		for m := -2; m <= n+2; m++ {
			for _, at := range []string{minute(m), FormatTime(base.Add(time.Duration(m)*time.Minute + 30*time.Second))} {
				got, err := firstIDAtOrAfterIn(ctx, s.r, "id_search_t", "at", at)
				if err != nil {
					t.Fatal(err)
				}
				var wrong int
				if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM id_search_t WHERE (id < ? AND at >= ?) OR (id >= ? AND at < ?)`, got, at, got, at).Scan(&wrong); err != nil {
					t.Fatal(err)
				}
				if wrong > 0 || got < 0 {
					t.Errorf("%d minutes of rows, at %s: first id %d, on the wrong side of it: %d rows", n, at, got, wrong)
				}
			}
		}
	}
	check(0) // empty: 0, as MIN and MAX are
	// ids 5, 8, 11, … with gaps; two rows a minute from minute 10 on.
	n := 0
	for i := range 40 {
		m := i
		if i >= 10 {
			m = 10 + (i-10)/2
		}
		if _, err := s.w.ExecContext(ctx, `INSERT INTO id_search_t (id, at) VALUES (?, ?)`, 5+3*i+i%2, minute(m)); err != nil {
			t.Fatal(err)
		}
		n = m
	}
	check(n)

	// The plan of the events log's time range: primary-key probes only.
	q := `WITH RECURSIVE ` + idSearchSQL("f", "events", "received_at") + `, ` + idSearchSQL("t", "events", "received_at") +
		` SELECT (SELECT lo FROM f WHERE lo >= hi), (SELECT lo FROM t WHERE lo >= hi)`
	args := []any{minute(1), minute(1), minute(2), minute(2)}
	joined := planText(t, s, q, args...)
	for _, bad := range []string{"Seq Scan on events", "SCAN events", "Sort", "TEMP B-TREE"} {
		if strings.Contains(joined, bad) {
			t.Errorf("plan has %q:\n%s", bad, joined)
		}
	}
	if !strings.Contains(joined, "events_pkey") && !strings.Contains(joined, "INTEGER PRIMARY KEY") {
		t.Errorf("plan does not read events by its primary key:\n%s", joined)
	}
}

// TestPostgres_NoMemoize checks that every pool's connections run without
// Memoize nodes (pgConfig): on PostgreSQL 15 a Memoize cache sized from an
// unlimited join's estimate cost the events log 9–19 ms per page at 1M
// events.
func TestPostgres_NoMemoize(t *testing.T) {
	if !dbtest.OnPostgres() {
		t.Skip("PostgreSQL only")
	}
	ctx := context.Background()
	s := openInternal(t, "memo.db")
	for name, pool := range map[string]interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}{"writer": s.w, "readers": s.r, "exporters": s.x} {
		var v string
		if err := pool.QueryRowContext(ctx, `SHOW enable_memoize`).Scan(&v); err != nil || v != "off" {
			t.Errorf("%s: enable_memoize = %q, %v; want off", name, v, err)
		}
	}
}
