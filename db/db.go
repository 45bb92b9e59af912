// Package db holds Linkdesk's own state: the Store, its embedded forward-only
// migrations, and one file per aggregate. Each exported Store method is one
// use case in one transaction.
//
// Two kinds of "link token" meet here, so names keep them apart. A Link is
// ours: a launch link staff create (table link_tokens, "tokens" in the UI
// at /tokens/{token_id}; Link.TokenID is our public id, Link.LaunchID the
// secret of its launch page). Anything named LinkTokenID is Pinwheel's
// link_token_id: a Mint is one Pinwheel token minted for a Link
// (link_token_mints), and link_tokens_seen counts what webhooks said about
// any Pinwheel token. Audit actions keep their stored names
// (link_token.minted, ...).
//
// What only SQLite speaks sits in sqlite.go, sqlite_checkpoint.go and sqlite_stmts.go,
// behind the few hooks of dialect.
package db

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// TimeFormat is how every timestamp is stored: RFC 3339 in UTC with a fixed
// number of fractional digits, so that text order equals time order and
// PostgreSQL can cast it to timestamptz.
const TimeFormat = "2006-01-02T15:04:05.000000Z"

// FormatTime renders t in TimeFormat (UTC).
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// ParseTime parses a stored timestamp; an empty string gives the zero time.
func ParseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// Options tune a Store. The zero value is production-ready.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PasswordCost is the bcrypt cost; 0 means 12. Tests may lower it.
	PasswordCost int
	// Readers is the size of the read-only connection pool of pages; 0
	// means NumCPU+2.
	Readers int
	// Exporters is the size of the read-only pool exports read from, apart
	// from the pages' pool so that downloads never take the connections
	// pages need; 0 means 2.
	Exporters int
	// EncryptionKey (32 bytes, the newest of LINKDESK_ENCRYPTION_KEY)
	// encrypts secrets at rest. Nil means a key generated once and kept in
	// the settings table: convenient, but weak (see initCrypto).
	EncryptionKey []byte
	// OldEncryptionKeys (the rest of LINKDESK_ENCRYPTION_KEY) decrypt what
	// they encrypted, until Reencrypt seals it with EncryptionKey.
	OldEncryptionKeys [][]byte
	// NoGeneratedKey is for tools that encrypt nothing (`linkdesk staff`):
	// without an EncryptionKey they read a stored key if there is one but
	// never generate and store one, so that running them against the
	// database of a server configured with LINKDESK_ENCRYPTION_KEY leaves
	// no key beside the data. Such a Store must not write encrypted values.
	NoGeneratedKey bool
	// AuditKey (32 bytes, from LINKDESK_AUDIT_KEY) keys the audit trail's
	// hash chain and signs evidence packs. Nil means a key generated once
	// and kept in the settings table (with NoGeneratedKey: a kept key if
	// there is one, else none, and the Store cannot append to the trail).
	AuditKey []byte
	// OldAuditKeys are older audit keys (LINKDESK_AUDIT_KEY's list after
	// the first): they verify what they keyed; a trail last keyed with one
	// of them moves to AuditKey with an audit.key_changed row.
	OldAuditKeys [][]byte
	// AuditAnchor is the anchor file the chain head is published to; ""
	// means the database path + ".audit-anchor".
	AuditAnchor string
	// ReadOnly opens the database for checking only (`linkdesk audit
	// verify`): no migration, no key generated or sealing row written,
	// and every connection refuses writes.
	ReadOnly bool
}

// Store is Linkdesk's database. Writes go through the writer pool, reads
// through a pool of read-only connections.
type Store struct {
	w    *sql.DB
	r    *sql.DB
	x    *sql.DB // exports only (exportChunks)
	d    dialect
	now  func() time.Time
	cost int
	path string
	keys *keyring
	// chain is the audit trail's keys and anchor (audit.go).
	chain *auditChain
	// notes fans out change notifications (notify.go); channel is the
	// PostgreSQL channel they travel on ("linkdesk:" and the schema).
	notes   notifier
	channel string
	// exclusive holds RunExclusive's locks on SQLite.
	exclusive sync.Map
	// dummy is compared against for an unknown email, at the same cost as
	// real hashes, so the response time does not reveal which emails have
	// accounts. It is made on first use (see burnDummyHash), not at Open:
	// a bcrypt hash at cost 12 is slow, and most Opens never need it.
	dummy     sync.Once
	dummyHash []byte
	// deadlocks counts transactions PostgreSQL ended with a deadlock (each
	// ran again): Deadlocks.
	deadlocks atomic.Int64
	// foldedAt is when this Store last folded job_state_deltas (jobs.go),
	// in Unix nanoseconds of the monotonic clock's wall reading.
	foldedAt atomic.Int64
}

// Deadlocks returns how many transactions of this Store PostgreSQL rolled
// back as deadlocked since Open (each ran again, up to txRetries times).
// None should: transactions that lock the same rows lock them in one order.
func (s *Store) Deadlocks() int64 { return s.deadlocks.Load() }

// burnDummyHash spends one bcrypt hash's time on password, as checking a
// real account's hash would. The first call makes the dummy hash (which
// costs the same as a comparison) and compares nothing.
func (s *Store) burnDummyHash(password string) {
	made := false
	s.dummy.Do(func() {
		s.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("linkdesk-dummy-password"), s.cost)
		made = true
	})
	if !made {
		bcrypt.CompareHashAndPassword(s.dummyHash, []byte(password))
	}
}

// dialect is what the Store does differently on each database: the few
// hooks the second one (PostgreSQL) supplies. The rest is portable SQL:
// explicit columns, ? placeholders, ON CONFLICT ... DO UPDATE / DO NOTHING,
// INSERT ... RETURNING id (never LastInsertId), standard SAVEPOINT syntax,
// row values, timestamps as RFC 3339 text, flags as INTEGER 0/1. On
// PostgreSQL each statement is rewritten on its way (postgres_sql.go:
// placeholders, LIKE, GLOB, SQLite's planner hints and the few functions
// that differ), so queries are written once. SQLite's values are in
// sqlite.go (its WAL checkpointer, sqlite_checkpoint.go, has no
// counterpart), PostgreSQL's in postgres.go.
type dialect struct {
	// name is "sqlite" or "postgres".
	name string
	// migrations holds the dialect's migrations under migDir, one file per
	// name in both sets (TestSchemas_Match).
	migrations fs.FS
	migDir     string
	// open returns the writer pool, the read-only pool of pages and the
	// read-only pool of exports (at most exporters connections); with
	// readOnly, a writer that refuses writes too.
	open func(path string, readers, exporters int, readOnly bool) (w, r, x *sql.DB, err error)
	// isUnique reports whether err is a unique or primary-key violation.
	isUnique func(err error) bool
	// retryable reports an error after which the whole transaction may
	// run again (PostgreSQL's serialization failures and deadlocks); tx
	// does so.
	retryable func(err error) bool
	// isDeadlock reports a deadlock (nil where there are none: SQLite).
	isDeadlock func(err error) bool
	// foldJobStates moves job_state_deltas into job_state_counts
	// (foldJobStateDeltas); "" where the triggers write the counts
	// directly (SQLite).
	foldJobStates string
	// jsonText is the SQL expression of the value at path ("$.a.b") of a
	// JSON text column, NULL when absent.
	jsonText func(column, path string) string
	// jsonStrings is a table expression of the strings of one JSON array
	// (the parameter ?), as rows of column value, aliased j.
	jsonStrings string
	// tuneWriter sizes the writer's memory for the group-commit committer
	// (NewIngester); cacheKiB is its page cache.
	tuneWriter func(ctx context.Context, w *sql.DB, cacheKiB int) error
	// lock takes the named lock until tx ends, serializing the
	// transactions that take it (the audit chain's appends, migrations,
	// single-runner tasks). A no-op where one writer serializes every
	// transaction anyway (SQLite).
	lock func(ctx context.Context, tx *sql.Tx, name string) error
	// concurrentIngest: several ingest batches may run at once, each
	// taking the "ingest" lock only for its last part (ingest.go,
	// "Several writers"; PostgreSQL). Without it (SQLite) a batch's
	// statements run in its order under the one writer.
	concurrentIngest bool
	// forUpdate ends a SELECT whose rows the transaction goes on to change
	// from what it read: "" on SQLite (one writer), " FOR UPDATE" on
	// PostgreSQL (several).
	forUpdate string
	// claimLock ends the subquery that picks the jobs a claim leases
	// (jobs.go): "" where one writer serializes claims (SQLite), " FOR
	// UPDATE SKIP LOCKED" where concurrent claims must skip each other's
	// rows (PostgreSQL).
	claimLock string
	// Secure deletion (retention.go, erasure.go). secureConn readies conn
	// for a transaction whose deletes and overwrites must not leave the
	// old values behind; scrub, after such transactions committed, removes
	// the old versions of the rows of tables still lingering in the
	// database's files; rewrite, after the first erasure, rewrites the
	// whole database. See each dialect for what it does and guarantees.
	secureConn func(ctx context.Context, conn *sql.Conn) error
	scrub      func(ctx context.Context, conn *sql.Conn, tables []string) error
	rewrite    func(ctx context.Context, conn *sql.Conn) error
}

// Backend names the database a Store runs on: "sqlite" or "postgres".
func (s *Store) Backend() string { return s.d.name }

// Open opens the database at path and applies the migrations: a
// postgres:// (or postgresql://) URL opens that PostgreSQL database,
// anything else is a SQLite file, created when missing.
func Open(ctx context.Context, path string, opt Options) (*Store, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.PasswordCost == 0 {
		opt.PasswordCost = 12
	}
	if opt.Readers == 0 {
		opt.Readers = runtime.NumCPU() + 2
	}
	if opt.Exporters == 0 {
		opt.Exporters = 2
	}
	s := &Store{d: sqliteDialect, now: opt.Now, cost: opt.PasswordCost, path: path}
	if IsPostgresURL(path) {
		s.d = pgDialect
	}
	var err error
	if s.w, s.r, s.x, err = s.d.open(path, opt.Readers, opt.Exporters, opt.ReadOnly); err != nil {
		return nil, fmt.Errorf("db: open: %w", err)
	}
	if opt.ReadOnly {
		if err := s.initReadOnly(ctx, opt.AuditKey, opt.OldAuditKeys, opt.AuditAnchor); err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if s.d.name == pgDialect.name {
		var schema string
		if err := s.w.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			s.Close()
			return nil, fmt.Errorf("db: open: %w", err)
		}
		s.channel = "linkdesk:" + schema
	}
	if err := s.initCrypto(ctx, opt.EncryptionKey, opt.OldEncryptionKeys, !opt.NoGeneratedKey); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.runDataMigrations(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.initAudit(ctx, opt.AuditKey, opt.OldAuditKeys, !opt.NoGeneratedKey, opt.AuditAnchor); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close closes both pools.
func (s *Store) Close() error {
	s.stopListening()
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.x != nil {
		errs = append(errs, s.x.Close())
	}
	errs = append(errs, s.w.Close())
	return errors.Join(errs...)
}

// Path is the file (or PostgreSQL URL) the Store was opened on.
func (s *Store) Path() string { return s.path }

// Now is the Store's clock, exposed so that handlers and workers share it.
func (s *Store) Now() time.Time { return s.now().UTC() }

// Stats returns pool statistics of the writer and reader pools, for metrics.
func (s *Store) Stats() (writer, readers sql.DBStats) { return s.w.Stats(), s.r.Stats() }

// ExportStats returns pool statistics of the exports' reader pool.
func (s *Store) ExportStats() sql.DBStats { return s.x.Stats() }

// Ready reports whether the database answers and every embedded migration is
// applied.
func (s *Store) Ready(ctx context.Context) error {
	names, err := s.d.migrationNames()
	if err != nil {
		return err
	}
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		return fmt.Errorf("db: ready: %w", err)
	}
	if n < len(names) {
		return fmt.Errorf("db: ready: %d of %d migrations applied", n, len(names))
	}
	return nil
}

func (d dialect) migrationNames() ([]string, error) {
	names, err := fs.Glob(d.migrations, d.migDir+"/*.sql")
	if err != nil {
		return nil, fmt.Errorf("db: list migrations: %w", err)
	}
	sort.Strings(names)
	return names, nil
}

// migrate applies each embedded migration not yet recorded, one transaction
// each, in file-name order. Migrations are forward-only: to fix a mistake,
// add a new file. Instances that start together on one PostgreSQL database
// take turns (the dialect's lock), and each applies what the others have
// not.
func (s *Store) migrate(ctx context.Context) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.d.lock(ctx, tx, "migrate"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("db: create schema_migrations: %w", err)
	}
	names, err := s.d.migrationNames()
	if err != nil {
		return err
	}
	for _, name := range names {
		base := path.Base(name)
		body, err := fs.ReadFile(s.d.migrations, name)
		if err != nil {
			return fmt.Errorf("db: read migration %s: %w", base, err)
		}
		err = s.tx(ctx, func(tx *sql.Tx) error {
			if err := s.d.lock(ctx, tx, "migrate"); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = ?`, base).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(withRawSQL(ctx), string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`, base, FormatTime(s.now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("db: migration %s: %w", base, err)
		}
	}
	return nil
}

// txRetries is how many times tx runs a transaction that the database
// rolled back for a retryable reason (see dialect.retryable).
const txRetries = 5

// tx runs fn in a write transaction: Begin, deferred Rollback, Commit. On
// PostgreSQL a transaction that lost a deadlock or a serialization check
// runs again from the start, so fn must set (not accumulate) what it
// returns through its closure.
func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.tx1(ctx, fn)
		if err != nil && s.d.isDeadlock != nil && s.d.isDeadlock(err) {
			s.deadlocks.Add(1)
		}
		if err == nil || attempt == txRetries || !s.d.retryable(err) || ctx.Err() != nil {
			return err
		}
	}
}

func (s *Store) tx1(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { s.settle(tx, err == nil) }() // notifications (notify.go)
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		s.txDone(tx, false)
		return err
	}
	err = tx.Commit()
	s.txDone(tx, err == nil)
	return err
}

// rtx runs fn in a read-only transaction on the reader pool, so that several
// queries see one snapshot.
func (s *Store) rtx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(tx)
}

// Errors returned by Store methods. Handlers map them to HTTP statuses.
var (
	// ErrNotFound means the row asked for does not exist.
	ErrNotFound = errors.New("db: not found")
	// ErrConflict means a unique constraint refused the change.
	ErrConflict = errors.New("db: conflict")
)

// FieldErrors maps a form field name to a message a person can act on.
type FieldErrors map[string]string

func (f FieldErrors) Error() string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + f[k]
	}
	return "db: invalid input: " + strings.Join(parts, "; ")
}

// notFound maps sql.ErrNoRows to ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sqlParams is n comma-separated placeholders, for IN (...).
func sqlParams(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// sortedUniq returns s sorted without repeats.
func sortedUniq(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// stringOr returns s, or def when s is empty.
func stringOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
