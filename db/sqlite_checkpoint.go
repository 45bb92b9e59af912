package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Checkpoints.
//
// In WAL mode SQLite copies committed pages back into the database file in a
// checkpoint. By default the connection whose commit pushes the WAL past
// 1,000 pages runs it, inside that commit: with a large database the pages
// are scattered and the checkpoint stalls the committer (and with it every
// waiting webhook) for up to half a second. STACK.md measured p99 0.3–0.4 s
// at 1M events from exactly this.
//
// RunCheckpointer moves checkpoints off the commit path: it turns
// wal_autocheckpoint off on the writer connection and runs PASSIVE
// checkpoints from a connection of its own, every Interval, concurrently
// with commits (a passive checkpoint never blocks the writer).
//
// Under a steady stream of commits a passive checkpoint never quite
// finishes (new frames arrive while it copies), and the WAL only starts
// over once a checkpoint has copied every frame, so on its own the WAL would
// grow without bound (STACK.md saw hundreds of MB). Forcing the issue from
// the checkpointer's connection (RESTART) fails badly: it has to win the
// write lock from a committer that takes it back to back, and the committer
// then sleeps in SQLite's busy handler (up to 100 ms a turn) while it holds
// it. So once the WAL holds RestartFrames frames, the checkpointer only asks,
// and the committer itself runs the RESTART between two batches, on the
// writer connection: no lock to fight for, and only the few frames the
// passive passes left to copy. The next commit starts the WAL from the
// beginning. If readers pin old frames for long (RESTART waits for them at
// most busy_timeout), a TRUNCATE checkpoint at MaxWAL bytes is the hard cap.

// CheckpointOptions tune RunCheckpointer; the zero value is sensible.
type CheckpointOptions struct {
	// Interval between passive checkpoints; 0 means 100 ms.
	Interval time.Duration
	// RestartFrames is the WAL length (in pages) that triggers a RESTART
	// checkpoint; 0 means 8192 (32 MiB of 4 KiB pages).
	RestartFrames int
	// MaxWAL is the WAL size that forces a TRUNCATE checkpoint; 0 means 256 MiB.
	MaxWAL int64
	// Checkpointed, if set, is called after each checkpoint that did work
	// with the frames copied and its mode (PASSIVE, RESTART or TRUNCATE).
	Checkpointed func(frames int, mode string, took time.Duration)
}

// RunCheckpointer runs checkpoints until ctx ends, then restores automatic
// checkpoints on the writer and runs a last one. Run it beside Run. On
// PostgreSQL it returns at once.
func (g *Ingester) RunCheckpointer(ctx context.Context, opt CheckpointOptions) error {
	s := g.s
	if s.d.name != sqliteDialect.name {
		return nil // PostgreSQL checkpoints by itself, off the commit path
	}
	if opt.Interval <= 0 {
		opt.Interval = 100 * time.Millisecond
	}
	if opt.RestartFrames <= 0 {
		opt.RestartFrames = 8192
	}
	if opt.MaxWAL <= 0 {
		opt.MaxWAL = 256 << 20
	}
	cp, err := sql.Open("sqlite", sqliteDSN(s.path, sqliteWriter))
	if err != nil {
		return fmt.Errorf("db: checkpointer: %w", err)
	}
	defer cp.Close()
	cp.SetMaxOpenConns(1)
	// A checkpoint reads WAL frames and writes database pages: it needs
	// neither the 64 MiB page cache nor the mmap of the other connections,
	// which would only add to the process's resident memory.
	if _, err := cp.ExecContext(ctx, `PRAGMA cache_size = -2048`); err != nil {
		return fmt.Errorf("db: checkpointer: %w", err)
	}
	if _, err := cp.ExecContext(ctx, `PRAGMA mmap_size = 0`); err != nil {
		return fmt.Errorf("db: checkpointer: %w", err)
	}
	var pageSize int64
	if err := cp.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&pageSize); err != nil {
		return fmt.Errorf("db: checkpointer: %w", err)
	}
	if _, err := s.w.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 0`); err != nil {
		return fmt.Errorf("db: checkpointer: %w", err)
	}
	defer func() {
		bg := context.Background()
		s.w.ExecContext(bg, `PRAGMA wal_autocheckpoint = 1000`)
		cp.ExecContext(bg, `PRAGMA wal_checkpoint(PASSIVE)`)
	}()

	g.checkpointed = opt.Checkpointed
	checkpoint := func(mode string) (log, done int, ok bool) {
		start := time.Now()
		var busy int
		if err := cp.QueryRowContext(ctx, `PRAGMA wal_checkpoint(`+mode+`)`).Scan(&busy, &log, &done); err != nil {
			return 0, 0, false // SQLITE_BUSY past busy_timeout, or ctx ended: next tick
		}
		if opt.Checkpointed != nil && (done > 0 || mode != "PASSIVE") {
			opt.Checkpointed(done, mode, time.Since(start))
		}
		return log, done, busy == 0
	}

	t := time.NewTicker(opt.Interval)
	defer t.Stop()
	var asked time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if g.restartWAL.Load() {
			if time.Since(asked) < time.Second {
				continue // the committer will restart the WAL after its next batch
			}
			g.restartWAL.Store(false) // no batch came: carry on alone
		}
		log, _, ok := checkpoint("PASSIVE")
		switch {
		case !ok:
		case int64(log)*pageSize > opt.MaxWAL:
			checkpoint("TRUNCATE")
		case log >= opt.RestartFrames:
			asked = time.Now()
			g.restartWAL.Store(true)
		}
	}
}

// restartWALIfAsked runs the RESTART checkpoint the checkpointer asked for,
// on the writer connection, between two batches.
func (g *Ingester) restartWALIfAsked() {
	if !g.restartWAL.Load() {
		return
	}
	start := time.Now()
	var busy, log, done int
	err := g.s.w.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(RESTART)`).Scan(&busy, &log, &done)
	g.restartWAL.Store(false)
	if err == nil && g.checkpointed != nil {
		g.checkpointed(done, "RESTART", time.Since(start))
	}
}
