package worker

import (
	"context"
	"encoding/json"
	"fmt"

	"linkdesk/db"
	"linkdesk/pinwheel"
)

// Source is the part of the Pinwheel client the data fetches read from;
// *pinwheel.Client implements it.
type Source interface {
	Identity(ctx context.Context, accountID string) (pinwheel.Identity, pinwheel.Meta, error)
	Employment(ctx context.Context, accountID string) (pinwheel.Employment, pinwheel.Meta, error)
	Income(ctx context.Context, accountID string) (pinwheel.Income, pinwheel.Meta, error)
	DirectDepositAllocations(ctx context.Context, accountID string) (pinwheel.DDAllocations, pinwheel.Meta, error)
	Account(ctx context.Context, accountID string) (pinwheel.Account, error)
}

// Fetches is the pool of data fetches: after webhook events, it reads the
// data behind them (identity, employment, income, deposit allocations, the
// account and its monitoring status) through src and stores a snapshot of
// each (db.SnapshotFetched), keeping the history Pinwheel itself does not
// keep. The kinds share one concurrency and one rate cap, because they share Pinwheel's API quota
// (Pinwheel bills and rate-limits calls): at most 2 at a time and 20 per
// second unless the caller changes the returned Pool.
func Fetches(src Source) Pool {
	return Pool{
		Kinds:       db.FetchJobKinds,
		Handle:      func(ctx context.Context, j db.Job) (db.JobEffect, error) { return fetch(ctx, src, j) },
		Concurrency: 2,
		Rate:        20,
	}
}

// fetch calls the endpoint of a fetch job and returns its data as the
// snapshot to store. A request Pinwheel refused as invalid will not succeed
// later; anything else (5xx, 429, transport, not found yet, unauthorized
// while the secret is fixed) may, so it is retried.
func fetch(ctx context.Context, src Source, j db.Job) (db.JobEffect, error) {
	f, ok := db.ReadFetchJob(j)
	if !ok {
		return nil, Permanent(fmt.Errorf("worker: job %d (%s) is not a readable fetch", j.ID, j.Kind))
	}
	var data any
	var meta pinwheel.Meta
	var err error
	switch f.Data {
	case db.FetchIdentity:
		data, meta, err = src.Identity(ctx, f.AccountID)
	case db.FetchEmployment:
		data, meta, err = src.Employment(ctx, f.AccountID)
	case db.FetchIncome:
		data, meta, err = src.Income(ctx, f.AccountID)
	case db.FetchDDAllocations:
		data, meta, err = src.DirectDepositAllocations(ctx, f.AccountID)
	case db.FetchAccount:
		data, err = src.Account(ctx, f.AccountID)
	default:
		return nil, Permanent(fmt.Errorf("worker: unknown fetch %q", f.Data))
	}
	if pinwheel.IsInvalidRequest(err) {
		return nil, Permanent(err)
	}
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(data)
	if err != nil {
		return nil, Permanent(err)
	}
	snap := db.SnapshotFetched{Body: body}
	if meta.RefreshedAt != nil {
		snap.RefreshedAt = meta.RefreshedAt.Time
	}
	return snap, nil
}
