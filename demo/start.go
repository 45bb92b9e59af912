package demo

import (
	"context"
	"errors"
	"slices"
	"time"

	"linkdesk/db"
)

// FirstStart is what `linkdesk serve` runs in the background in emulator
// mode (LINKDESK_DEMO on): it gives the organisation the deposit account
// the demo's switches use (so that an operator can mint a switch at
// once), builds the demo world (Run) and its underwriting part
// (Underwriting), then gives the demo end users customer records once
// their identity fetches are stored, so that the identity check can be
// tried at once. Each step happens once per database (settings rows
// remember) and resumes after a restart. A database that already held
// webhook events before the demo gets none of it: real end users never get
// invented records, nor a real organisation an invented bank account.
func FirstStart(ctx context.Context, cfg Config) error {
	if _, err := cfg.Store.Setting(ctx, settingKey); errors.Is(err, db.ErrNotFound) {
		if tot, err := cfg.Store.Totals(ctx); err == nil && tot["events"] > 0 {
			for _, k := range []string{customersKey, underwritingKey} {
				if err := cfg.Store.SetSetting(ctx, k, "done"); err != nil {
					return err
				}
			}
			if err := cfg.Store.SetSetting(ctx, depositKey, "done"); err != nil {
				return err
			}
		}
	}
	if err := seedDepositAccounts(ctx, cfg.Store); err != nil {
		return err
	}
	if err := Run(ctx, cfg); err != nil {
		return err
	}
	if err := Underwriting(ctx, cfg); err != nil {
		return err
	}
	if err := seedCustomers(ctx, cfg.Store); err != nil {
		return err
	}
	if err := RunCampaign(ctx, cfg); err != nil {
		return err
	}
	return Health(ctx, cfg)
}

// customersKey is the settings row that records the customer records as
// given.
const customersKey = "demo_customers"

// seedCustomers waits (two minutes at most) for the identity fetches of the
// demo world, then seeds customer records: some match the identity
// Pinwheel returned, some do not.
func seedCustomers(ctx context.Context, store *db.Store) error {
	if v, err := store.Setting(ctx, customersKey); err == nil && v == "done" {
		return nil
	}
	for deadline := time.Now().Add(2 * time.Minute); ; {
		st, err := store.JobStats(ctx)
		if err != nil {
			return err
		}
		var pending int64
		for _, k := range st {
			if slices.Contains(db.FetchJobKinds, k.Kind) {
				pending += k.Depth()
			}
		}
		if pending == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	if _, err := store.SeedDemoCustomers(ctx, db.Actor{Email: "demo", IP: "local"}); err != nil {
		return err
	}
	return store.SetSetting(ctx, customersKey, "done")
}
