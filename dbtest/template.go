package dbtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// The template is built by applying the migration files the way db's
// migrate does: schema_migrations (name, applied_at), then each file in
// name order in a transaction of its own, recorded by its base name. The
// runner is repeated here because db's own tests import dbtest (so dbtest
// cannot import db); TestDBTest_TemplateIsWhatOpenMigrates in db fails
// when the two drift apart. runnerVersion goes into the PostgreSQL
// template's name: change it when the way of building changes.
const runnerVersion = "1"

// timeFormat is db.TimeFormat.
const timeFormat = "2006-01-02T15:04:05.000000Z"

// migration is one migration file.
type migration struct{ name, body string }

// migrations reads the files of db/<dir> from the source tree (next to
// this file). ok is false when there is no source tree to read (a binary
// built with -trimpath): then there is no template, and tests migrate.
func migrations(dir string) (ms []migration, ok bool, err error) {
	_, file, _, known := runtime.Caller(0)
	if !known || !filepath.IsAbs(file) {
		return nil, false, nil
	}
	root := filepath.Join(filepath.Dir(file), "..", "db", dir)
	names, err := filepath.Glob(filepath.Join(root, "*.sql"))
	if err != nil {
		return nil, false, err
	}
	if len(names) == 0 {
		return nil, false, nil
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, false, err
		}
		ms = append(ms, migration{filepath.Base(n), string(b)})
	}
	return ms, true, nil
}

// apply runs the migrations on d as db's migrate does; dollar selects
// PostgreSQL's placeholders.
func apply(ctx context.Context, d *sql.DB, ms []migration, dollar bool) error {
	if _, err := d.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return err
	}
	insert := `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`
	if dollar {
		insert = `INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)`
	}
	for _, m := range ms {
		tx, err := d.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, m.body); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, insert, m.name, time.Now().UTC().Format(timeFormat)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

// sqliteImage is the migrated SQLite template: the bytes of its file,
// built once per test binary and kept in memory (nil: no template).
var sqliteImage struct {
	once sync.Once
	img  []byte
	err  error
}

func sqliteTemplate() ([]byte, error) {
	sqliteImage.once.Do(func() { sqliteImage.img, sqliteImage.err = buildSQLite() })
	return sqliteImage.img, sqliteImage.err
}

func buildSQLite() ([]byte, error) {
	ms, ok, err := migrations("migrations")
	if err != nil || !ok {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "linkdesk-dbtest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "template.db")
	// The pragmas that stay with the file are db's (WAL); synchronous
	// is off while building: the file is read back once, not kept.
	d, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(OFF)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	d.SetMaxOpenConns(1)
	ctx := context.Background()
	if err := apply(ctx, d, ms, false); err != nil {
		d.Close()
		return nil, err
	}
	if _, err := d.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.Close(); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

// pgTemplates are the template databases, one per base URL: its name, ""
// when there is none (no source tree, or the role may not create
// databases: then each test gets an empty schema and db.Open migrates).
var pgTemplates struct {
	sync.Mutex
	names map[string]*pgTemplate
}

type pgTemplate struct {
	once sync.Once
	name string
	err  error
}

// templateFor returns the name of the template database on the server of
// base, building it when the server has none for these migrations. Its
// name holds a hash of the migrations, so test binaries (and runs) share
// it: it stays on the server (one per set of migrations, a few MB;
// .ci/run's cluster is thrown away). Binaries that start together take
// turns on an advisory lock, and a template is renamed into place only
// when complete.
func templateFor(base string) (string, error) {
	pgTemplates.Lock()
	if pgTemplates.names == nil {
		pgTemplates.names = map[string]*pgTemplate{}
	}
	tp := pgTemplates.names[base]
	if tp == nil {
		tp = &pgTemplate{}
		pgTemplates.names[base] = tp
	}
	pgTemplates.Unlock()
	tp.once.Do(func() { tp.name, tp.err = buildPG(base) })
	return tp.name, tp.err
}

func buildPG(base string) (string, error) {
	ms, ok, err := migrations("migrations_pg")
	if err != nil || !ok {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "runner %s\x00", runnerVersion)
	for _, m := range ms {
		fmt.Fprintf(h, "%s\x00%s\x00", m.name, m.body)
	}
	name := "linkdesk_template_" + hex.EncodeToString(h.Sum(nil))[:16]

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return "", err
	}
	defer admin.Close()
	conn, err := admin.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 0))`, name); err != nil {
		return "", err
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, name)
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil {
		return "", err
	}
	if n > 0 {
		return name, nil
	}
	build := name + "_" + randomHex(4)
	if _, err := conn.ExecContext(ctx, `CREATE DATABASE `+build); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.SQLState() == "42501" { // insufficient_privilege
			return "", nil
		}
		return "", err
	}
	built := false
	defer func() {
		if !built {
			conn.ExecContext(context.Background(), `DROP DATABASE IF EXISTS `+build+` WITH (FORCE)`)
		}
	}()
	d, err := sql.Open("pgx", onDatabase(base, build, "TimeZone", "UTC"))
	if err != nil {
		return "", err
	}
	err = apply(ctx, d, ms, true)
	d.Close()
	if err != nil {
		return "", err
	}
	// Nobody connects to the template (CREATE DATABASE ... TEMPLATE
	// refuses a template in use), and it appears whole or not at all.
	if _, err := conn.ExecContext(ctx, `ALTER DATABASE `+build+` WITH ALLOW_CONNECTIONS false`); err != nil {
		return "", err
	}
	if _, err := conn.ExecContext(ctx, `ALTER DATABASE `+build+` RENAME TO `+name); err != nil {
		return "", err
	}
	built = true
	return name, nil
}

// freshDatabase makes a database of the test's own from the template on
// the server of base and returns its URL; it is dropped after the test.
// Without a template it falls back to an empty schema (freshSchema).
func freshDatabase(t testing.TB, base string) string {
	t.Helper()
	tmpl, err := templateFor(base)
	if err != nil {
		t.Fatalf("dbtest: PostgreSQL template: %v", err)
	}
	if tmpl == "" {
		return freshSchema(t, base)
	}
	name := "t_" + randomHex(8)
	d := adminDB(t, base)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := d.ExecContext(ctx, `CREATE DATABASE `+name+` TEMPLATE `+tmpl); err != nil {
		t.Fatalf("%s: create database: %v", EnvURL, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// WITH (FORCE) ends what the test left connected (PostgreSQL 13+).
		if _, err := d.ExecContext(ctx, `DROP DATABASE `+name+` WITH (FORCE)`); err != nil {
			if _, err2 := d.ExecContext(ctx, `DROP DATABASE `+name); err2 != nil {
				t.Logf("drop database %s: %v", name, err)
			}
		}
	})
	return onDatabase(base, name)
}

// onDatabase returns base naming database name instead of its own, with
// the parameters of set (name, value, ...) set.
func onDatabase(base, name string, set ...string) string {
	u, err := url.Parse(base)
	if err != nil || !strings.HasPrefix(u.Scheme, "postgres") {
		panic(fmt.Sprintf("dbtest: %s is not a postgres:// URL", EnvURL))
	}
	u.Path = "/" + name
	q := u.Query()
	q.Del("dbname")
	q.Del("search_path")
	for i := 0; i+1 < len(set); i += 2 {
		q.Set(set[i], set[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
