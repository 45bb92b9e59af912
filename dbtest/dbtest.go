// Package dbtest gives each test a fresh database of the backend under
// test, so that the whole suite runs on SQLite (the default) and again on
// PostgreSQL: with LINKDESK_TEST_DATABASE_URL set to a PostgreSQL database
// server the tests may create databases on, Path returns the URL of a
// fresh database there (dropped when the test ends) instead of a file in a
// temp dir. db.Open takes either.
//
// A database from Path is already migrated: the first call of a test
// binary applies db's migrations once to a template (read from the source
// tree, db/migrations or db/migrations_pg, the way db.Open applies them),
// and each test gets its own copy of it (SQLite: the template's bytes
// written to its file; PostgreSQL: CREATE DATABASE ... TEMPLATE), so that
// db.Open finds every migration recorded and only does what it does on
// every start (keys, data migrations, audit chain). Migrating from
// nothing was most of a short test's time under -race and on PostgreSQL
// (see README, CI's time). Tests of the migrations
// themselves take EmptyPath (nothing in it), as PostgreSQL-only tests take
// Postgres; TestDBTest_TemplateIsWhatOpenMigrates (db) checks that a
// template database is what db.Open builds.
//
// Tests that only make sense on PostgreSQL (several instances on one
// database) call Postgres, which skips with one line when the variable is
// unset, and fails instead under REQUIRE_POSTGRES=1 (set by .ci/run).
// Nothing but tests imports it, and it imports nothing of Linkdesk's (db's
// own tests use it).
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// EnvURL names the variable that selects PostgreSQL for the tests.
const EnvURL = "LINKDESK_TEST_DATABASE_URL"

// OnPostgres reports whether the tests run on PostgreSQL.
func OnPostgres() bool { return os.Getenv(EnvURL) != "" }

// Path returns a fresh, migrated database of the test's own: the path of
// name in a temp dir, a copy of the migrated template (SQLite), or the URL
// of a new database made from the template (PostgreSQL).
func Path(t testing.TB, name string) string {
	t.Helper()
	if !OnPostgres() {
		return MigratedSQLite(t, filepath.Join(t.TempDir(), name))
	}
	return freshDatabase(t, os.Getenv(EnvURL))
}

// EmptyPath returns a fresh database with nothing in it, for tests of the
// migrations themselves: the path of name in a temp dir, no file there yet
// (SQLite), or the URL of a new empty schema (PostgreSQL).
func EmptyPath(t testing.TB, name string) string {
	t.Helper()
	if !OnPostgres() {
		return filepath.Join(t.TempDir(), name)
	}
	return freshSchema(t, os.Getenv(EnvURL))
}

// MigratedSQLite puts a migrated SQLite database, a copy of the template,
// at path (which must not exist) and returns path, whatever the backend
// under test: for tests that run linkdesk on a SQLite file of their own.
// Without the template (no source tree to read the migrations from) it
// leaves path alone, and db.Open migrates as usual.
func MigratedSQLite(t testing.TB, path string) string {
	t.Helper()
	img, err := sqliteTemplate()
	if err != nil {
		t.Fatalf("dbtest: SQLite template: %v", err)
	}
	if img == nil {
		return path
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	if _, err := f.Write(img); err != nil {
		f.Close()
		t.Fatalf("dbtest: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	return path
}

// Postgres returns the URL of a fresh, empty PostgreSQL schema for a test
// that needs PostgreSQL itself (db.Open migrates it). Without LINKDESK_TEST_DATABASE_URL it fails
// the test under REQUIRE_POSTGRES=1, and otherwise announces the skip and
// skips.
func Postgres(t testing.TB) string {
	t.Helper()
	if base := os.Getenv(EnvURL); base != "" {
		return freshSchema(t, base)
	}
	if os.Getenv("REQUIRE_POSTGRES") == "1" {
		t.Fatalf("PostgreSQL is required (REQUIRE_POSTGRES=1) but %s is not set", EnvURL)
	}
	msg := SkipLine(t.Name())
	if !testing.Verbose() {
		announce(msg)
	}
	t.Skip(msg)
	return ""
}

// SkipLine is the one line a skipped PostgreSQL test prints.
func SkipLine(test string) string {
	return fmt.Sprintf("SKIP %s: needs PostgreSQL (set %s, e.g. by .ci/run; REQUIRE_POSTGRES=1 makes this a failure)", test, EnvURL)
}

var admin struct {
	sync.Mutex
	dbs map[string]*sql.DB
}

// adminDB is one pool per base URL for creating and dropping schemas.
func adminDB(t testing.TB, base string) *sql.DB {
	admin.Lock()
	defer admin.Unlock()
	if d := admin.dbs[base]; d != nil {
		return d
	}
	d, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	d.SetMaxOpenConns(2)
	if admin.dbs == nil {
		admin.dbs = map[string]*sql.DB{}
	}
	admin.dbs[base] = d
	return d
}

// freshSchema creates an empty schema in the database at base and returns
// base with search_path set to it; the schema is dropped after the test.
func freshSchema(t testing.TB, base string) string {
	t.Helper()
	var b [8]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	d := adminDB(t, base)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := d.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("%s: create schema: %v", EnvURL, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := d.ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	return WithSearchPath(base, schema)
}

// WithSearchPath returns the URL base with its search_path set to schema.
func WithSearchPath(base, schema string) string {
	u, err := url.Parse(base)
	if err != nil || !strings.HasPrefix(u.Scheme, "postgres") {
		panic(fmt.Sprintf("dbtest: %s is not a postgres:// URL", EnvURL))
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// triggerDrop matches SQLite's DROP TRIGGER of an audit_log trigger.
var triggerDrop = regexp.MustCompile(`DROP TRIGGER (audit_log_\w+)`)

// Tamper returns q, a statement that tampers with the database at path
// behind the Store's back written for SQLite, as the database at path
// takes it: PostgreSQL's DROP TRIGGER names the table (audit_log's).
func Tamper(path, q string) string {
	if !strings.HasPrefix(path, "postgres") {
		return q
	}
	return triggerDrop.ReplaceAllString(q, "DROP TRIGGER $1 ON audit_log")
}

// RefuseInserts makes every INSERT into table of the database at path
// (a file or a URL from Path) fail, as a full disk or a broken database
// would, until the returned function is called.
func RefuseInserts(t testing.TB, path, table string) (restore func()) {
	t.Helper()
	name := "test_refuse_" + table
	driver, dsn := "sqlite", "file:"+path+"?_pragma=busy_timeout(10000)"
	create := `CREATE TRIGGER ` + name + ` BEFORE INSERT ON ` + table + ` BEGIN SELECT RAISE(ABORT, 'test: insert refused'); END`
	drop := `DROP TRIGGER ` + name
	if strings.HasPrefix(path, "postgres") {
		driver, dsn = "pgx", path
		create = `CREATE FUNCTION ` + name + `() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'test: insert refused'; END $$;
CREATE TRIGGER ` + name + ` BEFORE INSERT ON ` + table + ` FOR EACH ROW EXECUTE FUNCTION ` + name + `()`
		drop = `DROP TRIGGER ` + name + ` ON ` + table + `; DROP FUNCTION ` + name
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(create); err != nil {
		raw.Close()
		t.Fatal(err)
	}
	return func() {
		if _, err := raw.Exec(drop); err != nil {
			t.Error(err)
		}
		raw.Close()
	}
}

// announce shows msg although the test passes without -v (see
// browsertest: go test keeps a passing package's output to itself, so the
// line goes to the terminal when there is one, else to stderr).
func announce(msg string) {
	var w io.Writer = os.Stderr
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		w = tty
	}
	fmt.Fprintln(w, msg)
}
