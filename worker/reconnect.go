package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"linkdesk/db"
	"linkdesk/odu"
)

// reconnectChunksPerRun bounds one run of a batch's job (chunks of
// db.ReconnectChunk members, one transaction each), so that a run stays
// well inside its lease; a batch with more members queues its job again.
const reconnectChunksPerRun = 25

// reconnectMaxAttempts is how many times a batch's job is tried before the
// batch is marked failed.
const reconnectMaxAttempts = 5

// Reconnects is the pool that makes the launch links of reconnect batches
// (db.JobReconnectBatch): for each member, in the order they waited, a
// link that mints its token when the user opens it (m.PrepareOnOpen:
// nothing reaches Pinwheel now), stored with its audit row, or the reason
// it gets none (db.DecideReconnect). Progress is in the database after
// every chunk, so the board shows it and a restart resumes.
func Reconnects(m *odu.Minter, store *db.Store) Pool {
	return Pool{
		Kinds:       []string{db.JobReconnectBatch},
		Concurrency: 1,
		MaxAttempts: reconnectMaxAttempts,
		Lease:       5 * time.Minute,
		Handle: func(ctx context.Context, j db.Job) (db.JobEffect, error) {
			var p db.ReconnectPayload
			if err := j.Decode(&p); err != nil || p.BatchID <= 0 {
				return nil, Permanent(fmt.Errorf("worker: reconnect job %d: bad payload %s", j.ID, j.Payload))
			}
			err := reconnect(ctx, m, store, p.BatchID)
			switch {
			case err == nil:
				return nil, nil
			case errors.Is(err, db.ErrNotFound):
				return nil, Permanent(err)
			case j.Attempts >= reconnectMaxAttempts && ctx.Err() == nil:
				if ferr := store.FailReconnectBatch(context.WithoutCancel(ctx), p.BatchID, err.Error()); ferr != nil {
					return nil, errors.Join(err, ferr)
				}
				return nil, Permanent(err)
			}
			return nil, err
		},
	}
}

// reconnect works through up to reconnectChunksPerRun chunks of a batch.
func reconnect(ctx context.Context, m *odu.Minter, store *db.Store, batchID int64) error {
	for range reconnectChunksPerRun {
		b, a, cands, err := store.ReconnectCandidates(ctx, batchID, db.ReconnectChunk)
		if err != nil {
			return err
		}
		if b.Finished() {
			return nil
		}
		outs := make([]db.ReconnectOutcome, len(cands))
		for i, c := range cands {
			outs[i].Seq = c.Seq
			if outs[i].Skip = db.DecideReconnect(c, b.Jobs); outs[i].Skip != "" {
				continue
			}
			n := m.PrepareOnOpen(db.NewLink{AccountID: c.AccountID, EndUserID: c.EndUserID, PlatformID: c.PlatformID,
				Jobs: b.Jobs, Language: b.Language, Reason: b.Reason})
			outs[i].Link = &n
		}
		b, err = store.AddReconnectLinks(ctx, a, batchID, outs)
		if err != nil {
			return err
		}
		if b.Finished() || len(cands) == 0 {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return store.ContinueReconnect(ctx, batchID)
}
