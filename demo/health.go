package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"linkdesk/db"
	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
)

// healthKey is the settings row that records the health part as done.
const healthKey = "demo_health"

// healthAccounts is how many accounts each story connects: enough for the
// platform rule's default minimum.
const healthAccounts = 6

// Health gives the demo world its account health story, through the
// emulator and the real alert rules: six accounts on one platform go
// degraded and come back (an alert that opened and resolved), then a whole
// platform goes degraded (an alert left open), once per database. It runs
// after Run, in the background of the first start.
func Health(ctx context.Context, cfg Config) error {
	if v, err := cfg.Store.Setting(ctx, healthKey); err == nil && v == "done" {
		return nil
	}
	// Only a world the demo built gets the story (a database that held
	// real events before has no demo users).
	if _, err := cfg.Store.EndUserOverview(ctx, "demo-user-001"); errors.Is(err, db.ErrNotFound) {
		return cfg.Store.SetSetting(ctx, healthKey, "done")
	} else if err != nil {
		return err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	platforms, err := payrollPlatforms(ctx, cfg.Client)
	if err != nil {
		return fmt.Errorf("demo health: platforms: %w", err)
	}
	recovers, fails := pick(platforms, "Paycom"), pick(platforms, "Paychex")
	if recovers.ID == "" || fails.ID == "" || recovers.ID == fails.ID {
		return errors.New("demo health: the emulator lacks Paycom or Paychex")
	}
	cfg.Log.Info("demo health: a platform going bad")

	// Six accounts on Paycom degrade, the rule opens an alert; they come
	// back, the rule resolves it.
	var back []string
	for i := range healthAccounts {
		acc, err := connect(ctx, cfg, fmt.Sprintf("demo-health-%02d", i+1), recovers)
		if err != nil {
			return err
		}
		back = append(back, acc)
	}
	for _, acc := range back {
		if err := cfg.Driver.SetMonitoringStatus(ctx, acc, pinwheel.StatusDegraded); err != nil {
			return fmt.Errorf("demo health: %w", err)
		}
	}
	if err := waitStatus(ctx, cfg.Store, back, pinwheel.StatusDegraded); err != nil {
		return err
	}
	if _, err := cfg.Store.CheckRule(ctx, db.RulePlatformDegraded); err != nil {
		return err
	}
	for _, acc := range back {
		if err := cfg.Driver.SetMonitoringStatus(ctx, acc, pinwheel.StatusActive); err != nil {
			return fmt.Errorf("demo health: %w", err)
		}
	}
	if err := waitStatus(ctx, cfg.Store, back, pinwheel.StatusActive); err != nil {
		return err
	}
	if _, err := cfg.Store.CheckRule(ctx, db.RulePlatformDegraded); err != nil {
		return err
	}

	// Paychex goes bad for everyone: the alert stays open.
	var bad []string
	for i := range healthAccounts {
		acc, err := connect(ctx, cfg, fmt.Sprintf("demo-health-%02d", healthAccounts+i+1), fails)
		if err != nil {
			return err
		}
		bad = append(bad, acc)
	}
	if _, err := cfg.Driver.SetPlatformStatus(ctx, fails.ID, pinwheel.StatusDegraded); err != nil {
		return fmt.Errorf("demo health: %w", err)
	}
	if err := waitStatus(ctx, cfg.Store, bad, pinwheel.StatusDegraded); err != nil {
		return err
	}
	if _, err := cfg.Store.CheckRule(ctx, db.RulePlatformDegraded); err != nil {
		return err
	}
	cfg.Log.Info("demo health done")
	return cfg.Store.SetSetting(ctx, healthKey, "done")
}

// pick finds a platform by name.
func pick(list []pinwheel.Platform, name string) pinwheel.Platform {
	if i := slices.IndexFunc(list, func(p pinwheel.Platform) bool { return p.Name == name }); i >= 0 {
		return list[i]
	}
	return pinwheel.Platform{}
}

// connect runs a first Link session for endUser on platform.
func connect(ctx context.Context, cfg Config, endUser string, platform pinwheel.Platform) (string, error) {
	in := pinwheel.LinkTokenCreate{OrgName: "Linkdesk Demo", EndUserID: endUser, PlatformID: platform.ID}
	jobs := []string{pinwheel.JobIdentity, pinwheel.JobEmployment}
	if cfg.Version >= pinwheel.Version20250708 {
		in.Features, in.Solution = jobs, pinwheel.SolutionVerify
	} else {
		in.RequiredJobs = jobs
	}
	tok, err := cfg.Client.CreateLinkToken(ctx, in)
	if err != nil {
		return "", fmt.Errorf("demo health: mint: %w", err)
	}
	res, err := cfg.Driver.Complete(ctx, tok.Token, sandbox.SessionPlan{PlatformID: platform.ID})
	if err != nil || res.AccountID == "" {
		return "", fmt.Errorf("demo health: link session: %v", err)
	}
	return res.AccountID, nil
}

// waitStatus waits (two minutes at most) until Linkdesk shows every one
// of the accounts in status: the webhooks and the status reads after them
// take a moment.
func waitStatus(ctx context.Context, store *db.Store, accounts []string, status string) error {
	for deadline := time.Now().Add(2 * time.Minute); ; {
		done := 0
		for _, acc := range accounts {
			p, err := store.Preflight(ctx, acc)
			if err == nil && p.MonitoringStatus == status {
				done++
			} else if err != nil && !errors.Is(err, db.ErrNotFound) {
				return err
			}
		}
		if done == len(accounts) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo health: %d of %d accounts %s after two minutes", done, len(accounts), status)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
