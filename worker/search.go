package worker

import (
	"context"
	"time"

	"linkdesk/db"
)

// SearchReindex is the pool of the search index rebuild (db.JobSearchReindex,
// queued by migration 070 for a database that held customer records or
// identities before the index existed). Each batch commits with its
// progress (db.Store.ReindexSearch), so a job cut short by a restart or a
// lease that ran out continues where the last batch ended; one job runs at
// a time.
func SearchReindex(store *db.Store) Pool {
	return Pool{
		Kinds:       []string{db.JobSearchReindex},
		Concurrency: 1,
		// A large database takes minutes; a shorter lease would let a
		// second claim start over a batch the first is writing.
		Lease: 30 * time.Minute,
		Handle: func(ctx context.Context, j db.Job) (db.JobEffect, error) {
			for {
				done, err := store.ReindexSearch(ctx)
				if err != nil || done {
					return nil, err
				}
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
		},
	}
}
