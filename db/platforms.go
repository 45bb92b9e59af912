package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// PlatformCaps are the capabilities of a payroll platform. Known is false
// when Pinwheel could not tell us (and nothing was cached).
type PlatformCaps struct {
	ID            string
	Name          string
	SupportedJobs []string
	FetchedAt     time.Time
	Known         bool
}

// Supports reports whether the platform is known to support job.
func (p PlatformCaps) Supports(job string) bool { return slices.Contains(p.SupportedJobs, job) }

// CachedPlatform returns cached capabilities, or ErrNotFound.
func (s *Store) CachedPlatform(ctx context.Context, id string) (PlatformCaps, error) {
	p := PlatformCaps{ID: id, Known: true}
	var jobs, at string
	err := s.r.QueryRowContext(ctx, `SELECT name, supported_jobs, fetched_at FROM platforms_cache WHERE platform_id = ?`, id).Scan(&p.Name, &jobs, &at)
	if err != nil {
		return PlatformCaps{}, fmt.Errorf("db: cached platform %s: %w", id, notFound(err))
	}
	p.FetchedAt = ParseTime(at)
	if err := json.Unmarshal([]byte(jobs), &p.SupportedJobs); err != nil {
		return PlatformCaps{}, fmt.Errorf("db: cached platform %s: %w", id, err)
	}
	return p, nil
}

// CachePlatform stores capabilities fetched now.
func (s *Store) CachePlatform(ctx context.Context, p PlatformCaps) (PlatformCaps, error) {
	if p.SupportedJobs == nil {
		p.SupportedJobs = []string{}
	}
	jobs, _ := json.Marshal(p.SupportedJobs)
	p.FetchedAt, p.Known = s.now().UTC(), true
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO platforms_cache (platform_id, name, supported_jobs, fetched_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (platform_id) DO UPDATE SET name = excluded.name, supported_jobs = excluded.supported_jobs, fetched_at = excluded.fetched_at`,
			p.ID, p.Name, string(jobs), FormatTime(p.FetchedAt))
		return err
	})
	if err != nil {
		return PlatformCaps{}, fmt.Errorf("db: cache platform %s: %w", p.ID, err)
	}
	return p, nil
}
