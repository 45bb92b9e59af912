package db

import (
	"container/list"
	"context"
	"database/sql/driver"
	"strings"

	"modernc.org/sqlite"
)

// Prepared statements, kept per SQLite connection.
//
// database/sql prepares a query given to Query or Exec, runs it and
// finalizes it: SQLite parses and plans the same few hundred statements
// again on every request. On the Browse dataset, preparing took 38% of the
// account page's CPU and its statements' execution 11% (docs/PERFORMANCE.md,
// "Fourth pass"). Every SQLite connection therefore keeps its most recently
// used statements, by SQL text (stmtCacheSize of them, least recently used
// out first), and runs a query again by binding and stepping the prepared
// one. SQLite re-prepares a kept statement by itself when the schema
// changes (sqlite3_prepare_v2).
//
// What is not kept: a text with a semicolon (a script, such as a
// migration, is prepared statement by statement by the driver); a PRAGMA
// (SQLite documents that some pragmas take effect when prepared rather
// than when run: a kept one run again might do nothing); and a statement
// whose rows are still open when the same text is queried again on the
// connection (a nested query of the same text gets a statement of its
// own, as without the cache).

// stmtCacheSize is how many statements a connection keeps.
const stmtCacheSize = 256

// sqliteConnector opens SQLite connections that keep their statements.
type sqliteConnector struct {
	dsn string
	drv *sqlite.Driver
}

func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return newStmtConn(conn), nil
}

func (c sqliteConnector) Driver() driver.Driver { return c.drv }

// sqliteConn is the driver's connection with its kept statements. The
// driver's connection implements every interface below.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

type stmtConn struct {
	sqliteConn
	lru   *list.List // of *keptStmt, most recently used first
	byKey map[string]*list.Element
}

type keptStmt struct {
	query string
	stmt  driver.Stmt
	busy  bool // its rows are open
}

type stmtRunner interface {
	driver.StmtExecContext
	driver.StmtQueryContext
}

func newStmtConn(c driver.Conn) driver.Conn {
	sc, ok := c.(sqliteConn)
	if !ok {
		return c // a driver without these interfaces: no cache
	}
	return &stmtConn{sqliteConn: sc, lru: list.New(), byKey: map[string]*list.Element{}}
}

// kept returns the connection's statement for query, prepared now if it
// was not kept; nil when query is not to be kept or its statement is busy.
func (c *stmtConn) kept(ctx context.Context, query string) (*keptStmt, error) {
	if strings.IndexByte(query, ';') >= 0 || isPragma(query) {
		return nil, nil
	}
	if e, ok := c.byKey[query]; ok {
		k := e.Value.(*keptStmt)
		if k.busy {
			return nil, nil
		}
		c.lru.MoveToFront(e)
		return k, nil
	}
	st, err := c.sqliteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if _, ok := st.(stmtRunner); !ok {
		st.Close()
		return nil, nil
	}
	k := &keptStmt{query: query, stmt: st}
	c.byKey[query] = c.lru.PushFront(k)
	for c.lru.Len() > stmtCacheSize {
		old := c.lru.Back()
		ok := old.Value.(*keptStmt)
		if ok.busy {
			// Open rows still read it: keep it until they close (rare).
			c.lru.MoveToFront(old)
			break
		}
		c.lru.Remove(old)
		delete(c.byKey, ok.query)
		ok.stmt.Close()
	}
	return k, nil
}

// isPragma reports whether query is a PRAGMA statement.
func isPragma(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n")
	return len(q) >= 6 && strings.EqualFold(q[:6], "pragma")
}

func (c *stmtConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	k, err := c.kept(ctx, query)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return c.sqliteConn.ExecContext(ctx, query, args)
	}
	return k.stmt.(stmtRunner).ExecContext(ctx, args)
}

func (c *stmtConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	k, err := c.kept(ctx, query)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return c.sqliteConn.QueryContext(ctx, query, args)
	}
	rows, err := k.stmt.(stmtRunner).QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	k.busy = true
	return &keptRows{Rows: rows, k: k}, nil
}

func (c *stmtConn) Close() error {
	for e := c.lru.Front(); e != nil; e = e.Next() {
		e.Value.(*keptStmt).stmt.Close()
	}
	c.lru.Init()
	clear(c.byKey)
	return c.sqliteConn.Close()
}

// keptRows frees its statement for the next query when it closes.
type keptRows struct {
	driver.Rows
	k *keptStmt
}

func (r *keptRows) Close() error {
	err := r.Rows.Close()
	r.k.busy = false
	return err
}
