package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"linkdesk/pinwheel"
)

// Incentive campaigns: an offer (raise the direct deposit allocation to
// one of our accounts, or refresh identity, income or employment) sent to
// a cohort of accounts, with a holdout group that gets nothing, so that the
// result says what the offer itself changed. This file holds the campaign
// and its life: drafts, approval, launch, pause, resume, cancel, end, the
// approval setting and the reads of the pages. The launch's work is in
// campaign_launch.go, the tracking of members in campaign_tracking.go, the
// results and their statistics in campaign_results.go.

// Campaign goals.
const (
	GoalAllocation = "allocation"
	GoalIdentity   = "identity"
	GoalIncome     = "income"
	GoalEmployment = "employment"
)

// Goals lists the goals, the main one first.
var Goals = []string{GoalAllocation, GoalIdentity, GoalIncome, GoalEmployment}

// Asks of an allocation campaign.
const (
	AskAmount  = "amount"  // a fixed amount, preset in Link
	AskMinimum = "minimum" // at least an amount
	AskChoice  = "choice"  // the user chooses
)

// Campaign states.
const (
	CampaignDraft     = "draft"
	CampaignApproved  = "approved"
	CampaignLaunching = "launching"
	CampaignPaused    = "paused"
	CampaignLive      = "live"
	CampaignEnded     = "ended"
	CampaignCancelled = "cancelled"
)

// CampaignStates lists the states in their order of life.
var CampaignStates = []string{CampaignDraft, CampaignApproved, CampaignLaunching, CampaignPaused, CampaignLive, CampaignEnded, CampaignCancelled}

// Groups of members.
const (
	GroupTreatment = "treatment"
	GroupHoldout   = "holdout"
)

// Job kinds of campaigns.
const (
	// JobCampaignLaunch freezes a campaign's cohort and creates its launch
	// links (payload {"campaign_id"}, one queued per campaign).
	JobCampaignLaunch = "campaign.launch"
	// JobCampaignHolds makes members whose hold period passed eligible
	// (payload {}, one queued, due at the earliest hold end).
	JobCampaignHolds = "campaign.holds"
)

// Audit actions of campaigns.
const (
	ActionCampaignCreated       = "campaign.created"
	ActionCampaignUpdated       = "campaign.updated"
	ActionCampaignApproved      = "campaign.approved"
	ActionCampaignLaunched      = "campaign.launched"
	ActionCampaignFrozen        = "campaign.cohort_frozen"
	ActionCampaignLinksCreated  = "campaign.links_created"
	ActionCampaignLaunchDone    = "campaign.launch_finished"
	ActionCampaignPaused        = "campaign.paused"
	ActionCampaignResumed       = "campaign.resumed"
	ActionCampaignCancelled     = "campaign.cancelled"
	ActionCampaignEnded         = "campaign.ended"
	ActionCampaignMembersExport = "campaign.members_exported"
	ActionCampaignPaid          = "campaign.payout_marked"
	ActionCampaignApprovalRule  = "settings.campaign_approval_changed"
)

// Limits of a campaign.
const (
	MinLinkLifetimeDays = 1
	MaxLinkLifetimeDays = 90
	MaxHoldDays         = 365
	MaxHoldoutPct       = 50
	// DefaultHoldoutPct is the holdout share of a new campaign.
	DefaultHoldoutPct = 10
	// BaselineMaxAge is how old the allocations snapshot of a member's
	// baseline may be at launch for the member to be judged.
	BaselineMaxAge = 30 * 24 * time.Hour
)

// Errors of campaign state changes; handlers show their text.
var (
	// ErrCampaignLocked: the campaign left the draft stage; its offer and
	// cohort can no longer change.
	ErrCampaignLocked = errors.New("db: campaign launched")
	// ErrCampaignState: the action does not apply in the campaign's state.
	ErrCampaignState = errors.New("db: campaign state")
)

// CampaignError is a refused campaign action with the reason to show.
type CampaignError struct {
	Err    error // ErrCampaignLocked or ErrCampaignState
	Reason string
}

func (e *CampaignError) Error() string { return e.Err.Error() + ": " + e.Reason }
func (e *CampaignError) Unwrap() error { return e.Err }

func refused(err error, reason string) error { return &CampaignError{Err: err, Reason: reason} }

// Campaign is one campaign.
type Campaign struct {
	ID   int64
	Name string
	Goal string
	// DepositAccount is the target of an allocation campaign (zero ID
	// otherwise).
	DepositAccount DepositAccount
	Ask            string
	AskCents       int64
	IncentiveText  string
	IncentiveCents int64
	LifetimeDays   int
	HoldDays       int
	HoldoutPct     float64
	Tags           map[string]string
	// Cohort is the filter; CohortQuery its canonical query string.
	Cohort      CohortFilter
	CohortQuery string
	State       string
	Note        string

	CreatedBy, UpdatedBy, ApprovedBy, LaunchedBy int64
	CreatedByName, UpdatedByName                 string
	ApprovedByName, LaunchedByName               string
	CreatedAt, UpdatedAt, ApprovedAt, LaunchedAt time.Time
	FrozenAt, LaunchDoneAt, EndedAt              time.Time

	Members, Treatment, Holdout, LinksCreated int64

	salt string
}

// Launched reports whether the campaign was launched (whatever came after).
func (c Campaign) Launched() bool {
	switch c.State {
	case CampaignLaunching, CampaignPaused, CampaignLive, CampaignEnded, CampaignCancelled:
		return true
	}
	return false
}

// Editable reports whether the offer and cohort may still change.
func (c Campaign) Editable() bool { return c.State == CampaignDraft || c.State == CampaignApproved }

// Progress is the share of treatment members with a launch link, 0 to 1.
func (c Campaign) Progress() float64 {
	if c.Treatment == 0 {
		if c.FrozenAt.IsZero() {
			return 0
		}
		return 1
	}
	return float64(c.LinksCreated) / float64(c.Treatment)
}

// Job is the Pinwheel job the campaign's links ask for.
func (c Campaign) Job() string { return GoalJob(c.Goal) }

// CampaignInput is a submitted campaign form, as text.
type CampaignInput struct {
	Name, Goal, DepositAccount, Ask, AskAmount string
	IncentiveText, IncentiveAmount             string
	LifetimeDays, HoldDays, HoldoutPct, Tags   string
	// Cohort holds the cohort's filter parameters.
	Cohort url.Values
}

// CampaignSettings is a validated offer and cohort.
type CampaignSettings struct {
	Name             string
	Goal             string
	DepositAccountID int64
	Ask              string
	AskCents         int64
	IncentiveText    string
	IncentiveCents   int64
	LifetimeDays     int
	HoldDays         int
	HoldoutPct       float64
	Tags             map[string]string
	Cohort           CohortFilter
}

var tagKeyRE = regexp.MustCompile(`^[a-z0-9_]{1,40}$`)

// ParseTags reads "key=value" lines (or comma-separated pairs) into tags.
func ParseTags(s string) (map[string]string, string) {
	tags := map[string]string{}
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == ',' || r == '\r' }) {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case !ok || !tagKeyRE.MatchString(k):
			return nil, "Write one tag per line as key=value; keys use a-z, 0-9 and _ (at most 40)."
		case strings.HasPrefix(k, "linkdesk_"):
			return nil, "Keys starting with linkdesk_ are Linkdesk's own: choose another key."
		case v == "" || utf8.RuneCountInString(v) > 100:
			return nil, "Give each tag a value of 1 to 100 characters."
		case tags[k] != "":
			return nil, "The key " + k + " appears twice."
		}
		tags[k] = v
	}
	if len(tags) > 10 {
		return nil, "At most 10 tags."
	}
	return tags, ""
}

// TagsText writes tags back as the form shows them, sorted.
func TagsText(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lines := make([]string, len(keys))
	for i, k := range keys {
		lines[i] = k + "=" + tags[k]
	}
	return strings.Join(lines, "\n")
}

// dollars parses an amount of dollars into cents.
func dollars(s string) (int64, bool) {
	s = strings.TrimPrefix(strings.ReplaceAll(strings.TrimSpace(s), ",", ""), "$")
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return int64(math.Round(f * 100)), true
}

// DefaultIncentiveText is the incentive in words when none is written:
// "Move $200 or more of each paycheck and get $50".
func DefaultIncentiveText(goal, ask string, askCents, incentiveCents int64) string {
	reward := "and get " + plainDollars(incentiveCents)
	if goal != GoalAllocation {
		return "Refresh your payroll connection " + reward
	}
	switch ask {
	case AskAmount:
		return "Move " + plainDollars(askCents) + " of each paycheck " + reward
	case AskMinimum:
		return "Move " + plainDollars(askCents) + " or more of each paycheck " + reward
	}
	return "Move part of each paycheck to us " + reward
}

// plainDollars is "$50" or "$12.50".
func plainDollars(c int64) string {
	if c%100 == 0 {
		return "$" + strconv.FormatInt(c/100, 10)
	}
	return fmt.Sprintf("$%d.%02d", c/100, c%100)
}

// ValidateCampaign checks a campaign form: the offer's fields and the
// cohort's filter (knownPlatform checks a platform id; deposit reads a
// deposit account). It returns the settings or field errors.
func ValidateCampaign(in CampaignInput, knownPlatform func(string) bool, deposit func(int64) (DepositAccount, error)) (CampaignSettings, FieldErrors) {
	var out CampaignSettings
	fe := FieldErrors{}
	out.Name = strings.TrimSpace(in.Name)
	if n := utf8.RuneCountInString(out.Name); n < 3 || n > 80 {
		fe["name"] = "Name the campaign in 3 to 80 characters."
	}
	out.Goal = in.Goal
	if !slices.Contains(Goals, in.Goal) {
		fe["goal"] = "Choose a goal."
	}
	if out.Goal == GoalAllocation {
		id, err := strconv.ParseInt(in.DepositAccount, 10, 64)
		switch {
		case in.DepositAccount == "":
			fe["deposit_account"] = "Choose the deposit account the pay should go to."
		case err != nil:
			fe["deposit_account"] = "Choose a deposit account from the list."
		default:
			d, err := deposit(id)
			switch {
			case err != nil:
				fe["deposit_account"] = "Choose a deposit account from the list."
			case !d.Active:
				fe["deposit_account"] = d.Label() + " was archived; choose an active account."
			default:
				out.DepositAccountID = id
			}
		}
		out.Ask = in.Ask
		switch in.Ask {
		case AskAmount, AskMinimum:
			c, ok := dollars(in.AskAmount)
			switch {
			case strings.TrimSpace(in.AskAmount) == "":
				fe["ask_amount"] = "Enter the amount per paycheck in dollars."
			case !ok || c < 100 || c > 1000000:
				fe["ask_amount"] = "Enter an amount from $1 to $10,000 per paycheck."
			default:
				out.AskCents = c
			}
		case AskChoice:
		default:
			fe["ask"] = "Choose a fixed amount, a minimum or the user's choice."
		}
	}
	switch c, ok := dollars(in.IncentiveAmount); {
	case strings.TrimSpace(in.IncentiveAmount) == "":
		fe["incentive_amount"] = "Enter the incentive in dollars (0 for none)."
	case !ok || c < 0 || c > 1000000:
		fe["incentive_amount"] = "Enter an incentive from $0 to $10,000."
	default:
		out.IncentiveCents = c
	}
	out.IncentiveText = strings.TrimSpace(in.IncentiveText)
	if utf8.RuneCountInString(out.IncentiveText) > 200 {
		fe["incentive_text"] = "Keep the incentive to 200 characters."
	}
	if out.IncentiveText == "" && fe["incentive_amount"] == "" && fe["ask_amount"] == "" {
		out.IncentiveText = DefaultIncentiveText(out.Goal, out.Ask, out.AskCents, out.IncentiveCents)
	}
	num := func(key, s string, lo, hi int, msg string) int {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < lo || n > hi {
			fe[key] = msg
		}
		return n
	}
	out.LifetimeDays = num("lifetime_days", in.LifetimeDays, MinLinkLifetimeDays, MaxLinkLifetimeDays, "Links live 1 to 90 days.")
	out.HoldDays = num("hold_days", in.HoldDays, 0, MaxHoldDays, "Enter a hold period of 0 to 365 days.")
	p, err := strconv.ParseFloat(strings.TrimSpace(in.HoldoutPct), 64)
	if err != nil || math.IsNaN(p) || p < 0 || p > MaxHoldoutPct {
		fe["holdout_pct"] = "Enter a holdout share from 0 to 50 percent."
	}
	out.HoldoutPct = p
	tags, msg := ParseTags(in.Tags)
	if msg != "" {
		fe["tags"] = msg
	}
	out.Tags = tags
	cf, cfe := ParseCohort(in.Cohort, knownPlatform)
	for k, v := range cfe {
		fe[k] = v
	}
	out.Cohort = cf
	if len(fe) == 0 {
		return out, nil
	}
	return out, fe
}

// knownPlatformIn returns the platform check of the cohort filter over tx.
func knownPlatformIn(ctx context.Context, q readQuerier) func(string) bool {
	return func(id string) bool {
		var n int
		err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM account_facet_counts WHERE facet = 'platform' AND value = ? AND n > 0`, id).Scan(&n)
		return err == nil && n > 0
	}
}

// depositIn returns the deposit account reader of validation over tx.
func depositIn(ctx context.Context, q readQuerier) func(int64) (DepositAccount, error) {
	return func(id int64) (DepositAccount, error) {
		return scanDepositAccount(q.QueryRowContext(ctx, `SELECT `+depositAccountColumns+` FROM deposit_accounts WHERE id = ?`, id))
	}
}

// KnownPlatform reports whether accounts exist on platform id (for the
// cohort filter's validation outside a campaign).
func (s *Store) KnownPlatform(ctx context.Context, id string) bool {
	return knownPlatformIn(ctx, s.r)(id)
}

// auditSettings is a campaign's offer and cohort as audited.
func (c CampaignSettings) audit() map[string]any {
	m := map[string]any{"name": c.Name, "goal": c.Goal, "incentive_text": c.IncentiveText, "incentive_cents": c.IncentiveCents,
		"lifetime_days": c.LifetimeDays, "hold_days": c.HoldDays, "holdout_pct": c.HoldoutPct, "tags": c.Tags, "cohort": c.Cohort.String()}
	if c.Goal == GoalAllocation {
		m["deposit_account_id"], m["ask"], m["ask_cents"] = c.DepositAccountID, c.Ask, c.AskCents
	}
	return m
}

// emptyCohort is the field error of a cohort no account matches.
const emptyCohort = "No account matches these filters: a campaign needs at least one."

// cohortCount counts a filter's accounts inside tx.
func (s *Store) cohortCount(ctx context.Context, q readQuerier, f CohortFilter, goal string) (int64, error) {
	sup, err := supportingPlatforms(ctx, q, GoalJob(goal))
	if err != nil {
		return 0, err
	}
	where, args := cohortWhere(f, s.now().UTC(), sup)
	var n int64
	err = q.QueryRowContext(ctx, cohortCountSQL(where), args...).Scan(&n)
	return n, err
}

// validateIn validates a campaign form inside tx, the empty cohort
// included.
func (s *Store) validateIn(ctx context.Context, tx *sql.Tx, in CampaignInput) (CampaignSettings, error) {
	c, fe := ValidateCampaign(in, knownPlatformIn(ctx, tx), depositIn(ctx, tx))
	if fe != nil {
		return c, fe
	}
	n, err := s.cohortCount(ctx, tx, c.Cohort, c.Goal)
	if err != nil {
		return c, err
	}
	if n == 0 {
		return c, FieldErrors{"cohort": emptyCohort}
	}
	return c, nil
}

// CreateCampaign validates and stores a new draft, audited.
func (s *Store) CreateCampaign(ctx context.Context, a Actor, in CampaignInput) (int64, error) {
	var id int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		c, err := s.validateIn(ctx, tx, in)
		if err != nil {
			return err
		}
		tags, _ := json.Marshal(c.Tags)
		now := FormatTime(s.now())
		err = tx.QueryRowContext(ctx, `INSERT INTO campaigns (name, goal, deposit_account_id, ask, ask_cents, incentive_text, incentive_cents,
  lifetime_days, hold_days, holdout_pct, tags, cohort, salt, state, created_by, updated_by, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'draft', ?, ?, ?, ?) RETURNING id`,
			c.Name, c.Goal, nullID(c.DepositAccountID), c.Ask, c.AskCents, c.IncentiveText, c.IncentiveCents, c.LifetimeDays, c.HoldDays,
			c.HoldoutPct, string(tags), c.Cohort.String(), RandomHex(32), a.StaffID, a.StaffID, now, now).Scan(&id)
		if err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionCampaignCreated, "campaign", strconv.FormatInt(id, 10), c.audit())
	})
	var fe FieldErrors
	if errors.As(err, &fe) {
		return 0, fe
	}
	if err != nil {
		return 0, fmt.Errorf("db: create campaign: %w", err)
	}
	return id, nil
}

// UpdateCampaign changes a draft's offer and cohort, audited. Editing an
// approved campaign takes it back to draft (the approval was for the old
// offer); a launched campaign is refused with ErrCampaignLocked.
func (s *Store) UpdateCampaign(ctx context.Context, a Actor, id int64, in CampaignInput) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		cur, err := s.campaign(ctx, tx, id)
		if err != nil {
			return err
		}
		if !cur.Editable() {
			return refused(ErrCampaignLocked, "This campaign was launched: its offer and cohort can no longer change.")
		}
		c, err := s.validateIn(ctx, tx, in)
		if err != nil {
			return err
		}
		tags, _ := json.Marshal(c.Tags)
		_, err = tx.ExecContext(ctx, `UPDATE campaigns SET name = ?, goal = ?, deposit_account_id = ?, ask = ?, ask_cents = ?, incentive_text = ?,
  incentive_cents = ?, lifetime_days = ?, hold_days = ?, holdout_pct = ?, tags = ?, cohort = ?, state = 'draft', approved_by = NULL,
  approved_at = NULL, updated_by = ?, updated_at = ? WHERE id = ?`,
			c.Name, c.Goal, nullID(c.DepositAccountID), c.Ask, c.AskCents, c.IncentiveText, c.IncentiveCents, c.LifetimeDays, c.HoldDays,
			c.HoldoutPct, string(tags), c.Cohort.String(), a.StaffID, FormatTime(s.now()), id)
		if err != nil {
			return err
		}
		detail := c.audit()
		if cur.State == CampaignApproved {
			detail["approval_withdrawn"] = true
		}
		return s.appendAudit(ctx, tx, a, ActionCampaignUpdated, "campaign", strconv.FormatInt(id, 10), detail)
	})
	var fe FieldErrors
	var ce *CampaignError
	if errors.As(err, &fe) || errors.As(err, &ce) || errors.Is(err, ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("db: update campaign %d: %w", id, err)
	}
	return nil
}

// settingCampaignApproval is "off" when an admin turned approval off.
const settingCampaignApproval = "campaign_approval"

// CampaignApprovalRequired reports whether launching needs a second
// person's approval (the default).
func (s *Store) CampaignApprovalRequired(ctx context.Context) (bool, error) {
	return approvalRequired(ctx, s.r)
}

func approvalRequired(ctx context.Context, q readQuerier) (bool, error) {
	var v string
	err := q.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, settingCampaignApproval).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("db: campaign approval setting: %w", err)
	}
	return v != "off", nil
}

// SetCampaignApproval turns the second-person approval of launches on or
// off, audited.
func (s *Store) SetCampaignApproval(ctx context.Context, a Actor, required bool) error {
	v := "on"
	if !required {
		v = "off"
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		cur, err := approvalRequired(ctx, tx)
		if err != nil {
			return err
		}
		if cur == required {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, settingCampaignApproval, v, FormatTime(s.now())); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionCampaignApprovalRule, "settings", settingCampaignApproval, map[string]any{"required": required})
	})
	if err != nil {
		return fmt.Errorf("db: set campaign approval: %w", err)
	}
	return nil
}

// ApproveCampaign records an admin's approval of a draft. The approver
// must not be the person who drafted or last edited it; a campaign that is
// not a draft is refused.
func (s *Store) ApproveCampaign(ctx context.Context, a Actor, role string, id int64) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		c, err := s.campaign(ctx, tx, id)
		if err != nil {
			return err
		}
		switch {
		case c.State == CampaignApproved:
			return refused(ErrCampaignState, "This campaign is already approved.")
		case c.State != CampaignDraft:
			return refused(ErrCampaignState, "Only a draft can be approved; this campaign is "+c.State+".")
		case role != RoleAdmin:
			return refused(ErrCampaignState, "Only an admin can approve a campaign.")
		case a.StaffID == c.CreatedBy || a.StaffID == c.UpdatedBy:
			return refused(ErrCampaignState, "A second person must approve: you drafted or last edited this campaign.")
		}
		now := FormatTime(s.now())
		if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET state = 'approved', approved_by = ?, approved_at = ? WHERE id = ? AND state = 'draft'`,
			a.StaffID, now, id); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionCampaignApproved, "campaign", strconv.FormatInt(id, 10),
			map[string]any{"name": c.Name, "drafted_by": c.CreatedBy, "edited_by": c.UpdatedBy})
	})
	return campaignErr("approve", id, err)
}

// campaignErr wraps a use case's error, keeping the errors handlers map.
func campaignErr(what string, id int64, err error) error {
	var ce *CampaignError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce), errors.Is(err, ErrNotFound):
		return err
	}
	return fmt.Errorf("db: %s campaign %d: %w", what, id, err)
}

// LaunchCampaign starts a campaign's launch: the campaign becomes
// launching and a JobCampaignLaunch job freezes its cohort and creates its
// links. It needs an approved campaign (or a draft while approval is off),
// a cohort that is not empty and an active deposit account. A campaign
// already launching or launched is refused (a second click changes
// nothing).
func (s *Store) LaunchCampaign(ctx context.Context, a Actor, id int64) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		c, err := s.campaign(ctx, tx, id)
		if err != nil {
			return err
		}
		need, err := approvalRequired(ctx, tx)
		if err != nil {
			return err
		}
		switch {
		case c.Launched():
			return refused(ErrCampaignState, "This campaign was already launched.")
		case c.State == CampaignDraft && need:
			return refused(ErrCampaignState, "This campaign needs an admin's approval first (an admin who did not draft it).")
		case c.Goal == GoalAllocation && !c.DepositAccount.Active:
			return refused(ErrCampaignState, "Its deposit account "+c.DepositAccount.Label()+" was archived: edit the campaign and choose an active one.")
		}
		n, err := s.cohortCount(ctx, tx, c.Cohort, c.Goal)
		if err != nil {
			return err
		}
		if n == 0 {
			return refused(ErrCampaignState, "No account matches the cohort any more: there is nobody to launch to.")
		}
		now := FormatTime(s.now())
		if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET state = 'launching', launched_by = ?, launched_at = ? WHERE id = ?`, a.StaffID, now, id); err != nil {
			return err
		}
		if _, err := s.enqueueJob(ctx, tx, launchJob(id)); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionCampaignLaunched, "campaign", strconv.FormatInt(id, 10),
			map[string]any{"name": c.Name, "cohort_now": n, "approved_by": c.ApprovedBy, "approval_required": need})
	})
	return campaignErr("launch", id, err)
}

// launchJob is the launch job of campaign id.
func launchJob(id int64) NewJob {
	return NewJob{Kind: JobCampaignLaunch, Payload: map[string]int64{"campaign_id": id}, DedupeKey: strconv.FormatInt(id, 10)}
}

// PauseCampaign stops a launch between two batches of links, audited.
func (s *Store) PauseCampaign(ctx context.Context, a Actor, id int64) error {
	return s.moveCampaign(ctx, a, id, ActionCampaignPaused, []string{CampaignLaunching}, CampaignPaused, "Only a launch in progress can be paused.")
}

// ResumeCampaign continues a paused launch where it stopped, audited.
func (s *Store) ResumeCampaign(ctx context.Context, a Actor, id int64) error {
	return s.moveCampaign(ctx, a, id, ActionCampaignResumed, []string{CampaignPaused}, CampaignLaunching, "Only a paused launch can be resumed.")
}

// CancelCampaign stops a launch for good: the links created so far are
// revoked and the members leave the live campaigns, audited.
func (s *Store) CancelCampaign(ctx context.Context, a Actor, id int64) error {
	return s.moveCampaign(ctx, a, id, ActionCampaignCancelled, []string{CampaignLaunching, CampaignPaused}, CampaignCancelled,
		"Only a launch in progress or paused can be cancelled; end a live campaign instead.")
}

// EndCampaign ends a live campaign: its members may join other campaigns,
// its links stay usable until they expire, and conversions are still
// tracked for the incentives in their hold period. Audited.
func (s *Store) EndCampaign(ctx context.Context, a Actor, id int64) error {
	return s.moveCampaign(ctx, a, id, ActionCampaignEnded, []string{CampaignLive}, CampaignEnded, "Only a live campaign can be ended.")
}

// moveCampaign changes a campaign's state from one of from to to, with
// what each move also does.
func (s *Store) moveCampaign(ctx context.Context, a Actor, id int64, action string, from []string, to, reason string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		c, err := s.campaign(ctx, tx, id)
		if err != nil {
			return err
		}
		if c.State == to {
			return refused(ErrCampaignState, "This campaign is already "+to+".")
		}
		if !slices.Contains(from, c.State) {
			return refused(ErrCampaignState, reason)
		}
		now := FormatTime(s.now())
		if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET state = ? WHERE id = ?`, to, id); err != nil {
			return err
		}
		detail := map[string]any{"name": c.Name, "from": c.State, "links_created": c.LinksCreated}
		switch to {
		case CampaignLaunching:
			if _, err := s.enqueueJob(ctx, tx, launchJob(id)); err != nil {
				return err
			}
		case CampaignCancelled, CampaignEnded:
			if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET ended_at = ? WHERE id = ?`, now, id); err != nil {
				return err
			}
			if !c.FrozenAt.IsZero() {
				if _, err := tx.ExecContext(ctx, `UPDATE cohort_accounts SET live_campaigns = live_campaigns - 1
WHERE account_ref IN (SELECT account_ref FROM campaign_members WHERE campaign_id = ?)`, id); err != nil {
					return err
				}
			}
		}
		if to == CampaignCancelled {
			res, err := tx.ExecContext(ctx, `UPDATE link_tokens SET revoked_at = ?, revoked_by = ? WHERE campaign_id = ? AND revoked_at IS NULL`,
				now, nullID(a.StaffID), id)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			if _, err := tx.ExecContext(ctx, `UPDATE link_token_mints SET token_enc = NULL
WHERE link_ref IN (SELECT id FROM link_tokens WHERE campaign_id = ?) AND token_enc IS NOT NULL`, id); err != nil {
				return err
			}
			detail["links_revoked"] = n
		}
		return s.appendAudit(ctx, tx, a, action, "campaign", strconv.FormatInt(id, 10), detail)
	})
	return campaignErr(action, id, err)
}

// nullID is a row id as a column value: NULL for 0.
func nullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

// ---- reading campaigns ----

const campaignSelect = `SELECT c.id, c.name, c.goal, COALESCE(c.deposit_account_id, 0), c.ask, c.ask_cents, c.incentive_text, c.incentive_cents,
  c.lifetime_days, c.hold_days, c.holdout_pct, c.tags, c.cohort, c.salt, c.state, c.note,
  c.created_by, c.updated_by, COALESCE(c.approved_by, 0), COALESCE(c.launched_by, 0),
  COALESCE(sc.name, ''), COALESCE(su.name, ''), COALESCE(sa.name, ''), COALESCE(sl.name, ''),
  c.created_at, c.updated_at, COALESCE(c.approved_at, ''), COALESCE(c.launched_at, ''), COALESCE(c.frozen_at, ''),
  COALESCE(c.launch_done_at, ''), COALESCE(c.ended_at, ''), c.members, c.treatment, c.holdout, c.links_created,
  COALESCE(d.name, ''), COALESCE(d.account_type, ''), COALESCE(d.routing_number, ''), COALESCE(d.account_last4, ''), COALESCE(d.active, 0)
FROM campaigns c
LEFT JOIN staff sc ON sc.id = c.created_by
LEFT JOIN staff su ON su.id = c.updated_by
LEFT JOIN staff sa ON sa.id = c.approved_by
LEFT JOIN staff sl ON sl.id = c.launched_by
LEFT JOIN deposit_accounts d ON d.id = c.deposit_account_id`

func scanCampaign(sc interface{ Scan(...any) error }) (Campaign, error) {
	var c Campaign
	var tags, cohort, created, updated, approved, launched, frozen, done, ended string
	var active int
	err := sc.Scan(&c.ID, &c.Name, &c.Goal, &c.DepositAccount.ID, &c.Ask, &c.AskCents, &c.IncentiveText, &c.IncentiveCents,
		&c.LifetimeDays, &c.HoldDays, &c.HoldoutPct, &tags, &cohort, &c.salt, &c.State, &c.Note,
		&c.CreatedBy, &c.UpdatedBy, &c.ApprovedBy, &c.LaunchedBy, &c.CreatedByName, &c.UpdatedByName, &c.ApprovedByName, &c.LaunchedByName,
		&created, &updated, &approved, &launched, &frozen, &done, &ended, &c.Members, &c.Treatment, &c.Holdout, &c.LinksCreated,
		&c.DepositAccount.Name, &c.DepositAccount.Type, &c.DepositAccount.RoutingNumber, &c.DepositAccount.Last4, &active)
	if err != nil {
		return c, err
	}
	c.DepositAccount.Active = active == 1
	c.CreatedAt, c.UpdatedAt, c.ApprovedAt, c.LaunchedAt = ParseTime(created), ParseTime(updated), ParseTime(approved), ParseTime(launched)
	c.FrozenAt, c.LaunchDoneAt, c.EndedAt = ParseTime(frozen), ParseTime(done), ParseTime(ended)
	if err := json.Unmarshal([]byte(tags), &c.Tags); err != nil {
		return c, fmt.Errorf("tags of campaign %d: %w", c.ID, err)
	}
	c.CohortQuery = cohort
	v, err := url.ParseQuery(cohort)
	if err != nil {
		return c, fmt.Errorf("cohort of campaign %d: %w", c.ID, err)
	}
	c.Cohort, _ = ParseCohort(v, nil)
	return c, nil
}

func (s *Store) campaign(ctx context.Context, q readQuerier, id int64) (Campaign, error) {
	c, err := scanCampaign(q.QueryRowContext(ctx, campaignSelect+` WHERE c.id = ?`, id))
	if err != nil {
		return Campaign{}, notFound(err)
	}
	return c, nil
}

// CampaignByID returns a campaign.
func (s *Store) CampaignByID(ctx context.Context, id int64) (Campaign, error) {
	c, err := s.campaign(ctx, s.r, id)
	if err != nil {
		return Campaign{}, fmt.Errorf("db: campaign %d: %w", id, err)
	}
	return c, nil
}

// CampaignInputOf is a stored campaign as its form shows it.
func CampaignInputOf(c Campaign) CampaignInput {
	in := CampaignInput{Name: c.Name, Goal: c.Goal, Ask: c.Ask, IncentiveText: c.IncentiveText,
		IncentiveAmount: centsText(c.IncentiveCents), LifetimeDays: strconv.Itoa(c.LifetimeDays), HoldDays: strconv.Itoa(c.HoldDays),
		HoldoutPct: strconv.FormatFloat(c.HoldoutPct, 'f', -1, 64), Tags: TagsText(c.Tags), Cohort: c.Cohort.Values()}
	if c.DepositAccount.ID != 0 {
		in.DepositAccount = strconv.FormatInt(c.DepositAccount.ID, 10)
	}
	if c.AskCents > 0 {
		in.AskAmount = centsText(c.AskCents)
	}
	return in
}

// centsText is cents as a dollar amount a form takes back: "200", "12.5".
func centsText(c int64) string { return strconv.FormatFloat(float64(c)/100, 'f', -1, 64) }

// CampaignFilter selects campaigns for /campaigns.
type CampaignFilter struct {
	State string
	// Before is the keyset cursor: campaigns with a smaller id.
	Before int64
	Limit  int
}

// CampaignSummary is a campaign with its results at a glance.
type CampaignSummary struct {
	Campaign
	Results Results
}

// CampaignStateCounts counts campaigns by state (the covering index
// campaigns_state; campaigns number in the hundreds at most).
func (s *Store) CampaignStateCounts(ctx context.Context) (map[string]int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT state, COUNT(*) FROM campaigns GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("db: campaign counts: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("db: campaign counts: %w", err)
		}
		out[st] = n
	}
	return out, rows.Err()
}

// ListCampaigns returns campaigns newest first with their results at a
// glance, and the cursor of the next page (0 when none).
func (s *Store) ListCampaigns(ctx context.Context, f CampaignFilter) ([]CampaignSummary, int64, error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	where, args := []string{"1=1"}, []any{}
	if f.State != "" {
		where, args = append(where, "c.state = ?"), append(args, f.State)
	}
	if f.Before > 0 {
		where, args = append(where, "c.id < ?"), append(args, f.Before)
	}
	var out []CampaignSummary
	var next int64
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, campaignSelect+` WHERE `+strings.Join(where, " AND ")+` ORDER BY c.id DESC LIMIT ?`, append(args, f.Limit+1)...)
		if err != nil {
			return err
		}
		var list []Campaign
		for rows.Next() {
			c, err := scanCampaign(rows)
			if err != nil {
				rows.Close()
				return err
			}
			list = append(list, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(list) > f.Limit {
			list = list[:f.Limit]
			next = list[len(list)-1].ID
		}
		for _, c := range list {
			r, err := s.results(ctx, tx, c, false)
			if err != nil {
				return err
			}
			out = append(out, CampaignSummary{Campaign: c, Results: r})
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("db: list campaigns: %w", err)
	}
	return out, next, nil
}

// LiveCampaigns returns the campaigns launching, paused or live, newest
// first (at most 10), for the dashboard.
func (s *Store) LiveCampaigns(ctx context.Context) ([]CampaignSummary, error) {
	var out []CampaignSummary
	for _, st := range []string{CampaignLaunching, CampaignPaused, CampaignLive} {
		list, _, err := s.ListCampaigns(ctx, CampaignFilter{State: st, Limit: 10})
		if err != nil {
			return nil, err
		}
		out = append(out, list...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	if len(out) > 10 {
		out = out[:10]
	}
	return out, nil
}

// AccountCampaign is one campaign an account is a member of.
type AccountCampaign struct {
	CampaignID int64
	Name       string
	State      string
	Group      string
	Stage      string
	Result     string
	Ledger     string
	TokenID    string
}

// AccountCampaigns lists the campaigns the account is a member of, newest
// first.
func (s *Store) AccountCampaigns(ctx context.Context, accountID string) ([]AccountCampaign, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT c.id, c.name, c.state, m.grp, m.stage, m.result, m.ledger, COALESCE(t.token_id, '')
FROM accounts a JOIN campaign_members m ON m.account_ref = a.id JOIN campaigns c ON c.id = m.campaign_id
LEFT JOIN link_tokens t ON t.id = m.link_ref
WHERE a.account_id = ? ORDER BY c.id DESC LIMIT 50`, accountID)
	if err != nil {
		return nil, fmt.Errorf("db: account campaigns: %w", err)
	}
	defer rows.Close()
	var out []AccountCampaign
	for rows.Next() {
		var ac AccountCampaign
		if err := rows.Scan(&ac.CampaignID, &ac.Name, &ac.State, &ac.Group, &ac.Stage, &ac.Result, &ac.Ledger, &ac.TokenID); err != nil {
			return nil, fmt.Errorf("db: account campaigns: %w", err)
		}
		out = append(out, ac)
	}
	return out, rows.Err()
}

// goalFetch is the snapshot kind that judges a campaign goal.
func goalFetch(goal string) string {
	if goal == GoalAllocation {
		return FetchDDAllocations
	}
	return GoalJob(goal)
}

// goalJobs are the jobs a campaign's links ask for.
func goalJobs(goal string) []string {
	if goal == GoalAllocation {
		return []string{pinwheel.JobDDSwitch}
	}
	return []string{GoalJob(goal)}
}
