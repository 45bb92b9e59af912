package db

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"modernc.org/sqlite"
)

// TestSQLiteKeptStatements: a connection prepares a query once and runs it
// again from its kept statement; a nested query of the same text, a
// script, more distinct queries than it keeps and a schema change all
// still give the right answers.
func TestSQLiteKeptStatements(t *testing.T) {
	// A statement shared by nested queries hangs (what keptStmt.busy
	// prevents): the deadline ends the test instead.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := sql.OpenDB(sqliteConnector{dsn: sqliteDSN(filepath.Join(t.TempDir(), "kept.db"), sqliteWriter), drv: &sqlite.Driver{}})
	defer d.Close()
	d.SetMaxOpenConns(1)
	conn, err := d.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	kept := func() (n int, stmt map[string]any) {
		stmt = map[string]any{}
		if err := conn.Raw(func(dc any) error {
			c := dc.(*stmtConn)
			n = c.lru.Len()
			for q, e := range c.byKey {
				stmt[q] = e.Value.(*keptStmt).stmt
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n, stmt
	}
	// A script runs whole and is not kept.
	if _, err := conn.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a'), ('b'), ('c')`); err != nil {
		t.Fatal(err)
	}
	if n, _ := kept(); n != 0 {
		t.Fatalf("a script was kept: %d statements", n)
	}
	const q = `SELECT v FROM t WHERE id >= ? ORDER BY id`
	query := func(from int) ([]string, error) {
		rows, err := conn.QueryContext(ctx, q, from)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, rows.Err()
	}
	values := func(from int) []string {
		t.Helper()
		out, err := query(from)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := fmt.Sprint(values(2)); got != "[b c]" {
		t.Fatalf("first run: %s", got)
	}
	_, first := kept()
	if got := fmt.Sprint(values(1)); got != "[a b c]" {
		t.Fatalf("second run: %s", got)
	}
	if _, again := kept(); first[q] == nil || again[q] != first[q] {
		t.Fatalf("the query was prepared again instead of kept")
	}

	// The same text queried while its rows are open gets a statement of
	// its own.
	rows, err := conn.QueryContext(ctx, q, 1)
	if err != nil {
		t.Fatal(err)
	}
	var outer []string
	for rows.Next() && len(outer) < 10 { // a reset outer statement would start over
		var v string
		if err = rows.Scan(&v); err != nil {
			break
		}
		var inner []string
		if inner, err = query(3); err != nil {
			break
		}
		outer = append(outer, v+fmt.Sprint(inner))
	}
	rows.Close() // before any Fatal: the connection cannot close under open rows
	if err != nil {
		t.Fatalf("nested: %v", err)
	}
	if got := fmt.Sprint(outer); got != "[a[c] b[c] c[c]]" {
		t.Fatalf("nested: %s", got)
	}

	// More distinct statements than a connection keeps: the oldest go.
	for i := range stmtCacheSize + 10 {
		var n int
		if err := conn.QueryRowContext(ctx, fmt.Sprintf(`SELECT COUNT(*) + %d FROM t`, i)).Scan(&n); err != nil || n != 3+i {
			t.Fatalf("query %d: %d %v", i, n, err)
		}
	}
	if n, _ := kept(); n != stmtCacheSize {
		t.Fatalf("%d statements kept, want %d", n, stmtCacheSize)
	}

	// A kept statement survives a change of the schema it reads.
	values(1)
	if _, err := conn.ExecContext(ctx, `ALTER TABLE t ADD COLUMN w TEXT`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `CREATE INDEX t_v ON t (v)`); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(values(3)); got != "[c]" {
		t.Fatalf("after a schema change: %s", got)
	}
	// A PRAGMA takes effect every time it runs. PRAGMAs are never kept
	// (SQLite documents that some take effect when prepared); these four,
	// which Linkdesk sets more than once on a connection, are checked.
	for _, p := range []string{"wal_autocheckpoint", "secure_delete", "cache_size", "busy_timeout"} {
		for _, n := range []int{0, 1, 0} {
			if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA %s = %d`, p, n)); err != nil {
				t.Fatal(err)
			}
			var got int
			if err := conn.QueryRowContext(ctx, `PRAGMA `+p).Scan(&got); err != nil || got != n {
				t.Fatalf("%s %d after setting %d (%v)", p, got, n, err)
			}
		}
	}
	// Exec through a kept statement, twice.
	for range 2 {
		if _, err := conn.ExecContext(ctx, `UPDATE t SET w = ? WHERE id = ?`, "x", 1); err != nil {
			t.Fatal(err)
		}
	}
	var w string
	if err := conn.QueryRowContext(ctx, `SELECT w FROM t WHERE id = 1`).Scan(&w); err != nil || w != "x" {
		t.Fatalf("exec: %q %v", w, err)
	}
}
