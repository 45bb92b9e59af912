package db

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Pipelining.
//
// Every statement sent to PostgreSQL waits a round trip: the server
// process has to be scheduled, run it and answer before Go sends the next.
// The ingest path runs about eight small statements per webhook, and on a
// busy machine the round trips, not the work, set its pace. Most of those
// statements return nothing the code reads (an UPDATE of a counter, a
// SAVEPOINT, an INSERT of a history row), so under a context marked
// withPipeline such an Exec is only queued on the connection; the next
// statement that returns rows (or the commit) sends the queue and itself in
// one round trip (pgx's batch), and reads their results in order. An
// error of a queued statement is therefore reported by a later statement
// or the commit, not by its own Exec, and its RowsAffected is unknown (0):
// only code that treats any error as the whole transaction's may pipeline
// (the ingester's first attempt at a batch, ingest.go). SQLite ignores the
// marker.

type pipelineKey struct{}

// withPipeline marks ctx: Execs under it may be queued (see above).
func withPipeline(ctx context.Context) context.Context {
	return context.WithValue(ctx, pipelineKey{}, true)
}

func pipelined(ctx context.Context) bool { return ctx != nil && ctx.Value(pipelineKey{}) != nil }

type queued struct {
	sql  string
	args []any
}

// pgConn is a pgx connection that rewrites what it is given and can queue
// Execs (pipelining). Values pass through as they are (pgx's
// CheckNamedValue), to the loose encoders.
type pgConn struct {
	*stdlib.Conn
	queue []queued
}

func namedArgs(args []driver.NamedValue) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a.Value
	}
	return out
}

// Plans made for the arguments.
//
// pgx prepares each statement once per connection, and after five
// executions PostgreSQL may keep one generic plan for it, made from the
// statistics of that moment. For a table that was small then (a new
// database, before autovacuum's first ANALYZE a minute later) that plan is
// a sequential scan, and it stays one while the table grows: measured, the
// ingester's lookup of a batch's event ids took 15 ms at 8,000 events, and
// a job claim scanned the whole queue. A statement that starts with replan
// (a comment, so SQLite runs it as it is) is planned for its arguments on
// every execution instead (pgx's QueryExecModeCacheDescribe: still one
// round trip), after anything queued has been sent. It is for the few
// statements whose best plan depends on the table's size and that run
// often enough to matter (ingest.go, jobs.go); planning costs each some
// tens of microseconds.
const replan = "/* replan */ "

// planEach puts pgx's per-query mode before a statement's arguments. A
// connection whose URL chose a mode that prepares nothing already
// (default_query_exec_mode: exec, simple_protocol, describe_exec) keeps
// it; one without a description cache (description_cache_capacity=0)
// describes each statement first, in a second round trip.
func (c *pgConn) planEach(args []driver.NamedValue) []driver.NamedValue {
	cfg := c.Conn.Conn().Config()
	mode := pgx.QueryExecModeCacheDescribe
	switch {
	case cfg.DefaultQueryExecMode != pgx.QueryExecModeCacheStatement:
		return args
	case cfg.DescriptionCacheCapacity == 0:
		mode = pgx.QueryExecModeDescribeExec
	}
	out := make([]driver.NamedValue, 0, len(args)+1)
	out = append(out, driver.NamedValue{Ordinal: 1, Value: mode})
	for i, a := range args {
		a.Ordinal = i + 2
		out = append(out, a)
	}
	return out
}

// flush sends the queued statements (and, when q is not empty, the query
// q after them) in one batch. Without q it returns nil rows.
func (c *pgConn) flush(ctx context.Context, q string, args []any) (driver.Rows, error) {
	if len(c.queue) == 0 && q == "" {
		return nil, nil
	}
	b := &pgx.Batch{}
	for _, x := range c.queue {
		b.Queue(x.sql, x.args...)
	}
	n := len(c.queue)
	c.queue = c.queue[:0]
	if q != "" {
		b.Queue(q, args...)
	}
	br := c.Conn.Conn().SendBatch(ctx, b)
	for i := 0; i < n; i++ {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, err
		}
	}
	if q == "" {
		return nil, br.Close()
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &batchRows{rows: rows, br: br}, nil
}

// sync sends what is queued, if anything, before a statement that must see
// its effects.
func (c *pgConn) sync(ctx context.Context) error {
	if len(c.queue) == 0 {
		return nil
	}
	_, err := c.flush(ctx, "", nil)
	return err
}

func (c *pgConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	q, err := rewriteFor(ctx, query)
	if err != nil {
		return nil, err
	}
	if err := c.sync(ctx); err != nil {
		return nil, err
	}
	st, err := c.Conn.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return &pgStmt{Stmt: st, c: c, sql: q}, nil
}

func (c *pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	q, err := rewriteFor(ctx, query)
	if err != nil {
		return nil, err
	}
	return c.exec(ctx, q, args)
}

func (c *pgConn) exec(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	if strings.HasPrefix(q, replan) {
		if err := c.sync(ctx); err != nil {
			return nil, err
		}
		return c.Conn.ExecContext(ctx, q, c.planEach(args))
	}
	if pipelined(ctx) {
		c.queue = append(c.queue, queued{q, namedArgs(args)})
		return driver.RowsAffected(0), nil
	}
	if err := c.sync(ctx); err != nil {
		return nil, err
	}
	return c.Conn.ExecContext(ctx, q, args)
}

func (c *pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, err := rewriteFor(ctx, query)
	if err != nil {
		return nil, err
	}
	return c.query(ctx, q, args)
}

func (c *pgConn) query(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	if strings.HasPrefix(q, replan) {
		if err := c.sync(ctx); err != nil {
			return nil, err
		}
		return c.Conn.QueryContext(ctx, q, c.planEach(args))
	}
	if len(c.queue) > 0 {
		return c.flush(ctx, q, namedArgs(args))
	}
	return c.Conn.QueryContext(ctx, q, args)
}

func (c *pgConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if err := c.sync(ctx); err != nil {
		return nil, err
	}
	tx, err := c.Conn.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &pgTx{Tx: tx, c: c, ctx: ctx}, nil
}

func (c *pgConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *pgConn) ResetSession(ctx context.Context) error {
	c.queue = c.queue[:0]
	return c.Conn.ResetSession(ctx)
}

// pgTx sends what is queued before committing; a rollback drops it.
type pgTx struct {
	driver.Tx
	c   *pgConn
	ctx context.Context
}

func (t *pgTx) Commit() error {
	if err := t.c.sync(t.ctx); err != nil {
		t.Tx.Rollback()
		return err
	}
	return t.Tx.Commit()
}

func (t *pgTx) Rollback() error {
	t.c.queue = t.c.queue[:0]
	return t.Tx.Rollback()
}

// pgStmt is a prepared statement of a pgConn: its Execs may be queued too.
type pgStmt struct {
	driver.Stmt
	c   *pgConn
	sql string // rewritten already
}

func (s *pgStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.c.exec(ctx, s.sql, args)
}

func (s *pgStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.c.query(ctx, s.sql, args)
}

// batchRows are the rows of the last statement of a batch, as
// database/sql reads them.
type batchRows struct {
	rows pgx.Rows
	br   pgx.BatchResults
	cols []string
}

func (r *batchRows) Columns() []string {
	if r.cols == nil {
		for _, f := range r.rows.FieldDescriptions() {
			r.cols = append(r.cols, f.Name)
		}
	}
	return r.cols
}

func (r *batchRows) Close() error {
	r.rows.Close()
	return errors.Join(r.rows.Err(), r.br.Close())
}

func (r *batchRows) Next(dest []driver.Value) error {
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return io.EOF
	}
	vals, err := r.rows.Values()
	if err != nil {
		return err
	}
	for i, v := range vals {
		switch x := v.(type) {
		case nil, int64, float64, bool, []byte, string, time.Time:
			dest[i] = x
		case int32:
			dest[i] = int64(x)
		case int16:
			dest[i] = int64(x)
		case float32:
			dest[i] = float64(x)
		default:
			dest[i] = fmt.Sprint(x)
		}
	}
	return nil
}
