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
