package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL's side of the dialect, chosen by a postgres:// URL
// (LINKDESK_DATABASE_URL). The driver is pgx through database/sql, so that
// every Store method runs unchanged on either database: a thin wrapper
// around pgx's connections rewrites each statement (pgRewrite,
// postgres_sql.go), and a few encoders let the values SQLite takes
// loosely (a Go bool for an INTEGER 0/1 column, a number for a TEXT one)
// reach PostgreSQL's stricter types. The schema is migrations_pg/, kept in
// step with migrations/ by TestSchemas_Match.
//
// Every connection runs with synchronous_commit on (an acknowledged
// webhook is on the server's disk, whatever the server's default), in UTC,
// at READ COMMITTED. With several writers (connections and instances),
// a read that decides a write must lock what it read: the dialect's lock
// (an advisory transaction lock) and forUpdate (a row lock) are the tools;
// a conditional UPDATE or an upsert needs neither.

//go:embed migrations_pg/*.sql
var pgMigrationsFS embed.FS

// pgDialect is the dialect of a PostgreSQL database.
var pgDialect = dialect{
	name:       "postgres",
	migrations: pgMigrationsFS,
	migDir:     "migrations_pg",
	open:       openPostgres,
	isUnique:   pgIsCode("23505"),
	retryable: func(err error) bool {
		// serialization_failure, deadlock_detected: the transaction was
		// rolled back whole and may simply run again.
		return pgIsCode("40001")(err) || pgIsCode("40P01")(err)
	},
	isDeadlock: pgIsCode("40P01"),
	foldJobStates: `WITH d AS (DELETE FROM job_state_deltas RETURNING kind, state, n)
INSERT INTO job_state_counts (kind, state, n) SELECT kind, state, SUM(n) FROM d GROUP BY kind, state ORDER BY kind, state
ON CONFLICT (kind, state) DO UPDATE SET n = job_state_counts.n + excluded.n`,
	jsonText: func(column, path string) string {
		keys := strings.Split(strings.TrimPrefix(path, "$."), ".")
		return "(" + column + "::json #>> '{" + strings.Join(keys, ",") + "}')"
	},
	tuneWriter: func(context.Context, *sql.DB, int) error { return nil },
	lock: func(ctx context.Context, tx *sql.Tx, name string) error {
		// Keyed by schema too, so that databases sharing a server (or
		// tests sharing a database) never wait for each other.
		_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || ':' || ?, 0))`, name)
		return err
	},
	concurrentIngest: true,
	forUpdate:        " FOR UPDATE",
	jsonStrings:      "json_array_elements_text(CAST(? AS json)) AS j(value)",
	claimLock:        " FOR UPDATE SKIP LOCKED",
	// PostgreSQL has no secure_delete: an UPDATE or DELETE leaves the old
	// row version in the table until VACUUM removes it. scrub VACUUMs the
	// tables an erasure or a retention purge changed, so the old versions
	// leave the tables and their indexes at once (not whenever autovacuum
	// comes), without the exclusive lock of VACUUM FULL, which would stop
	// every instance. What that does not reach is said in README
	// (Retention and erasure on PostgreSQL): freed space is reused, not
	// zeroed, and WAL, replicas and backups keep older values until they
	// are recycled or expire.
	secureConn: func(context.Context, *sql.Conn) error { return nil },
	scrub: func(ctx context.Context, conn *sql.Conn, tables []string) error {
		if len(tables) == 0 {
			return nil
		}
		_, err := conn.ExecContext(withRawSQL(ctx), `VACUUM (SKIP_LOCKED) `+strings.Join(tables, ", "))
		return err
	},
	rewrite: func(context.Context, *sql.Conn) error { return nil },
}

// IsPostgresURL reports whether a database setting names a PostgreSQL
// server (postgres:// or postgresql://) rather than a SQLite file.
func IsPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// pgIsCode returns a test for a PostgreSQL error of SQLSTATE code.
func pgIsCode(code string) func(error) bool {
	return func(err error) bool {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.SQLState() == code
	}
}

// pgWriterConns is the writer pool's size: the ingester's committer, job
// claims and finishes, and staff actions each hold one for a transaction.
const pgWriterConns = 16

// openPostgres opens the writer pool, the read-only pool of pages and the
// read-only pool of exports on the database at url. (An export's memory is
// the server's business here: a query streams its rows.)
func openPostgres(url string, readers, exporters int, readOnly bool) (w, r, x *sql.DB, err error) {
	if w, err = openPGPool(url, readOnly); err != nil {
		return nil, nil, nil, err
	}
	w.SetMaxOpenConns(pgWriterConns)
	w.SetMaxIdleConns(pgWriterConns)
	if r, err = openPGPool(url, true); err != nil {
		w.Close()
		return nil, nil, nil, err
	}
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	if x, err = openPGPool(url, true); err != nil {
		w.Close()
		r.Close()
		return nil, nil, nil, err
	}
	x.SetMaxOpenConns(exporters)
	x.SetMaxIdleConns(exporters)
	return w, r, x, nil
}

// openPGPool opens a pool of rewriting connections; readOnly makes every
// transaction read-only.
func openPGPool(url string, readOnly bool) (*sql.DB, error) {
	cfg, err := pgConfig(url)
	if err != nil {
		return nil, err
	}
	if readOnly {
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	return sql.OpenDB(pgConnector{stdlib.GetConnector(*cfg, stdlib.OptionAfterConnect(func(_ context.Context, c *pgx.Conn) error {
		registerLooseCodecs(c.TypeMap())
		return nil
	}))}), nil
}

// pgConfig parses url and sets what every Linkdesk connection needs.
func pgConfig(url string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, errors.New("db: LINKDESK_DATABASE_URL is not a valid PostgreSQL URL")
	}
	cfg.RuntimeParams["synchronous_commit"] = "on"
	cfg.RuntimeParams["TimeZone"] = "UTC"
	// No Memoize nodes: Linkdesk's joins are a page of rows looking up
	// their account, end user and link token by primary key, but PostgreSQL
	// (15) sizes a Memoize cache from the row estimate of the join without
	// its LIMIT and builds and frees it on every execution: at 1M events
	// that made the 0.3 ms page of /events take 9–19 ms (docs/PERFORMANCE.md,
	// "PostgreSQL (issue 18)"). A plain nested loop does the same lookups.
	cfg.RuntimeParams["enable_memoize"] = "off"
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "linkdesk"
	}
	return cfg, nil
}

// Connect opens a plain pool on the database at path (a SQLite file or a
// postgres:// URL) that speaks the Store's SQL (? placeholders and all),
// without migrating anything: for tools (migrate-db) and tests that look
// under the Store.
func Connect(path string) (*sql.DB, error) {
	if IsPostgresURL(path) {
		return openPGPool(path, false)
	}
	return sql.Open("sqlite", sqliteDSN(path, sqliteWriter))
}

// rawSQLKey marks a context whose statements go to PostgreSQL as written
// (the PostgreSQL migrations are PostgreSQL's own SQL).
type rawSQLKey struct{}

func withRawSQL(ctx context.Context) context.Context {
	return context.WithValue(ctx, rawSQLKey{}, true)
}

func rewriteFor(ctx context.Context, q string) (string, error) {
	if ctx != nil && ctx.Value(rawSQLKey{}) != nil {
		return q, nil
	}
	return pgRewriteCached(q)
}

// pgConnector wraps pgx's connector so that each connection rewrites
// statements.
type pgConnector struct{ base driver.Connector }

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &pgConn{Conn: conn.(*stdlib.Conn)}, nil
}

func (c pgConnector) Driver() driver.Driver { return c.base.Driver() }

// registerLooseCodecs makes a connection accept what SQLite accepts: a
// bool for an integer (1 or 0, as Linkdesk stores flags), and a number or a
// bool for text (its decimal form, as SQLite's TEXT affinity stores it).
func registerLooseCodecs(m *pgtype.Map) {
	for _, t := range []struct {
		name string
		oid  uint32
		c    pgtype.Codec
	}{
		{"int8", pgtype.Int8OID, pgtype.Int8Codec{}},
		{"int4", pgtype.Int4OID, pgtype.Int4Codec{}},
		{"int2", pgtype.Int2OID, pgtype.Int2Codec{}},
		{"text", pgtype.TextOID, pgtype.TextCodec{}},
		{"varchar", pgtype.VarcharOID, pgtype.TextCodec{}},
	} {
		m.RegisterType(&pgtype.Type{Name: t.name, OID: t.oid, Codec: looseCodec{Codec: t.c, text: t.oid == pgtype.TextOID || t.oid == pgtype.VarcharOID}})
	}
}

type looseCodec struct {
	pgtype.Codec
	text bool
}

func (c looseCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	switch value.(type) {
	case bool:
		if c.text {
			return convertPlan{conv: func(v any) any { return strconv.Itoa(boolInt(v.(bool))) }, next: c.Codec.PlanEncode(m, oid, format, "")}
		}
		return convertPlan{conv: func(v any) any { return int64(boolInt(v.(bool))) }, next: c.Codec.PlanEncode(m, oid, format, int64(0))}
	case int64, int, int32, float64:
		if c.text {
			return convertPlan{conv: looseText, next: c.Codec.PlanEncode(m, oid, format, "")}
		}
	}
	return c.Codec.PlanEncode(m, oid, format, value)
}

func looseText(v any) any {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// convertPlan converts a value, then encodes it with next.
type convertPlan struct {
	conv func(any) any
	next pgtype.EncodePlan
}

func (p convertPlan) Encode(v any, buf []byte) ([]byte, error) {
	if p.next == nil {
		return nil, fmt.Errorf("db: cannot encode %T", v)
	}
	return p.next.Encode(p.conv(v), buf)
}
