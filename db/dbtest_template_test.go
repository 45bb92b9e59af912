package db_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"linkdesk/db"
	"linkdesk/dbtest"
)

// TestDBTest_TemplateIsWhatOpenMigrates: a database from dbtest.Path (a
// copy of a template dbtest migrated with its own runner) is what db.Open
// builds from nothing: the same tables, columns, indexes, triggers,
// functions and views, the same migrations recorded and the same number
// of rows in each table once Open has run on both. It fails when db's
// migration runner and dbtest's drift apart (then the suite would test a
// schema production never has).
func TestDBTest_TemplateIsWhatOpenMigrates(t *testing.T) {
	ctx := context.Background()
	describe := func(path string) map[string][]string {
		t.Helper()
		s, err := db.Open(ctx, path, db.Options{PasswordCost: bcrypt.MinCost})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		s.Close()
		raw, err := db.Connect(path)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		out := map[string][]string{}
		queries := map[string]string{
			"migrations": `SELECT name FROM schema_migrations ORDER BY name`,
		}
		if db.IsPostgresURL(path) {
			// Definitions name the schema: an empty schema here, public
			// in a database made from the template.
			queries["columns"] = `SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || is_identity || ' ' || COALESCE(column_default, '') || ' ' || COALESCE(collation_name, '')
FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, column_name`
			queries["indexes"] = `SELECT replace(indexdef, current_schema() || '.', '') FROM pg_indexes WHERE schemaname = current_schema() ORDER BY indexname`
			queries["constraints"] = `SELECT c.conrelid::regclass::text || ' ' || c.conname || ' ' || pg_get_constraintdef(c.oid)
FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = current_schema() ORDER BY 1`
			queries["triggers"] = `SELECT event_object_table || ' ' || trigger_name || ' ' || action_timing || ' ' || event_manipulation || ' ' || replace(action_statement, current_schema() || '.', '')
FROM information_schema.triggers WHERE trigger_schema = current_schema() ORDER BY 1`
			queries["functions"] = `SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') ' || p.prokind::text || ' ' ||
  CASE WHEN p.prokind IN ('f', 'p') THEN replace(pg_get_functiondef(p.oid), current_schema() || '.', '') ELSE '' END
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema() ORDER BY 1`
			queries["views"] = `SELECT table_name || ' ' || view_definition FROM information_schema.views WHERE table_schema = current_schema() ORDER BY table_name`
			queries["tables"] = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`
		} else {
			queries["schema"] = `SELECT type || ' ' || name || ' ' || tbl_name || ' ' || COALESCE(sql, '') FROM sqlite_master ORDER BY type, name`
			queries["tables"] = `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`
			for _, p := range []string{"journal_mode", "page_size", "auto_vacuum", "encoding", "user_version", "application_id"} {
				queries["pragma "+p] = `PRAGMA ` + p
			}
		}
		for k, q := range queries {
			out[k] = column(t, raw, q)
		}
		for _, table := range column(t, raw, queries["tables"]) {
			var n int
			if err := raw.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			out["rows of "+table] = []string{fmt.Sprint(n)}
		}
		return out
	}
	want := describe(dbtest.EmptyPath(t, "migrated-by-open.db"))
	got := describe(dbtest.Path(t, "from-template.db"))
	if len(want) < 10 {
		t.Fatalf("described %d things; want the schema", len(want))
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: missing from the template's database", k)
			continue
		}
		for _, l := range w {
			if !slices.Contains(g, l) {
				t.Errorf("%s: db.Open made %q, the template's database lacks it", k, l)
			}
		}
		for _, l := range g {
			if !slices.Contains(w, l) {
				t.Errorf("%s: the template's database has %q, db.Open made no such thing", k, l)
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: only in the template's database", k)
		}
	}
}

// column returns the single text column q selects.
func column(t *testing.T, raw *sql.DB, q string) []string {
	t.Helper()
	rows, err := raw.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v sql.NullString
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v.String)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
