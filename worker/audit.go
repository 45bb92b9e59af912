package worker

import (
	"context"
	"time"

	"linkdesk/db"
)

// Daily is how often the audit trail's daily jobs run.
const Daily = 24 * time.Hour

// AuditJobs is the pool of the audit trail's daily jobs: the check of the
// hash chain (db.JobAuditVerify: db.VerifyNow records it for /audit, the
// metrics and the audit-chain alert rule) and retention (db.JobRetention:
// db.PurgeExpired replaces raw webhook bodies and launch-page payloads past
// their retention period by what identifies them). A scheduled run queues
// the next one a day later on the Store's clock; a run asked for by a
// change of the periods (db.SetRetention) runs once. A run cut short runs
// again: retention resumes where it stopped, a check starts over.
func AuditJobs(store *db.Store) Pool {
	return Pool{
		Kinds:       []string{db.JobAuditVerify, db.JobRetention},
		Concurrency: 1,
		Lease:       30 * time.Minute,
		Handle: func(ctx context.Context, j db.Job) (db.JobEffect, error) {
			var err error
			switch j.Kind {
			case db.JobAuditVerify:
				_, err = store.VerifyNow(ctx, db.SystemActor, db.VerifyDaily)
			case db.JobRetention:
				_, err = store.PurgeExpired(ctx)
			}
			if err != nil {
				return nil, err
			}
			if j.DedupeKey == "daily" {
				return nil, store.ScheduleNext(ctx, j.Kind, store.Now().Add(Daily))
			}
			return nil, nil
		},
	}
}

// ScheduleAuditJobs makes sure each daily run is pending: the first soon
// after the first start, and a restart keeps the schedule.
func ScheduleAuditJobs(ctx context.Context, store *db.Store) error {
	for _, kind := range []string{db.JobAuditVerify, db.JobRetention} {
		if err := store.EnsureScheduled(ctx, kind, store.Now().Add(time.Minute)); err != nil {
			return err
		}
	}
	return nil
}
