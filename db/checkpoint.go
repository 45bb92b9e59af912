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
// with commits (a passive checkpoint never blocks the writer). Readers can
// pin old WAL frames and keep a passive checkpoint from finishing, so the
// WAL could grow without bound; when it holds more than MaxWAL bytes a
// TRUNCATE checkpoint waits for readers and blocks writers until the WAL is
// empty again: a hard cap.

// CheckpointOptions tune RunCheckpointer; the zero value is sensible.
type CheckpointOptions struct {
	// Interval between passive checkpoints; 0 means 200 ms.
	Interval time.Duration
	// MaxWAL is the WAL size that forces a blocking checkpoint; 0 means 128 MiB.
	MaxWAL int64
	// Checkpointed, if set, is called after each checkpoint that did work
	// with the frames copied and whether it was the blocking kind.
	Checkpointed func(frames int, blocking bool, took time.Duration)
}

// RunCheckpointer runs checkpoints until ctx ends, then restores automatic
// checkpoints on the writer and runs a last one.
func (s *Store) RunCheckpointer(ctx context.Context, opt CheckpointOptions) error {
	if opt.Interval <= 0 {
		opt.Interval = 200 * time.Millisecond
	}
	if opt.MaxWAL <= 0 {
		opt.MaxWAL = 128 << 20
	}
	cp, err := sql.Open("sqlite", dsn(s.path, true))
	if err != nil {
		return fmt.Errorf("db: checkpointer: %w", err)
	}
	defer cp.Close()
	cp.SetMaxOpenConns(1)
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

	t := time.NewTicker(opt.Interval)
	defer t.Stop()
	var lastLog, lastDone int
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		mode := "PASSIVE"
		if int64(lastLog)*pageSize > opt.MaxWAL {
			mode = "TRUNCATE"
		}
		start := time.Now()
		var busy, log, done int
		if err := cp.QueryRowContext(ctx, `PRAGMA wal_checkpoint(`+mode+`)`).Scan(&busy, &log, &done); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			continue // SQLITE_BUSY from a TRUNCATE that timed out: try again next tick
		}
		copied := done
		if log >= lastLog && done >= lastDone {
			copied = done - lastDone // same WAL generation: only the new frames
		}
		if opt.Checkpointed != nil && (copied > 0 || mode != "PASSIVE") {
			opt.Checkpointed(copied, mode != "PASSIVE", time.Since(start))
		}
		lastLog, lastDone = log, done
	}
}
