package db

import (
	"context"
	"database/sql"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"

	"linkdesk/dbtest"
)

// TestSchemas_TwinMigrations needs no server: every SQLite migration has a
// PostgreSQL twin of the same name in migrations_pg/ (and the other way
// round, but for PostgreSQL-only files named NNN_postgres_*.sql), so a
// migration added on one side alone fails here, naming the file to write.
func TestSchemas_TwinMigrations(t *testing.T) {
	lite, err := sqliteDialect.migrationNames()
	if err != nil {
		t.Fatal(err)
	}
	pg, err := pgDialect.migrationNames()
	if err != nil {
		t.Fatal(err)
	}
	base := func(names []string) []string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = path.Base(n)
		}
		return out
	}
	lite, pg = base(lite), base(pg)
	for _, n := range lite {
		if !slices.Contains(pg, n) {
			t.Errorf("migrations/%s has no PostgreSQL twin: write db/migrations_pg/%s (the same tables, columns and indexes in PostgreSQL's SQL; see docs/ARCHITECTURE.md, A new table)", n, n)
		}
	}
	for _, n := range pg {
		if !slices.Contains(lite, n) && !strings.Contains(n, "_postgres_") {
			t.Errorf("migrations_pg/%s has no SQLite twin in migrations/ (a PostgreSQL-only migration is named NNN_postgres_*.sql)", n)
		}
	}
}

// TestSchemas_Match applies both migration sets and compares what they
// built: the same tables with the same columns (name, kind of type, NOT
// NULL) and the same named indexes. Each difference is one error naming
// the table and column, so after a feature lands this test lists exactly
// what its PostgreSQL twin still lacks.
func TestSchemas_Match(t *testing.T) {
	url := dbtest.Postgres(t)
	ctx := context.Background()
	lite, err := Open(ctx, t.TempDir()+"/schema.db", Options{PasswordCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	pg, err := Open(ctx, url, Options{PasswordCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()

	ls, err := sqliteSchema(ctx, lite.r)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := pgSchema(ctx, pg.r)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffSchemas(ls, ps) {
		t.Error(d)
	}
}

// schema is tables → columns → "kind notnull", plus index names and the
// declared foreign keys (tableRef.String()). On PostgreSQL, undeclared are
// the references migration 086's delete triggers keep instead.
type schema struct {
	tables     map[string]map[string]string
	indexes    map[string]string // name → table
	refs       map[string]bool
	undeclared map[string]bool
}

// typeKind reduces a declared type to what both databases agree on.
func typeKind(decl string) string {
	d := strings.ToLower(decl)
	switch {
	case strings.Contains(d, "int"):
		return "integer"
	case strings.Contains(d, "char"), strings.Contains(d, "text"), strings.Contains(d, "clob"):
		return "text"
	case strings.Contains(d, "real"), strings.Contains(d, "double"), strings.Contains(d, "float"), strings.Contains(d, "numeric"):
		return "real"
	case strings.Contains(d, "blob"), strings.Contains(d, "bytea"):
		return "blob"
	}
	return d
}

func sqliteSchema(ctx context.Context, db *sql.DB) (schema, error) {
	s := schema{tables: map[string]map[string]string{}, indexes: map[string]string{}}
	rows, err := db.QueryContext(ctx, `SELECT type, name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return s, err
	}
	var tables []string
	for rows.Next() {
		var typ, name, tbl string
		if err := rows.Scan(&typ, &name, &tbl); err != nil {
			rows.Close()
			return s, err
		}
		if typ == "table" {
			tables = append(tables, name)
		} else {
			s.indexes[name] = tbl
		}
	}
	rows.Close()
	s.refs = map[string]bool{}
	for _, tbl := range tables {
		fks, err := db.QueryContext(ctx, `SELECT "table", "from" FROM pragma_foreign_key_list(?)`, tbl)
		if err != nil {
			return s, err
		}
		for fks.Next() {
			var parent, col string
			if err := fks.Scan(&parent, &col); err != nil {
				fks.Close()
				return s, err
			}
			s.refs[tableRef{tbl, col, parent}.String()] = true
		}
		fks.Close()
	}
	for _, tbl := range tables {
		cols := map[string]string{}
		rows, err := db.QueryContext(ctx, `SELECT name, type, "notnull", pk FROM pragma_table_info(?)`, tbl)
		if err != nil {
			return s, err
		}
		for rows.Next() {
			var name, typ string
			var notNull, pk int
			if err := rows.Scan(&name, &typ, &notNull, &pk); err != nil {
				rows.Close()
				return s, err
			}
			// A primary key column is NOT NULL on PostgreSQL, and in
			// effect on SQLite (an INTEGER PRIMARY KEY is the rowid).
			cols[name] = fmt.Sprintf("%s notnull=%v", typeKind(typ), notNull == 1 || pk > 0)
		}
		rows.Close()
		s.tables[tbl] = cols
	}
	return s, nil
}

func pgSchema(ctx context.Context, db *sql.DB) (schema, error) {
	s := schema{tables: map[string]map[string]string{}, indexes: map[string]string{}}
	rows, err := db.QueryContext(ctx, `SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`)
	if err != nil {
		return s, err
	}
	for rows.Next() {
		var tbl, col, typ, nullable string
		if err := rows.Scan(&tbl, &col, &typ, &nullable); err != nil {
			rows.Close()
			return s, err
		}
		if s.tables[tbl] == nil {
			s.tables[tbl] = map[string]string{}
		}
		s.tables[tbl][col] = fmt.Sprintf("%s notnull=%v", typeKind(typ), nullable == "NO")
	}
	rows.Close()
	// Indexes made for a PRIMARY KEY or UNIQUE constraint are named by
	// PostgreSQL (SQLite's are sqlite_autoindex_*, left out above).
	rows, err = db.QueryContext(ctx, `SELECT i.indexname, i.tablename FROM pg_indexes i
WHERE i.schemaname = current_schema() AND NOT EXISTS (
  SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.connamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()))`)
	if err != nil {
		return s, err
	}
	for rows.Next() {
		var name, tbl string
		if err := rows.Scan(&name, &tbl); err != nil {
			rows.Close()
			return s, err
		}
		s.indexes[name] = tbl
	}
	rows.Close()
	// Single-column foreign keys (Linkdesk declares no other kind).
	rows, err = db.QueryContext(ctx, `SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text
FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
WHERE c.contype = 'f' AND c.connamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())`)
	if err != nil {
		return s, err
	}
	s.refs = map[string]bool{}
	for rows.Next() {
		var r tableRef
		if err := rows.Scan(&r.Table, &r.Column, &r.Parent); err != nil {
			rows.Close()
			return s, err
		}
		s.refs[r.String()] = true
	}
	rows.Close()
	// The references kept by linkdesk_restrict_delete triggers: their
	// arguments are (table, column) pairs, NUL-separated in tgargs.
	rows, err = db.QueryContext(ctx, `SELECT t.tgrelid::regclass::text, CASE WHEN t.tgtype & 32 <> 0 THEN 'truncate' ELSE 'delete' END, encode(t.tgargs, 'escape') FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
WHERE p.proname = 'linkdesk_restrict_delete' AND t.tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()))`)
	if err != nil {
		return s, err
	}
	s.undeclared = map[string]bool{}
	for rows.Next() {
		var parent, op, args string
		if err := rows.Scan(&parent, &op, &args); err != nil {
			rows.Close()
			return s, err
		}
		a := strings.Split(strings.TrimSuffix(args, `\000`), `\000`)
		for i := 0; i+1 < len(a); i += 2 {
			s.undeclared[op+" "+tableRef{a[i], a[i+1], parent}.String()] = true
		}
	}
	rows.Close()
	return s, rows.Err()
}

// diffSchemas lists every difference, sorted.
func diffSchemas(lite, pg schema) []string {
	var out []string
	for tbl, lcols := range lite.tables {
		pcols, ok := pg.tables[tbl]
		if !ok {
			out = append(out, fmt.Sprintf("table %s: on SQLite, missing on PostgreSQL", tbl))
			continue
		}
		for col, lt := range lcols {
			pt, ok := pcols[col]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("table %s: column %s (%s) missing on PostgreSQL", tbl, col, lt))
			case pt != lt:
				out = append(out, fmt.Sprintf("table %s: column %s is %s on SQLite but %s on PostgreSQL", tbl, col, lt, pt))
			}
		}
		for col, pt := range pcols {
			if _, ok := lcols[col]; !ok {
				out = append(out, fmt.Sprintf("table %s: column %s (%s) on PostgreSQL only", tbl, col, pt))
			}
		}
	}
	for tbl := range pg.tables {
		if _, ok := lite.tables[tbl]; !ok {
			out = append(out, fmt.Sprintf("table %s: on PostgreSQL only", tbl))
		}
	}
	for name, tbl := range lite.indexes {
		if pt, ok := pg.indexes[name]; !ok {
			out = append(out, fmt.Sprintf("index %s on %s: missing on PostgreSQL", name, tbl))
		} else if pt != tbl {
			out = append(out, fmt.Sprintf("index %s: on %s on SQLite but on %s on PostgreSQL", name, tbl, pt))
		}
	}
	for name, tbl := range pg.indexes {
		if _, ok := lite.indexes[name]; !ok {
			out = append(out, fmt.Sprintf("index %s on %s: on PostgreSQL only", name, tbl))
		}
	}
	// A foreign key of SQLite is declared on PostgreSQL too, or is one of
	// ingestRefs, which migration 086's triggers keep.
	listed := map[string]bool{}
	for _, r := range ingestRefs {
		listed[r.String()] = true
	}
	for r := range lite.refs {
		switch {
		case pg.refs[r] && listed[r]:
			out = append(out, fmt.Sprintf("reference %s: declared on PostgreSQL but listed in ingestRefs", r))
		case !pg.refs[r] && !listed[r]:
			out = append(out, fmt.Sprintf("reference %s: a foreign key on SQLite, missing on PostgreSQL", r))
		case listed[r]:
			for _, op := range []string{"delete", "truncate"} {
				if !pg.undeclared[op+" "+r] {
					out = append(out, fmt.Sprintf("reference %s: in ingestRefs, but no linkdesk_restrict_delete trigger keeps it on %s on PostgreSQL", r, op))
				}
			}
		}
	}
	for r := range pg.refs {
		if !lite.refs[r] {
			out = append(out, fmt.Sprintf("reference %s: a foreign key on PostgreSQL only", r))
		}
	}
	for k := range pg.undeclared {
		if op, r, _ := strings.Cut(k, " "); !listed[r] {
			out = append(out, fmt.Sprintf("reference %s: kept by a PostgreSQL %s trigger but not in ingestRefs", r, op))
		}
	}
	for r := range listed {
		if !lite.refs[r] {
			out = append(out, fmt.Sprintf("reference %s: in ingestRefs but not a foreign key on SQLite", r))
		}
	}
	slices.Sort(out)
	return out
}
