package db

import (
	"context"
	"fmt"
	"sync"
)

// RunExclusive runs fn unless another holder of the lock name is running
// it, here or — on PostgreSQL — in any instance on the database: the
// single-runner tasks of several instances (a check that must not run twice
// at once, a demo world built on first start). It reports whether fn ran.
// On PostgreSQL the lock is a session advisory lock on a connection held
// for fn's duration, so an instance that dies mid-task releases it with
// its connection; on SQLite, one process on the file, it is a lock of this
// Store. Work that must happen exactly once and survive a crash belongs on
// the job queue instead (a job with a dedupe key, docs/ARCHITECTURE.md).
func (s *Store) RunExclusive(ctx context.Context, name string, fn func(ctx context.Context) error) (ran bool, err error) {
	if s.d.name != pgDialect.name {
		v, _ := s.exclusive.LoadOrStore(name, &sync.Mutex{})
		mu := v.(*sync.Mutex)
		if !mu.TryLock() {
			return false, nil
		}
		defer mu.Unlock()
		return true, fn(ctx)
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("db: exclusive %s: %w", name, err)
	}
	defer conn.Close()
	const key = `hashtextextended(current_schema() || ':task:' || ?, 0)`
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(`+key+`)`, name).Scan(&got); err != nil {
		return false, fmt.Errorf("db: exclusive %s: %w", name, err)
	}
	if !got {
		return false, nil
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(`+key+`)`, name)
	return true, fn(ctx)
}
