package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite's side of the dialect: the connection string and its pragmas, the
// two pools, its error codes, its JSON function and the memory knobs of the
// group-commit writer and of exports. Its WAL checkpointer is in
// sqlite_checkpoint.go, the statements each connection keeps prepared in
// sqlite_stmts.go.

// sqliteDialect is the dialect of a SQLite file (modernc.org/sqlite, pure Go).
var sqliteDialect = dialect{
	name:       "sqlite",
	migrations: migrationsFS,
	migDir:     "migrations",
	open:       openSQLite,
	retryable:  func(error) bool { return false },
	lock:       func(context.Context, *sql.Tx, string) error { return nil },
	isUnique:   sqliteIsUnique,
	jsonText:   func(column, path string) string { return "json_extract(" + column + ", '" + path + "')" },
	tuneWriter: func(ctx context.Context, w *sql.DB, cacheKiB int) error {
		// The writer pool holds exactly one connection that lives as long
		// as the Store, so these reach the connection the committer uses.
		_, err := w.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = -%d; PRAGMA mmap_size = 0", cacheKiB))
		return err
	},
	// The single writer connection serializes claims and every
	// read-then-write: no row lock needed.
	forUpdate: "",
	// json_each's value of a JSON string is its text.
	jsonStrings: "json_each(?) AS j",
	claimLock:   "",
	// secure_delete zeroes what a transaction deletes or overwrites; the
	// WAL's older page images go with a TRUNCATE checkpoint; VACUUM
	// rewrites the file (for values deleted before secure_delete).
	secureConn: func(ctx context.Context, conn *sql.Conn) error {
		_, err := conn.ExecContext(ctx, `PRAGMA secure_delete = ON`)
		return err
	},
	scrub: func(ctx context.Context, conn *sql.Conn, _ []string) error { return checkpointTruncate(ctx, conn) },
	rewrite: func(ctx context.Context, conn *sql.Conn) error {
		if _, err := conn.ExecContext(ctx, `VACUUM`); err != nil {
			return err
		}
		return checkpointTruncate(ctx, conn)
	},
}

// The page cache and memory map of every pooled connection.
const (
	sqliteCacheKiB  = 64 << 10
	sqliteMmapBytes = 256 << 20
)

// openSQLite opens the file at path: one writer connection (SQLite allows
// one writer at a time; queuing in Go is cheaper than busy-waiting in
// SQLite), a pool of read-only connections for pages, and a small pool of
// read-only connections of its own for exports (see exportChunks).
//
// An export connection neither maps the file nor keeps a large page
// cache: a page's connection maps the file (mmap_size) and caches 64 MiB
// of pages, which is speed for a list page, but a whole-table export would
// map and cache the whole file and the resident set would grow by hundreds
// of MiB. Exports read through the OS page cache with a small private cache
// instead, so their memory stays flat.
//
// With readOnly (a check of the file, `linkdesk audit verify`) the writer
// refuses writes too. Every connection keeps its recent statements
// prepared (sqlite_stmts.go).
func openSQLite(path string, readers, exporters int, readOnly bool) (w, r, x *sql.DB, err error) {
	writer := sqliteWriter
	if readOnly {
		writer = sqliteReader
	}
	drv := &sqlite.Driver{}
	open := func(kind int) *sql.DB { return sql.OpenDB(sqliteConnector{dsn: sqliteDSN(path, kind), drv: drv}) }
	w = open(writer)
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	r = open(sqliteReader)
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	x = open(sqliteExporter)
	x.SetMaxOpenConns(exporters)
	x.SetMaxIdleConns(exporters)
	return w, r, x, nil
}

// The three kinds of connection sqliteDSN makes.
const (
	sqliteWriter = iota
	sqliteReader
	sqliteExporter
)

// sqliteDSN builds the connection string. Pragmas live in the DSN so that
// every pooled connection gets them. The writer uses synchronous=FULL: an
// acknowledged webhook must survive a power cut, and group commit keeps that
// cheap. Its transactions take the write lock when they begin
// (_txlock=immediate), so two never deadlock upgrading. It zeroes what it
// deletes or overwrites (secure_delete), so that a value removed by
// retention or erasure does not live on in the file's free space: the cost
// is a memset on pages being written anyway, and zero-filled pages when
// whole pages are freed, which Linkdesk rarely does. Readers are
// query_only.
func sqliteDSN(path string, kind int) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	if kind == sqliteWriter {
		q.Add("_pragma", "synchronous(FULL)")
		q.Add("_pragma", "secure_delete(on)")
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	if kind == sqliteExporter {
		q.Add("_pragma", "cache_size(-4096)")
		q.Add("_pragma", "mmap_size(0)")
	} else {
		q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", sqliteCacheKiB))
		q.Add("_pragma", fmt.Sprintf("mmap_size(%d)", sqliteMmapBytes))
	}
	q.Add("_pragma", "temp_store(MEMORY)")
	return "file:" + path + "?" + q.Encode()
}

// sqliteIsUnique reports whether err is a SQLite UNIQUE or PRIMARY KEY
// violation.
func sqliteIsUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// migrationNames lists SQLite's migrations (the tests that build an old
// database read them).
func migrationNames() ([]string, error) { return sqliteDialect.migrationNames() }
