package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"linkdesk/db"
	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
)

// underwritingKey is the settings row that records the underwriting part
// of the demo world as built.
const underwritingKey = "demo_underwriting"

// UnderwritingEndUsers are the end users of the underwriting demo: one
// with three jobs at once (salary with a raise and two bad paystubs,
// hourly pay with overtime, gig shifts), one who changed jobs with a gap
// between them.
var UnderwritingEndUsers = []string{"demo-borrower-001", "demo-borrower-002"}

// underwritingPlan is one account of the underwriting demo.
type underwritingPlan struct {
	endUser  string
	platform string // platform name in the emulator's directory
	pay      sandbox.PayProfile
}

var underwritingPlans = []underwritingPlan{
	{UnderwritingEndUsers[0], "Workday", sandbox.PayProfile{Kind: sandbox.PayKindSalaried, Frequency: sandbox.FreqBiweekly, HistoryMonths: 26,
		RaisePercent: 5, RaiseMonthsAgo: 7, Anomalies: []string{"non_usd", "duplicate_id"}, Employer: "Stark Industries"}},
	{UnderwritingEndUsers[0], "Paychex", sandbox.PayProfile{Kind: sandbox.PayKindHourly, Frequency: sandbox.FreqWeekly, HistoryMonths: 20,
		RaisePercent: 4, RaiseMonthsAgo: 11, Employer: "Café Olé Roasters"}},
	{UnderwritingEndUsers[0], "DoorDash", sandbox.PayProfile{Kind: sandbox.PayKindGig, Frequency: sandbox.FreqVariable, HistoryMonths: 14}},
	{UnderwritingEndUsers[1], "ADP", sandbox.PayProfile{Kind: sandbox.PayKindSalaried, Frequency: sandbox.FreqSemiMonthly, HistoryMonths: 30,
		EndedMonthsAgo: 8, Employer: "Globex Corporation"}},
	{UnderwritingEndUsers[1], "Paycom", sandbox.PayProfile{Kind: sandbox.PayKindHourly, Frequency: sandbox.FreqBiweekly, HistoryMonths: 5,
		Employer: "Initech"}},
}

// Underwriting adds the underwriting part of the demo world, once per
// database (a settings row remembers): end users whose payroll accounts
// carry histories worth a report, each pay profile preset at the emulator
// before its Link session. FirstStart runs it after the rest of the world,
// and like it only in a Linkdesk whose events are the demo's own.
func Underwriting(ctx context.Context, cfg Config) error {
	switch v, err := cfg.Store.Setting(ctx, underwritingKey); {
	case err == nil && v == "done":
		return nil
	case err != nil && !errors.Is(err, db.ErrNotFound):
		return err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	platforms, err := payrollPlatforms(ctx, cfg.Client)
	if err != nil {
		return fmt.Errorf("demo: platforms: %w", err)
	}
	for _, p := range underwritingPlans {
		i := slices.IndexFunc(platforms, func(pl pinwheel.Platform) bool { return pl.Name == p.platform })
		if i < 0 {
			return fmt.Errorf("demo: no platform %s", p.platform)
		}
		if err := cfg.Driver.SetPayProfile(ctx, p.endUser, platforms[i].ID, p.pay); err != nil {
			return fmt.Errorf("demo: pay profile: %w", err)
		}
		if err := runAccount(ctx, cfg, accountPlan{endUser: p.endUser, platform: platforms[i], username: "user_good"}); err != nil {
			return fmt.Errorf("demo: %s on %s: %w", p.endUser, p.platform, err)
		}
	}
	cfg.Log.Info("underwriting demo built", "end_users", UnderwritingEndUsers)
	return cfg.Store.SetSetting(ctx, underwritingKey, "done")
}
