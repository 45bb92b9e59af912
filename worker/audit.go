package worker

import (
	"context"
	"time"

	"linkdesk/db"
)

// Daily is how often the retention job runs.
const Daily = 24 * time.Hour

// Retention is the pool of the retention job (db.PurgeExpired): raw
// webhook bodies and launch-page payloads past their retention period are
// replaced by what identifies them. A scheduled run queues the next one a
// day later on the Store's clock; a run asked for by a change of the
// periods (db.SetRetention) runs once. A run cut short runs again: the job
// resumes where it stopped. (The daily check of the audit chain is
// AuditChainChecks, which records through db.VerifyNow.)
func Retention(store *db.Store) Pool {
	return Pool{
		Kinds:       []string{db.JobRetention},
		Concurrency: 1,
		Lease:       30 * time.Minute,
		Handle: func(ctx context.Context, j db.Job) (db.JobEffect, error) {
			if _, err := store.PurgeExpired(ctx); err != nil {
				return nil, err
			}
			if j.DedupeKey == "daily" {
				return nil, store.ScheduleNext(ctx, j.Kind, store.Now().Add(Daily))
			}
			return nil, nil
		},
	}
}

// ScheduleRetention makes sure the daily retention run is pending: the
// first soon after the first start, and a restart keeps the schedule.
func ScheduleRetention(ctx context.Context, store *db.Store) error {
	return store.EnsureScheduled(ctx, db.JobRetention, store.Now().Add(time.Minute))
}
