package worker

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"linkdesk/db"
	"linkdesk/pinwheel"
)

// ReconcileSource is the part of the Pinwheel client a reconcile reads;
// *pinwheel.Client implements it.
type ReconcileSource interface {
	Account(ctx context.Context, accountID string) (pinwheel.Account, error)
	Jobs(ctx context.Context, f pinwheel.JobsFilter) iter.Seq2[pinwheel.Job, error]
}

// Ingester stores deliveries exactly once; *db.Ingester implements it. A
// reconcile writes the events it fills in through it, like webhooks.
type Ingester interface {
	Ingest(ctx context.Context, d db.Delivery) (db.IngestResult, error)
}

// reconcileMaxJobs bounds the jobs a reconcile reads for one account
// (newest first): enough for every job name's latest outcome.
const reconcileMaxJobs = 500

// reconcileMaxAttempts is how many times a reconcile that Pinwheel did not
// answer is tried before the run is marked failed.
const reconcileMaxAttempts = 5

// Reconciles is the pool of reconciliations with Pinwheel
// (db.JobReconcile): read the account and its jobs from the API, compare
// them with what Linkdesk holds (db.PlanReconcile), write what missing
// webhooks left out as reconciled events through ing, queue the data
// fetches that are due, and record the result, audited. A refusal
// (Pinwheel does not know the account, refuses the request or the secret)
// is recorded with its reason and changes nothing; a failure to get an
// answer retries, like the data fetches; at most 10 start a second on all
// instances together (the pace "reconciles").
func Reconciles(src ReconcileSource, store *db.Store, ing Ingester) Pool {
	return Pool{
		Kinds:       []string{db.JobReconcile},
		Concurrency: 2,
		Rate:        10,
		Pace:        "reconciles",
		MaxAttempts: reconcileMaxAttempts,
		Backoff:     5 * time.Second,
		Handle: func(ctx context.Context, j db.Job) (db.JobEffect, error) {
			var p db.ReconcilePayload
			if err := j.Decode(&p); err != nil || p.RunID <= 0 {
				return nil, Permanent(fmt.Errorf("worker: reconcile job %d: bad payload %s", j.ID, j.Payload))
			}
			err := reconcile(ctx, src, store, ing, p.RunID)
			switch {
			case err == nil, errors.Is(err, db.ErrReconcileDone):
				return nil, nil
			case errors.Is(err, db.ErrNotFound):
				return nil, Permanent(err)
			case j.Attempts >= reconcileMaxAttempts && ctx.Err() == nil:
				why := "Pinwheel did not answer after " + fmt.Sprint(j.Attempts) + " attempts: " + err.Error()
				if ferr := store.FailReconcile(context.WithoutCancel(ctx), p.RunID, why); ferr != nil {
					return nil, errors.Join(err, ferr)
				}
				return nil, Permanent(err)
			}
			return nil, err
		},
	}
}

// refusal says, in words staff can act on, why Pinwheel refused a
// request; "" when err is no refusal (a failure worth retrying).
func refusal(err error) string {
	var pe *pinwheel.Error
	msg := ""
	if errors.As(err, &pe) && pe.Message != "" {
		msg = " (" + pe.Message + ")"
	}
	switch {
	case pinwheel.IsNotFound(err):
		return "Pinwheel does not know this account" + msg + ": it may belong to another Pinwheel environment, or was never connected. Nothing was changed."
	case pinwheel.IsUnauthorized(err):
		return "Pinwheel refused Linkdesk's API secret" + msg + ": check LINKDESK_PINWHEEL_SECRET. Nothing was changed."
	case pinwheel.IsInvalidRequest(err):
		return "Pinwheel refused the request" + msg + ". Nothing was changed."
	}
	return ""
}

func reconcile(ctx context.Context, src ReconcileSource, store *db.Store, ing Ingester, runID int64) error {
	run, a, local, err := store.StartReconcile(ctx, runID)
	if err != nil {
		return err
	}
	acc, err := src.Account(ctx, run.AccountID)
	if why := refusal(err); why != "" {
		return store.RefuseReconcile(ctx, a, runID, why)
	}
	if err != nil {
		return err
	}
	var jobs []pinwheel.Job
	platform := ""
	for j, err := range src.Jobs(ctx, pinwheel.JobsFilter{AccountID: run.AccountID, Limit: 100}) {
		if why := refusal(err); why != "" {
			return store.RefuseReconcile(ctx, a, runID, why)
		}
		if err != nil {
			return err
		}
		jobs = append(jobs, j)
		if platform == "" {
			platform = j.PlatformName
		}
		if len(jobs) == reconcileMaxJobs {
			break
		}
	}
	if platform == "" {
		if p, err := store.CachedPlatform(ctx, acc.PlatformID); err == nil {
			platform = p.Name
		}
	}
	plan, err := db.PlanReconcile(local, acc, jobs, platform, store.Now())
	if err != nil {
		return err
	}
	ids := make([]string, len(plan.Deliveries))
	for i, d := range plan.Deliveries {
		ids[i] = d.EventID
	}
	known, err := store.KnownEvents(ctx, ids)
	if err != nil {
		return err
	}
	for _, d := range plan.Deliveries {
		if known[d.EventID] {
			continue
		}
		if _, err := ing.Ingest(ctx, d); err != nil {
			return err
		}
	}
	return store.FinishReconcile(ctx, a, runID, plan.Result)
}
