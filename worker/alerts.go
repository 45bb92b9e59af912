package worker

import (
	"context"
	"fmt"
	"time"

	"linkdesk/db"
)

// AlertChecks is the pool of alert rule checks (db.JobAlertCheck): each job
// checks one rule and first queues that rule's next check, so every rule
// runs once a minute on the Store's clock for as long as the queue runs
// (db.ScheduleAlertChecks starts them). One at a time: checks are short
// and share the database writer with ingestion.
func AlertChecks(store *db.Store) Pool {
	return Pool{
		Kinds:       []string{db.JobAlertCheck},
		Concurrency: 1,
		MaxAttempts: 3,
		Backoff:     10 * time.Second,
		Handle: func(ctx context.Context, j db.Job) (db.JobEffect, error) {
			var p db.AlertCheckPayload
			if err := j.Decode(&p); err != nil || db.RuleLabel(p.Rule) == "" {
				return nil, Permanent(fmt.Errorf("worker: alert check %d: bad payload %s", j.ID, j.Payload))
			}
			if err := store.ScheduleNextCheck(ctx, p.Rule); err != nil {
				return nil, err
			}
			_, err := store.CheckRule(ctx, p.Rule)
			return nil, err
		},
	}
}

// JobAuditChainCheck is the job kind of the daily audit chain check.
const JobAuditChainCheck = "audit.chain_check"

// AuditChainCheckEvery is how often the audit chain is checked.
const AuditChainCheckEvery = 24 * time.Hour

// AuditChainChecks is the pool of the daily check of the audit trail's hash
// chain: it walks the chain (db.CheckAuditChain), records the result, which
// the audit-chain alert rule reads, and queues the next check. It is the
// seam with the auditors' workspace: anything that checks the chain
// records its result the same way (db.RecordAuditChainCheck).
func AuditChainChecks(store *db.Store) Pool {
	return Pool{
		Kinds:       []string{JobAuditChainCheck},
		Concurrency: 1,
		Lease:       30 * time.Minute,
		Handle: func(ctx context.Context, j db.Job) (db.JobEffect, error) {
			if _, err := store.EnqueueJob(ctx, db.NewJob{Kind: JobAuditChainCheck, DedupeKey: "daily", RunAt: store.Now().Add(AuditChainCheckEvery)}); err != nil {
				return nil, err
			}
			_, err := store.CheckAuditChain(ctx)
			return nil, err
		},
	}
}

// ScheduleAuditChainCheck queues the first check (at start; the dedupe key
// keeps one queued).
func ScheduleAuditChainCheck(ctx context.Context, store *db.Store) error {
	_, err := store.EnqueueJob(ctx, db.NewJob{Kind: JobAuditChainCheck, DedupeKey: "daily"})
	return err
}
