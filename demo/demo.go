// Package demo creates Linkdesk's demo world in emulator mode: about 50 end
// users with 70 payroll accounts across platforms and monitoring states. It
// does so the way real data arrives: it mints Link tokens through the
// Pinwheel client, walks each Link session through the emulator's
// /link-api/ with the sandbox Driver, and moves some accounts' monitoring
// status through the sandbox API. Every event Linkdesk then shows came in as
// a real signed webhook; nothing is written to Linkdesk's tables directly
// except the settings row that marks the world as built.
package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"

	"linkdesk/db"
	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
)

// settingKey is the settings row that records progress: the number of end
// users done, or "done".
const settingKey = "demo_world"

// Account describes one demo account after its Link session.
type Account struct {
	EndUserID  string
	AccountID  string
	PlatformID string
	Username   string
	// Index is the end user's number (0-based), stable across runs.
	Index int
}

// Config is what Run needs.
type Config struct {
	Store  *db.Store
	Client *pinwheel.Client
	// Driver walks Link sessions; its BaseURL is the emulator's base and its
	// Secret the emulator's (for the emulator-only status knob).
	Driver *sandbox.Driver
	// Version is the client's Pinwheel-Version (it decides how jobs are
	// asked for in a Link token).
	Version string
	// EndUsers and Accounts size the world; 0 means 50 and 70.
	EndUsers, Accounts int
	// Seed makes the world reproducible; 0 means 2026.
	Seed uint64
	Log  *slog.Logger
	// LinkdeskURL is Linkdesk's own base URL, where the demo campaign's
	// users open their launch pages (RunCampaign); "" builds no campaign.
	// LaunchHost, when launch pages have an origin of their own
	// (LINKDESK_LAUNCH_BASE_URL), is its host: the demo's requests to
	// LinkdeskURL name it.
	LinkdeskURL string
	LaunchHost  string
	// OnAccount, if set, is called after each account's session, e.g. to
	// create the customer record of identity matching (issue 6). An error
	// stops the run.
	OnAccount func(ctx context.Context, a Account) error
}

// Run builds the demo world once. It does nothing when the world was built
// before, or when the database already holds webhook events that the demo
// did not cause (it only ever fills an empty Linkdesk). Progress is saved
// per end user, so a restart resumes an interrupted run.
func Run(ctx context.Context, cfg Config) error {
	if cfg.EndUsers <= 0 {
		cfg.EndUsers = 50
	}
	if cfg.Accounts <= 0 {
		cfg.Accounts = 70
	}
	if cfg.Seed == 0 {
		cfg.Seed = 2026
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	start := 0
	switch v, err := cfg.Store.Setting(ctx, settingKey); {
	case err == nil && v == "done":
		return nil
	case err == nil:
		start, _ = strconv.Atoi(v)
	case errors.Is(err, db.ErrNotFound):
		tot, err := cfg.Store.Totals(ctx)
		if err != nil {
			return err
		}
		if tot["events"] > 0 {
			cfg.Log.Info("demo world skipped: the database already holds webhook events")
			return cfg.Store.SetSetting(ctx, settingKey, "done")
		}
	default:
		return err
	}

	platforms, err := payrollPlatforms(ctx, cfg.Client)
	if err != nil {
		return fmt.Errorf("demo: platforms: %w", err)
	}
	plan := planWorld(cfg, platforms)
	cfg.Log.Info("building the demo world", "end_users", cfg.EndUsers, "accounts", cfg.Accounts, "resume_at", start)
	for i := start; i < len(plan); i++ {
		for _, a := range plan[i] {
			if err := runAccount(ctx, cfg, a); err != nil {
				return fmt.Errorf("demo: end user %s: %w", a.endUser, err)
			}
		}
		if err := cfg.Store.SetSetting(ctx, settingKey, strconv.Itoa(i+1)); err != nil {
			return err
		}
	}
	cfg.Log.Info("demo world built")
	return cfg.Store.SetSetting(ctx, settingKey, "done")
}

// accountPlan is one account to connect and what happens to it afterwards.
type accountPlan struct {
	index      int
	endUser    string
	platform   pinwheel.Platform
	username   string
	switchTo   *sandbox.AllocationChoice // nil: no deposit switch
	thenStatus string                    // "" or a monitoring status to set afterwards
}

// planWorld decides the whole world up front from the seed, so that a
// resumed run continues the same story. Most users log in fine; some need
// MFA, some hit a platform error, one stays pending; a quarter switch their
// direct deposit; about one account in six later degrades, needs the user
// again, becomes unavailable or is disabled.
func planWorld(cfg Config, platforms []pinwheel.Platform) [][]accountPlan {
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed+1))
	out := make([][]accountPlan, cfg.EndUsers)
	for n := range cfg.Accounts {
		i := n % cfg.EndUsers
		a := accountPlan{
			index:    i,
			endUser:  fmt.Sprintf("demo-user-%03d", i+1),
			platform: platforms[rng.IntN(len(platforms))],
			username: "user_good",
		}
		switch r := rng.IntN(100); {
		case n == cfg.Accounts/2:
			a.username = "user_pending"
		case r < 10:
			a.username = "user_mfa"
		case r < 18:
			a.username = "user_error"
		}
		if a.username != "user_error" && a.username != "user_pending" {
			if rng.IntN(4) == 0 {
				c := &sandbox.AllocationChoice{Action: pinwheel.ActionFullSwitch}
				if rng.IntN(2) == 0 {
					c = &sandbox.AllocationChoice{Action: pinwheel.ActionPartialSwitch, Type: pinwheel.AllocationAmount, Value: float64(50 * (1 + rng.IntN(6)))}
				}
				a.switchTo = c
			}
			switch r := rng.IntN(30); {
			case r < 2:
				a.thenStatus = pinwheel.StatusDegraded
			case r < 4:
				a.thenStatus = pinwheel.StatusUserActionRequired
			case r == 4:
				a.thenStatus = pinwheel.StatusUnavailable
			case r == 5:
				a.thenStatus = pinwheel.StatusCustomerDisabled
			}
		}
		// A second account of the same end user goes to another platform.
		for _, prev := range out[i] {
			if prev.platform.ID == a.platform.ID {
				k := slices.IndexFunc(platforms, func(p pinwheel.Platform) bool { return p.ID == a.platform.ID })
				a.platform = platforms[(k+1)%len(platforms)]
			}
		}
		out[i] = append(out[i], a)
	}
	return out
}

// runAccount mints a token for the plan, drives its Link session and moves
// the account's monitoring status if the plan says so.
func runAccount(ctx context.Context, cfg Config, a accountPlan) error {
	jobs := []string{pinwheel.JobIdentity, pinwheel.JobEmployment, pinwheel.JobIncome, pinwheel.JobPaystubs, pinwheel.JobDDAllocations}
	if slices.Contains(a.platform.SupportedJobs, pinwheel.JobShifts) {
		jobs = append(jobs, pinwheel.JobShifts)
	}
	in := pinwheel.LinkTokenCreate{OrgName: "Linkdesk Demo", EndUserID: a.endUser, PlatformID: a.platform.ID}
	if a.switchTo != nil {
		jobs = append(jobs, pinwheel.JobDDSwitch)
		in.Allocation = &pinwheel.Allocation{Targets: []pinwheel.BankAccount{{
			Name: DepositAccount.Name, Type: DepositAccount.Type, RoutingNumber: DepositAccount.RoutingNumber, AccountNumber: DepositAccount.AccountNumber,
		}}}
	}
	jobs = slices.DeleteFunc(jobs, func(j string) bool {
		return len(a.platform.SupportedJobs) > 0 && !slices.Contains(a.platform.SupportedJobs, j)
	})
	if cfg.Version >= pinwheel.Version20250708 {
		in.Features, in.Solution = jobs, pinwheel.SolutionVerify
		if a.switchTo != nil {
			in.Solution = pinwheel.SolutionDepositSwitch
		}
	} else {
		in.RequiredJobs = jobs
	}
	tok, err := cfg.Client.CreateLinkToken(ctx, in)
	if err != nil {
		return fmt.Errorf("mint token: %w", err)
	}
	res, err := cfg.Driver.Complete(ctx, tok.Token, sandbox.SessionPlan{
		Username: a.username, PlatformID: a.platform.ID, Allocation: a.switchTo,
	})
	var le *sandbox.LinkError
	if err != nil && !(errors.As(err, &le) && res.AccountID != "") {
		return fmt.Errorf("link session as %s: %w", a.username, err)
	}
	if res.AccountID == "" {
		return nil
	}
	if a.thenStatus != "" {
		switch a.thenStatus {
		case pinwheel.StatusCustomerDisabled:
			err = cfg.Client.DisableMonitoring(ctx, res.AccountID)
		case pinwheel.StatusUserActionRequired:
			// The one status Pinwheel's sandbox PATCH accepts.
			_, err = cfg.Client.SandboxSetMonitoringStatus(ctx, res.AccountID, a.thenStatus)
		default:
			// degraded, unavailable: the emulator-only knob.
			err = cfg.Driver.SetMonitoringStatus(ctx, res.AccountID, a.thenStatus)
		}
		if err != nil {
			return fmt.Errorf("set status %s: %w", a.thenStatus, err)
		}
	}
	if cfg.OnAccount != nil {
		return cfg.OnAccount(ctx, Account{EndUserID: a.endUser, AccountID: res.AccountID, PlatformID: a.platform.ID, Username: a.username, Index: a.index})
	}
	return nil
}

// payrollPlatforms lists the emulator's platforms that support identity.
func payrollPlatforms(ctx context.Context, c *pinwheel.Client) ([]pinwheel.Platform, error) {
	var out []pinwheel.Platform
	for p, err := range c.Platforms(ctx, pinwheel.PlatformsFilter{}) {
		if err != nil {
			return nil, err
		}
		if len(p.SupportedJobs) == 0 || slices.Contains(p.SupportedJobs, pinwheel.JobIdentity) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no platforms")
	}
	return out, nil
}
