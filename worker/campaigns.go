package worker

import (
	"context"
	"fmt"
	"time"

	"linkdesk/db"
	"linkdesk/odu"
)

// launchBatch is how many launch links one transaction creates: big enough
// that 100,000 links take a hundred commits, small enough that a batch
// holds the single writer for a fraction of a second, so webhooks keep
// flowing during a launch.
const launchBatch = 1000

// CampaignLaunches is the pool of campaign launches (db.JobCampaignLaunch):
// it freezes the campaign's cohort, then creates a mint-on-open launch
// link per treatment member through the mint service, a batch per
// transaction, until none is left or the campaign stops launching (paused,
// cancelled). A restart, or a job run twice, resumes with the members
// still without a link: each batch gives every member at most one. One
// launch runs at a time; links are only rows, so nothing here calls
// Pinwheel.
func CampaignLaunches(m *odu.Minter, store *db.Store) Pool {
	return Pool{
		Kinds:       []string{db.JobCampaignLaunch},
		Concurrency: 1,
		Batch:       1,
		Lease:       10 * time.Minute,
		Handle: func(ctx context.Context, j db.Job) (db.JobEffect, error) {
			var p struct {
				CampaignID int64 `json:"campaign_id"`
			}
			if err := j.Decode(&p); err != nil {
				return nil, Permanent(err)
			}
			if p.CampaignID <= 0 {
				return nil, Permanent(fmt.Errorf("worker: job %d names no campaign", j.ID))
			}
			return nil, launch(ctx, m, store, p.CampaignID)
		},
	}
}

// launch runs one campaign's launch until it is done, stopped or ctx ends.
func launch(ctx context.Context, m *odu.Minter, store *db.Store, id int64) error {
	if err := store.FreezeCampaign(ctx, id); err != nil {
		return err
	}
	var after int64
	for ctx.Err() == nil {
		b, err := store.NextLaunchBatch(ctx, id, after, launchBatch)
		if err != nil {
			return err
		}
		if b.Stop {
			return nil
		}
		if len(b.Members) > 0 {
			after = b.Members[len(b.Members)-1].ID
		} else {
			after = 0 // none after the cursor: look once more from the start
		}
		done, err := m.CreateCampaignLinks(ctx, b)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
	return ctx.Err()
}

// CampaignHolds is the pool of the incentive hold job (db.JobCampaignHolds):
// converted members whose hold period passed with no decrease become
// eligible for payout; the job schedules itself for the next period to
// end.
func CampaignHolds(store *db.Store) Pool {
	return Pool{
		Kinds:       []string{db.JobCampaignHolds},
		Concurrency: 1,
		Handle: func(ctx context.Context, j db.Job) (db.JobEffect, error) {
			_, err := store.PromoteHolds(ctx)
			return nil, err
		},
	}
}

// CohortAllocations is the pool of db.JobCohortAllocations: it projects
// every account's latest allocations snapshot onto the organisation's
// deposit accounts again (after the migration that added the projection,
// and whenever a deposit account is added), a batch per transaction.
func CohortAllocations(store *db.Store) Pool {
	return Pool{
		Kinds:       []string{db.JobCohortAllocations},
		Concurrency: 1,
		Lease:       10 * time.Minute,
		Handle: func(ctx context.Context, j db.Job) (db.JobEffect, error) {
			for after := int64(0); ; {
				next, err := store.RecomputeAllocations(ctx, after)
				if err != nil || next == 0 {
					return nil, err
				}
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				after = next
			}
		},
	}
}
