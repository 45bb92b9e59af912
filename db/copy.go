package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Moving over: CopyDatabase copies a SQLite database into PostgreSQL
// (`linkdesk migrate-db`).
//
// Both sides are opened as Stores first, so both carry every migration of
// this binary and their schemas match (TestSchemas_Match). Tables are then
// copied parent before child (foreign keys), each in chunks of rows in
// rowid order: a chunk is COPYed into a temporary table and upserted by
// primary key, in a transaction of its own, with the target's triggers
// off (the counters the triggers keep are copied like any other table). So
// a copy cut short and started again, or run again later, brings the
// target to the source's rows without duplicating any. The identity
// sequences then move past the largest ids, and the copy is verified: the
// row count of every table equal on both sides, every reference that
// PostgreSQL keeps without a foreign key naming a row (CheckReferences),
// and the audit chain whole on the target, with the same last hash as the
// source's.
//
// Linkdesk must be stopped on both databases meanwhile. A target that holds
// data of another origin (an audit trail that is not a prefix of the
// source's) is refused before anything is written.

// CopyOptions tune CopyDatabase.
type CopyOptions struct {
	// Chunk is the rows per transaction; 0 means 5000.
	Chunk int
	// Progress, if set, is told after each chunk: the table, the rows
	// copied of it so far and its total.
	Progress func(table string, done, total int64)
	// AuditKey and OldAuditKeys are LINKDESK_AUDIT_KEY's keys, newest
	// first (nil: the key kept in the source, emulator mode): the source
	// is opened with them as serve would, and the copied chain verified.
	AuditKey     []byte
	OldAuditKeys [][]byte
}

// CopyReport says what CopyDatabase did.
type CopyReport struct {
	// Tables are the tables copied, in order, with their row counts.
	Tables []TableCount
	// AuditRows is the length of the verified audit chain.
	AuditRows int
	// Took is how long the copy and its checks took.
	Took time.Duration
}

// TableCount is one table's rows.
type TableCount struct {
	Table string
	Rows  int64
}

// ErrCopyTarget means the target holds data the source did not put there.
var ErrCopyTarget = errors.New("db: the target database holds other data")

// CopyDatabase copies the SQLite database at from into the PostgreSQL
// database at to (see above).
func CopyDatabase(ctx context.Context, from, to string, opt CopyOptions) (CopyReport, error) {
	start := time.Now()
	if opt.Chunk <= 0 {
		opt.Chunk = 5000
	}
	if IsPostgresURL(from) || !IsPostgresURL(to) {
		return CopyReport{}, errors.New("db: copy: from a SQLite file to a postgres:// URL")
	}
	if _, err := os.Stat(from); err != nil {
		return CopyReport{}, fmt.Errorf("db: copy: no SQLite database at %s", from)
	}
	src, err := Open(ctx, from, Options{NoGeneratedKey: true, AuditKey: opt.AuditKey, OldAuditKeys: opt.OldAuditKeys})
	if err != nil {
		return CopyReport{}, fmt.Errorf("db: copy: source: %w", err)
	}
	defer src.Close()
	dst, err := Open(ctx, to, Options{NoGeneratedKey: true})
	if err != nil {
		return CopyReport{}, fmt.Errorf("db: copy: target: %w", err)
	}
	defer dst.Close()

	tables, err := copyOrder(ctx, src.r)
	if err != nil {
		return CopyReport{}, err
	}
	if err := checkTarget(ctx, src, dst); err != nil {
		return CopyReport{}, err
	}
	var rep CopyReport
	for _, t := range tables {
		n, err := copyRows(ctx, src, dst, t, opt)
		if err != nil {
			return rep, fmt.Errorf("db: copy %s: %w", t.name, err)
		}
		rep.Tables = append(rep.Tables, TableCount{Table: t.name, Rows: n})
	}
	// The identity columns carry on after the largest id copied.
	idents, err := dst.r.QueryContext(ctx, `SELECT table_name FROM information_schema.columns
WHERE table_schema = current_schema() AND column_name = 'id' AND is_identity = 'YES' ORDER BY table_name`)
	if err != nil {
		return rep, fmt.Errorf("db: copy: identity columns: %w", err)
	}
	var withIdentity []string
	for idents.Next() {
		var n string
		if err := idents.Scan(&n); err != nil {
			idents.Close()
			return rep, err
		}
		withIdentity = append(withIdentity, n)
	}
	idents.Close()
	for _, n := range withIdentity {
		if _, err := dst.w.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence(?, 'id'), GREATEST((SELECT MAX(id) FROM `+n+`), 1))`, n); err != nil {
			return rep, fmt.Errorf("db: copy: sequence of %s: %w", n, err)
		}
	}

	// Verify.
	for _, tc := range rep.Tables {
		var n int64
		if err := dst.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+tc.Table).Scan(&n); err != nil {
			return rep, fmt.Errorf("db: copy: count %s: %w", tc.Table, err)
		}
		if n != tc.Rows {
			return rep, fmt.Errorf("db: copy: %s has %d rows in the source but %d in the target (rows deleted from the source after an earlier copy stay in the target: copy into an empty database)", tc.Table, tc.Rows, n)
		}
	}
	// The references PostgreSQL keeps without foreign keys (migration
	// 086): the copy ran with the target's triggers off.
	if err := dst.CheckReferences(ctx); err != nil {
		return rep, fmt.Errorf("db: copy: %w", err)
	}
	// The target's chain is checked with the source's keys (the target
	// was opened before the kept key, if any, was copied into it).
	v, err := dst.VerifyChain(ctx, VerifyOptions{Keys: src.chain.keys, Anchor: "-"})
	if err != nil {
		return rep, fmt.Errorf("db: copy: the target's audit chain: %w", err)
	}
	if v.Bad != nil {
		return rep, fmt.Errorf("db: copy: the target's audit chain: %w", v.Bad)
	}
	rep.AuditRows = int(v.Rows)
	// The planner's statistics: without them PostgreSQL plans the lists of
	// a copied database as if its tables were small (until autovacuum
	// gets round to them), and picks scans where indexes serve.
	names := make([]string, len(rep.Tables))
	for i, tc := range rep.Tables {
		names[i] = tc.Table
	}
	if len(names) > 0 {
		if _, err := dst.w.ExecContext(withRawSQL(ctx), `ANALYZE `+strings.Join(names, ", ")); err != nil {
			return rep, fmt.Errorf("db: copy: analyze: %w", err)
		}
	}
	var srcLast, dstLast string
	src.r.QueryRowContext(ctx, `SELECT COALESCE((SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1), '')`).Scan(&srcLast)
	dst.r.QueryRowContext(ctx, `SELECT COALESCE((SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1), '')`).Scan(&dstLast)
	if srcLast != dstLast {
		return rep, fmt.Errorf("db: copy: the audit chains end differently (source %.12s…, target %.12s…)", srcLast, dstLast)
	}
	rep.Took = time.Since(start)
	return rep, nil
}

// copyTable is one table of the source: its columns and primary key.
type copyTable struct {
	name string
	cols []string
	pk   []string
	deps []string
}

// copyOrder lists the source's tables, each after the tables its foreign
// keys name.
func copyOrder(ctx context.Context, r *sql.DB) ([]copyTable, error) {
	rows, err := r.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("db: copy: tables: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, n)
	}
	rows.Close()
	byName := map[string]*copyTable{}
	for _, n := range names {
		t := &copyTable{name: n}
		rows, err := r.QueryContext(ctx, `SELECT name, pk FROM pragma_table_info(?) ORDER BY cid`, n)
		if err != nil {
			return nil, fmt.Errorf("db: copy: columns of %s: %w", n, err)
		}
		pks := map[int]string{}
		for rows.Next() {
			var c string
			var pk int
			if err := rows.Scan(&c, &pk); err != nil {
				rows.Close()
				return nil, err
			}
			t.cols = append(t.cols, c)
			if pk > 0 {
				pks[pk] = c
			}
		}
		rows.Close()
		for i := 1; i <= len(pks); i++ {
			t.pk = append(t.pk, pks[i])
		}
		rows, err = r.QueryContext(ctx, `SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)`, n)
		if err != nil {
			return nil, fmt.Errorf("db: copy: foreign keys of %s: %w", n, err)
		}
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				rows.Close()
				return nil, err
			}
			if d != n {
				t.deps = append(t.deps, d)
			}
		}
		rows.Close()
		byName[n] = t
	}
	var out []copyTable
	done := map[string]bool{}
	var visit func(n string, path []string) error
	visit = func(n string, path []string) error {
		if done[n] {
			return nil
		}
		if slices.Contains(path, n) {
			return fmt.Errorf("db: copy: foreign keys form a cycle: %s", strings.Join(append(path, n), " → "))
		}
		t := byName[n]
		if t == nil {
			return nil
		}
		for _, d := range t.deps {
			if err := visit(d, append(path, n)); err != nil {
				return err
			}
		}
		done[n] = true
		out = append(out, *t)
		return nil
	}
	for _, n := range names {
		if err := visit(n, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkTarget refuses a target with data of another origin: its audit
// trail must be empty or a prefix of the source's.
func checkTarget(ctx context.Context, src, dst *Store) error {
	var id int64
	var hash string
	err := dst.r.QueryRowContext(ctx, `SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&id, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		var staff int64
		if err := dst.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM staff`).Scan(&staff); err != nil {
			return err
		}
		if staff > 0 {
			return fmt.Errorf("%w: it has staff but no audit trail", ErrCopyTarget)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("db: copy: the target's audit trail: %w", err)
	}
	var same string
	err = src.r.QueryRowContext(ctx, `SELECT hash FROM audit_log WHERE id = ?`, id).Scan(&same)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("db: copy: the source's audit trail: %w", err)
	}
	if same != hash {
		return fmt.Errorf("%w: its audit trail is not the source's (a Linkdesk ran on it: copy into an empty database)", ErrCopyTarget)
	}
	return nil
}

// copyRows copies one table chunk by chunk and returns the source's row
// count.
func copyRows(ctx context.Context, src, dst *Store, t copyTable, opt CopyOptions) (int64, error) {
	var total int64
	if err := src.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t.name).Scan(&total); err != nil {
		return 0, err
	}
	cols := strings.Join(t.cols, ", ")
	upsert := `INSERT INTO ` + t.name + ` (` + cols + `) SELECT ` + cols + ` FROM copy_rows`
	if len(t.pk) > 0 {
		var set []string
		for _, c := range t.cols {
			if !slices.Contains(t.pk, c) {
				set = append(set, c+" = excluded."+c)
			}
		}
		upsert += ` ON CONFLICT (` + strings.Join(t.pk, ", ") + `) DO `
		if len(set) == 0 {
			upsert += `NOTHING`
		} else {
			upsert += `UPDATE SET ` + strings.Join(set, ", ")
		}
	}
	// Into an empty table (a first copy), rows go straight in by COPY;
	// into one that has rows (a copy run again), through the upsert.
	var some bool
	if err := dst.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+t.name+`)`).Scan(&some); err != nil {
		return 0, err
	}
	if !some {
		upsert = ""
	}
	var after int64 = -1 << 62
	var done int64
	for {
		rows, err := src.r.QueryContext(ctx, `SELECT rowid, `+cols+` FROM `+t.name+` WHERE rowid > ? ORDER BY rowid LIMIT ?`, after, opt.Chunk)
		if err != nil {
			return 0, err
		}
		var batch [][]any
		for rows.Next() {
			vals := make([]any, len(t.cols)+1)
			ptrs := make([]any, len(vals))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return 0, err
			}
			after = vals[0].(int64)
			batch = append(batch, vals[1:])
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, err
		}
		if len(batch) == 0 {
			return total, nil
		}
		if err := copyChunk(ctx, dst, t, upsert, batch); err != nil {
			return 0, err
		}
		done += int64(len(batch))
		if opt.Progress != nil {
			opt.Progress(t.name, done, total)
		}
	}
}

// copyChunk writes rows into t in one transaction: COPY into a temporary
// table, then one upsert (or, when upsert is "", COPY into t itself), with
// t's triggers off meanwhile (ALTER TABLE is transactional: a chunk cut
// short leaves them on).
func copyChunk(ctx context.Context, dst *Store, t copyTable, upsert string, rows [][]any) error {
	conn, err := dst.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc := dc.(*pgConn).Conn.Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(context.Background())
		if _, err := tx.Exec(ctx, `ALTER TABLE `+t.name+` DISABLE TRIGGER USER`); err != nil {
			return err
		}
		into := t.name
		if upsert != "" {
			into = "copy_rows"
			if _, err := tx.Exec(ctx, `CREATE TEMP TABLE copy_rows (LIKE `+t.name+`) ON COMMIT DROP`); err != nil {
				return err
			}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{into}, t.cols, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("copy rows: %w", err)
		}
		if upsert != "" {
			if _, err := tx.Exec(ctx, upsert); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `ALTER TABLE `+t.name+` ENABLE TRIGGER USER`); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
}
