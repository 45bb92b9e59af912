package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"linkdesk/db"
	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
)

// The demo world's finished campaign, so that a newcomer sees results at
// once: "Move $200 or more of each paycheck and get $50" to the demo
// accounts that send nothing to the organisation's Payroll Checking, with
// a 20% holdout. It is built the way a real one is: a product operator
// drafts it, the admin approves it, the job runner launches it, and the
// demo then plays the users: some open their launch page (Linkdesk mints
// the token then), some go through Link and switch $200 to $400 (the
// switch webhooks and the allocation fetches convert them), some only
// look; a few holdout users move money on their own (the emulator's
// allocation knob, as a monitoring refresh would report it). The admin
// then marks the eligible incentives paid and ends the campaign. Each
// phase is recorded in a settings row, so a restart resumes.

// campaignKey records the demo campaign's progress: "created:ID",
// "driven:ID", then "done".
const campaignKey = "demo_campaign"

// demoDeposit is the organisation's account the demo campaign asks for.
var demoDeposit = db.DepositAccountCreate{Name: "Payroll Checking", Type: db.AccountChecking, RoutingNumber: "021000021", AccountNumber: "4400556789"}

// RunCampaign builds the demo campaign once (cfg.LinkdeskURL is where the
// launch pages are; without it nothing happens). The job runner must be
// running: it launches the campaign and fetches the data that converts it.
func RunCampaign(ctx context.Context, cfg Config) error {
	if cfg.LinkdeskURL == "" {
		return nil
	}
	if cfg.Seed == 0 {
		cfg.Seed = 2026
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	st := cfg.Store
	phase, err := st.Setting(ctx, campaignKey)
	switch {
	case err == nil && phase == "done":
		return nil
	case err != nil && !errors.Is(err, db.ErrNotFound):
		return err
	case errors.Is(err, db.ErrNotFound):
		if tot, err := st.Totals(ctx); err != nil || tot["accounts"] == 0 {
			return err // no demo world, no campaign
		}
	}
	if err := waitQuiet(ctx, st); err != nil {
		return err
	}
	admin, op, err := campaignStaff(ctx, st)
	if err != nil {
		return err
	}
	kind, rest, _ := strings.Cut(phase, ":")
	id, _ := strconv.ParseInt(rest, 10, 64)
	if id == 0 {
		if id, err = draftCampaign(ctx, st, admin, op); err != nil {
			return fmt.Errorf("demo campaign: %w", err)
		}
		kind = "created"
		if err := st.SetSetting(ctx, campaignKey, "created:"+strconv.FormatInt(id, 10)); err != nil {
			return err
		}
	}
	if err := waitFor(ctx, 2*time.Minute, func() (bool, error) {
		c, err := st.CampaignByID(ctx, id)
		return c.State != db.CampaignLaunching, err
	}); err != nil {
		return fmt.Errorf("demo campaign launch: %w", err)
	}
	if kind == "created" {
		moved, err := playUsers(ctx, cfg, id)
		if err != nil {
			return fmt.Errorf("demo campaign users: %w", err)
		}
		// Wait for what the users did to arrive: the switch webhooks, the
		// allocation fetches and the conversions they make.
		if err := waitFor(ctx, 2*time.Minute, func() (bool, error) { return converted(ctx, st, id, moved) }); err != nil {
			return err
		}
		if err := st.SetSetting(ctx, campaignKey, "driven:"+strconv.FormatInt(id, 10)); err != nil {
			return err
		}
	}
	if err := waitQuiet(ctx, st); err != nil {
		return err
	}
	if _, err := st.MarkPaid(ctx, admin, id, st.Now()); err != nil {
		return err
	}
	var ce *db.CampaignError
	if err := st.EndCampaign(ctx, op, id); err != nil && !errors.As(err, &ce) {
		return err
	}
	cfg.Log.Info("demo campaign built", "campaign", id)
	return st.SetSetting(ctx, campaignKey, "done")
}

// campaignStaff returns the approving admin (the first active one) and
// the product operator who drafts the campaign, created once.
func campaignStaff(ctx context.Context, st *db.Store) (admin, op db.Actor, err error) {
	const email = "priya.product@linkdesk.local"
	list, err := st.ListStaff(ctx)
	if err != nil {
		return admin, op, err
	}
	for _, s := range list {
		switch {
		case s.Role == db.RoleAdmin && s.Active && admin.StaffID == 0:
			admin = db.Actor{StaffID: s.ID, Email: s.Email, UserAgent: "demo"}
		case s.Email == email:
			op = db.Actor{StaffID: s.ID, Email: s.Email, UserAgent: "demo"}
		}
	}
	if admin.StaffID == 0 {
		return admin, op, errors.New("demo campaign: no admin")
	}
	if op.StaffID == 0 {
		s, err := st.CreateStaff(ctx, db.Actor{Email: "demo", UserAgent: "demo"}, db.StaffCreate{Email: email, Name: "Priya (product, demo)",
			Role: db.RoleOperator, Password: db.RandomHex(16)})
		if err != nil {
			return admin, op, err
		}
		op = db.Actor{StaffID: s.ID, Email: s.Email, UserAgent: "demo"}
	}
	return admin, op, nil
}

// draftCampaign adds the deposit account (once), drafts, approves and
// launches the campaign.
func draftCampaign(ctx context.Context, st *db.Store, admin, op db.Actor) (int64, error) {
	deps, err := st.ListDepositAccounts(ctx, true)
	if err != nil {
		return 0, err
	}
	i := slices.IndexFunc(deps, func(d db.DepositAccount) bool { return d.Name == demoDeposit.Name })
	var dep db.DepositAccount
	if i >= 0 {
		dep = deps[i]
	} else if dep, err = st.CreateDepositAccount(ctx, admin, demoDeposit); err != nil {
		return 0, err
	}
	id, err := st.CreateCampaign(ctx, op, db.CampaignInput{Name: "Move $200, get $50 (demo)", Goal: db.GoalAllocation,
		DepositAccount: strconv.FormatInt(dep.ID, 10), Ask: db.AskMinimum, AskAmount: "200", IncentiveAmount: "50",
		LifetimeDays: "14", HoldDays: "0", HoldoutPct: "20", Tags: "campaign=demo-spring\nchannel=email",
		Cohort: url.Values{"alloc": {db.CohortAllocNone}}})
	if err != nil {
		return 0, err
	}
	if err := st.ApproveCampaign(ctx, admin, db.RoleAdmin, id); err != nil {
		return 0, err
	}
	return id, st.LaunchCampaign(ctx, op, id)
}

// playUsers plays the campaign's users: a share of the treatment opens
// its launch page and goes through Link, a few holdout users change their
// allocation at work. It returns the accounts whose allocation to us rose.
func playUsers(ctx context.Context, cfg Config, id int64) ([]string, error) {
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed+11))
	members, err := allMembers(ctx, cfg.Store, id)
	if err != nil {
		return nil, err
	}
	var moved []string
	hc := &http.Client{Timeout: 30 * time.Second}
	for _, m := range members {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		r := rng.Float64()
		if m.Group == db.GroupHoldout {
			if r < 0.12 {
				err := cfg.Driver.SetAllocation(ctx, m.AccountID, sandbox.AllocationChange{Action: pinwheel.ActionPartialSwitch,
					Type: pinwheel.AllocationAmount, Value: float64(100 + 50*rng.IntN(4)), Target: sandboxTarget()})
				if err != nil {
					return nil, err
				}
				moved = append(moved, m.AccountID)
			}
			continue
		}
		if r < 0.6 || m.LaunchID == "" {
			continue // never opened the link (most people do not)
		}
		launch := strings.TrimRight(cfg.LinkdeskURL, "/") + "/l/" + m.LaunchID
		token, err := openLaunchPage(ctx, hc, launch, cfg.LaunchHost)
		if err != nil || token == "" {
			continue // used, expired or unavailable: the user moves on
		}
		if r < 0.67 {
			continue // looked at the page only
		}
		var res sandbox.Result
		if r < 0.72 {
			res = quitLink(ctx, cfg.Driver, token)
		} else {
			amount := []float64{200, 200, 250, 300, 400}[rng.IntN(5)]
			res, _ = cfg.Driver.Complete(ctx, token, sandbox.SessionPlan{
				Allocation: &sandbox.AllocationChoice{Action: pinwheel.ActionPartialSwitch, Type: pinwheel.AllocationAmount, Value: amount}})
			if res.Outcome == "success" {
				moved = append(moved, m.AccountID)
			}
		}
		for _, e := range res.Events {
			switch e.Name {
			case "open", "login", "success", "error", "exit":
				if err := postEvent(ctx, hc, launch+"/events", cfg.LaunchHost, e); err != nil {
					return nil, err
				}
			}
		}
	}
	return moved, nil
}

// converted reports whether every account in accounts converted in the
// campaign.
func converted(ctx context.Context, st *db.Store, id int64, accounts []string) (bool, error) {
	for _, a := range accounts {
		list, err := st.AccountCampaigns(ctx, a)
		if err != nil {
			return false, err
		}
		i := slices.IndexFunc(list, func(c db.AccountCampaign) bool { return c.CampaignID == id })
		if i < 0 || list[i].Result != db.ResultUp {
			return false, nil
		}
	}
	return true, nil
}

// waitQuiet waits (two minutes at most) until Linkdesk is quiet: no data
// fetch queued or running and no new webhook for a second, so that the
// demo world's deliveries (which the emulator holds back and redelivers)
// have arrived.
func waitQuiet(ctx context.Context, st *db.Store) error {
	var last int64 = -1
	var since time.Time
	return waitFor(ctx, 2*time.Minute, func() (bool, error) {
		tot, err := st.Totals(ctx)
		if err != nil {
			return false, err
		}
		idle, err := fetchesIdle(ctx, st)
		if err != nil || !idle || tot["events"] != last {
			last, since = tot["events"], time.Now()
			return false, err
		}
		return time.Since(since) >= time.Second, nil
	})
}

// sandboxTarget is the organisation's deposit account as a bank account.
func sandboxTarget() sandbox.BankAccount {
	return sandbox.BankAccount{Name: demoDeposit.Name, Type: demoDeposit.Type, RoutingNumber: demoDeposit.RoutingNumber, AccountNumber: demoDeposit.AccountNumber}
}

// allMembers pages through a campaign's members.
func allMembers(ctx context.Context, st *db.Store, id int64) ([]db.MemberRow, error) {
	var out []db.MemberRow
	f := db.MemberFilter{Limit: 200}
	for {
		rows, next, err := st.ListCampaignMembers(ctx, id, f)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
		if next == 0 {
			slices.Reverse(out)
			return out, nil
		}
		f.Before = next
	}
}

var linkTokenAttr = regexp.MustCompile(`data-link-token="([^"]+)"`)

// openLaunchPage loads a launch page as the user's browser would and
// returns the Link token it carries ("" when the page does not open Link).
func openLaunchPage(ctx context.Context, c *http.Client, launch, host string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, launch, nil)
	if err != nil {
		return "", err
	}
	if host != "" {
		req.Host = host
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", err
	}
	m := linkTokenAttr.FindSubmatch(page)
	if m == nil {
		return "", nil
	}
	return string(m[1]), nil
}

// quitLink opens Link and leaves at once.
func quitLink(ctx context.Context, d *sandbox.Driver, token string) sandbox.Result {
	var res sandbox.Result
	st, err := d.Open(ctx, token)
	if err != nil {
		return res
	}
	res.Events = append(res.Events, st.Events...)
	if st, err = d.Exit(ctx, st.SessionID); err == nil {
		res.Events = append(res.Events, st.Events...)
	}
	return res
}

// postEvent reports a Link event to the launch page's endpoint, as
// launch.js does.
func postEvent(ctx context.Context, c *http.Client, u, host string, e sandbox.ClientEvent) error {
	payload := e.Payload
	if len(payload) == 0 || payload[0] != '{' {
		payload = json.RawMessage(`{}`)
	}
	body, _ := json.Marshal(map[string]any{"name": e.Name, "payload": payload})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if host != "" {
		req.Host = host
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// fetchesIdle reports whether no data fetch is queued or running.
func fetchesIdle(ctx context.Context, st *db.Store) (bool, error) {
	stats, err := st.JobStats(ctx)
	if err != nil {
		return false, err
	}
	for _, k := range stats {
		if slices.Contains(db.FetchJobKinds, k.Kind) && k.Depth() > 0 {
			return false, nil
		}
	}
	return true, nil
}

// waitFor polls cond every 200 ms until it holds, the deadline passes
// (not an error: the demo goes on with what it has) or ctx ends.
func waitFor(ctx context.Context, d time.Duration, cond func() (bool, error)) error {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}
