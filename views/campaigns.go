package views

import (
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"linkdesk/db"
)

// CampaignPath is the page of a campaign.
func CampaignPath(id int64) string { return "/campaigns/" + strconv.FormatInt(id, 10) }

// CampaignMembersPath is the members list of a campaign.
func CampaignMembersPath(id int64) string { return CampaignPath(id) + "/members" }

// CampaignsProps is the /campaigns list.
type CampaignsProps struct {
	List  []db.CampaignSummary
	State string
	Next  string
	// CanWrite shows the New campaign button.
	CanWrite bool
	// Chips are the filters in force; Count the count line.
	Chips []Chip
	Count Count
}

// CampaignFormProps is the new-campaign and edit-campaign page.
type CampaignFormProps struct {
	// ID is the campaign edited (0 for a new one).
	ID       int64
	In       db.CampaignInput
	Errors   Errors
	Deposits []db.DepositAccount
	// Platforms are the platforms accounts are on, for the filter.
	Platforms []db.CohortPlatform
	Cohort    CohortProps
}

// Action is where the form posts.
func (p CampaignFormProps) Action() string {
	if p.ID == 0 {
		return "/campaigns"
	}
	return CampaignPath(p.ID)
}

// PreviewAction is where the no-JavaScript preview button sends the form.
func (p CampaignFormProps) PreviewAction() string {
	if p.ID == 0 {
		return "/campaigns/new"
	}
	return CampaignPath(p.ID) + "/edit"
}

// Cohort returns a cohort filter value of the form.
func (p CampaignFormProps) CohortValue(key string) string { return p.In.Cohort.Get(key) }

// HoldoutZero warns that a holdout of 0 cannot measure uplift.
func (p CampaignFormProps) HoldoutZero() bool {
	v, err := strconv.ParseFloat(strings.TrimSpace(p.In.HoldoutPct), 64)
	return err == nil && v == 0
}

// CohortProps is the cohort preview: the live count and sample of the
// filters in the URL.
type CohortProps struct {
	Preview db.CohortPreview
	// Errors are the filters' field errors (no preview then).
	Errors Errors
	// Filter describes the filter in words.
	Filter []string
	// Valid is set when the filter parsed and the preview was read.
	Valid bool
}

// CampaignProps is the campaign page.
type CampaignProps struct {
	C       db.Campaign
	R       db.Results
	Cohort  CohortProps
	Role    string
	StaffID int64
	// ApprovalRequired reflects the settings.
	ApprovalRequired bool
	Progress         db.LaunchProgress
	Now              time.Time
	PlatformName     func(string) string
}

// CanWrite reports whether the viewer may change the campaign.
func (p CampaignProps) CanWrite() bool { return p.Role == db.RoleAdmin || p.Role == db.RoleOperator }

// IsAdmin reports whether the viewer is an admin.
func (p CampaignProps) IsAdmin() bool { return p.Role == db.RoleAdmin }

// ApproveBlock says why the viewer cannot approve ("" when they can).
func (p CampaignProps) ApproveBlock() string {
	switch {
	case p.Role != db.RoleAdmin:
		return "An admin approves campaigns."
	case p.StaffID == p.C.CreatedBy || p.StaffID == p.C.UpdatedBy:
		return "You drafted or last edited this campaign: another admin must approve it."
	}
	return ""
}

// CanLaunch reports whether the launch button works now.
func (p CampaignProps) CanLaunch() bool {
	return p.CanWrite() && (p.C.State == db.CampaignApproved || p.C.State == db.CampaignDraft && !p.ApprovalRequired)
}

// Live reports whether the launch's progress streams.
func (p CampaignProps) Live() bool {
	return p.C.State == db.CampaignLaunching || p.C.State == db.CampaignPaused
}

// Eligible is the number of incentives awaiting payout.
func (p CampaignProps) Eligible() int64 { return p.R.Treatment.Ledger[db.LedgerEligible] }

// NotJudged counts members whose baseline could not be judged.
func (p CampaignProps) NotJudged() int64 {
	return p.R.Treatment.Members - p.R.Treatment.Judged + p.R.Holdout.Members - p.R.Holdout.Judged
}

// MembersProps is the members list of a campaign.
type MembersProps struct {
	C      db.Campaign
	Filter db.MemberFilter
	Rows   []db.MemberRow
	Next   string
	Errors Errors
	Role   string
	// BaseURL is the launch origin, which makes launch URLs absolute.
	BaseURL string
	// Chips are the filters in force; Count the count line, when the
	// campaign's own counts give it (not for a stage).
	Chips []Chip
	Count *Count
}

// ExportQuery is the list's filter as a query string for the exports.
func (p MembersProps) ExportQuery() string {
	v := url.Values{}
	if p.Filter.Group != "" {
		v.Set("group", p.Filter.Group)
	}
	if p.Filter.Stage != "" {
		v.Set("stage", p.Filter.Stage)
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

// GoalLabels names the campaign goals.
var GoalLabels = map[string]string{
	db.GoalAllocation: "Raise the direct deposit allocation",
	db.GoalIdentity:   "Refresh identity",
	db.GoalIncome:     "Refresh income",
	db.GoalEmployment: "Refresh employment",
}

// AskLabels names the asks of an allocation campaign.
var AskLabels = map[string]string{
	db.AskAmount:  "A fixed amount",
	db.AskMinimum: "At least an amount",
	db.AskChoice:  "The user's choice",
}

// AllocFilterLabels names the allocation filters.
var AllocFilterLabels = map[string]string{
	db.CohortAllocNone:      "nothing to us",
	db.CohortAllocAmount:    "a fixed amount below $X (or nothing)",
	db.CohortAllocPercent:   "a percentage below P% (or nothing)",
	db.CohortAllocRemainder: "the remainder goes to us",
	db.CohortAllocUnknown:   "not known yet",
}

// VerdictLabels names the identity verdicts of the filter.
var VerdictLabels = map[string]string{
	db.VerdictMatch: "match", db.VerdictPartial: "partial", db.VerdictMismatch: "mismatch",
	db.VerdictNoCustomerRecord: "no customer record", db.VerdictUnchecked: "not checked",
}

// StageLabels names member stages and the other values of the stage filter.
var MemberStageLabels = map[string]string{
	db.MemberHoldout: "holdout", db.MemberWaiting: "waiting for a link", db.MemberLinkCreated: "link created",
	db.MemberPageOpened: "page opened", db.MemberLinkOpened: "Link opened", db.MemberLoggedIn: "logged in",
	db.MemberSuccess: "job succeeded", db.MemberError: "job failed", db.MemberPending: "job pending",
	"converted": "converted", "lowered": "lowered", db.LedgerHolding: "incentive holding", db.LedgerEligible: "incentive eligible",
	db.LedgerPaid: "incentive paid", db.LedgerClawback: "clawback", db.LedgerNotQualified: "below the ask",
}

// MemberStageLabel names a stage.
func MemberStageLabel(s string) string {
	if l, ok := MemberStageLabels[s]; ok {
		return l
	}
	return s
}

// CampaignStateClass is the badge class of a campaign state.
func CampaignStateClass(s string) string {
	switch s {
	case db.CampaignLive, db.CampaignLaunching:
		return "badge active"
	case db.CampaignPaused, db.CampaignApproved:
		return "badge warn"
	case db.CampaignCancelled:
		return "badge error"
	}
	return "badge"
}

// Pct formats a share as a percentage with one decimal: "12.5%".
func Pct(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "—"
	}
	return strconv.FormatFloat(f*100, 'f', 1, 64) + "%"
}

// Points formats a difference of shares in percentage points: "+8.2 pts".
func Points(f float64) string {
	s := strconv.FormatFloat(f*100, 'f', 1, 64)
	if f >= 0 {
		s = "+" + s
	}
	return s + " pts"
}

// SignedDollars formats cents with a sign: "+$12.00", "-$3.50".
func SignedDollars(c float64) string {
	r := int64(math.Round(c))
	if r >= 0 {
		return "+" + Cents(r)
	}
	return Cents(r)
}

// LevelText describes an allocation level to our accounts.
func LevelText(l db.AllocationLevel) string {
	switch l.Kind {
	case "", db.AllocUnknown:
		return "not known"
	case db.AllocNone:
		return "nothing"
	case db.AllocRemainder:
		if l.EstKnown {
			return "the remainder (about " + Cents(l.EstCents) + ")"
		}
		return "the remainder"
	}
	var parts []string
	if l.Cents > 0 {
		parts = append(parts, Cents(l.Cents))
	}
	if l.Pct > 0 {
		parts = append(parts, strconv.FormatFloat(l.Pct, 'f', -1, 64)+"%")
	}
	return strings.Join(parts, " + ")
}

// DeltaText is a member's change in cents per paycheck.
func DeltaText(r db.MemberRow) string {
	switch {
	case r.Result == "":
		return "—"
	case !r.DeltaKnown:
		return "not priced"
	}
	return SignedDollars(float64(r.Delta))
}

// ResultLabel names a member's result.
func ResultLabel(r string) string {
	switch r {
	case db.ResultUp:
		return "converted"
	case db.ResultDown:
		return "lowered"
	case db.ResultSame:
		return "unchanged"
	}
	return "no new snapshot"
}

// LaunchURL is a member's launch link, for those who may share it.
func (p MembersProps) LaunchURL(r db.MemberRow) string {
	if r.LaunchID == "" || !(p.Role == db.RoleAdmin || p.Role == db.RoleOperator) {
		return ""
	}
	return p.BaseURL + "/l/" + r.LaunchID
}

// Bar is one bar of the conversions chart, in SVG units.
type Bar struct {
	X, Y, W, H float64
	Class      string
	Title      string
}

// Chart is the server-rendered SVG of conversions per day.
type Chart struct {
	Width, Height float64
	Bars          []Bar
	// Labels are the day labels under the axis (every few days).
	Labels []ChartLabel
	Max    int64
}

// ChartLabel is a text under the chart.
type ChartLabel struct {
	X    float64
	Text string
}

// ViewBox is the SVG viewBox attribute.
func (c Chart) ViewBox() string { return fmt.Sprintf("0 0 %g %g", c.Width, c.Height) }

// ConversionChart lays out the conversions per day as paired bars
// (treatment, holdout) per day from the first to the last day with data.
func ConversionChart(days []db.DayCount) Chart {
	c := Chart{Width: 640, Height: 180}
	if len(days) == 0 {
		return c
	}
	first, last := days[0].Day, days[len(days)-1].Day
	n := int(last.Sub(first).Hours()/24) + 1
	n = min(n, 366)
	byDay := map[string]db.DayCount{}
	for _, d := range days {
		byDay[d.Day.Format("2006-01-02")] = d
		c.Max = max(c.Max, d.Treatment, d.Holdout)
	}
	if c.Max == 0 {
		return c
	}
	const top, bottom, left = 10.0, 24.0, 4.0
	plotH := c.Height - top - bottom
	slot := (c.Width - 2*left) / float64(n)
	w := math.Max(1, slot*0.4)
	every := max(1, n/8)
	for i := range n {
		day := first.AddDate(0, 0, i)
		d := byDay[day.Format("2006-01-02")]
		x := left + float64(i)*slot + slot*0.1
		for j, v := range []int64{d.Treatment, d.Holdout} {
			h := plotH * float64(v) / float64(c.Max)
			cls, who := "bar-treatment", "treatment"
			if j == 1 {
				cls, who = "bar-holdout", "holdout"
			}
			c.Bars = append(c.Bars, Bar{X: x + float64(j)*w, Y: top + plotH - h, W: w, H: h, Class: cls,
				Title: fmt.Sprintf("%s: %d %s", day.Format("2 Jan"), v, who)})
		}
		if i%every == 0 {
			c.Labels = append(c.Labels, ChartLabel{X: x, Text: day.Format("2 Jan")})
		}
	}
	return c
}

// SortedKeys returns the keys of an error map in order.
func SortedKeys(e Errors) []string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Millis formats a duration in milliseconds: "3.2 ms".
func Millis(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + " ms"
}

// Join joins strings.
func Join(s []string, sep string) string { return strings.Join(s, sep) }

// TagsLine is a campaign's tags on one line: "channel=email, wave=1".
func TagsLine(tags map[string]string) string {
	return strings.ReplaceAll(db.TagsText(tags), "\n", ", ")
}

// AskText is an allocation campaign's ask in words: "At least $200.00
// per paycheck".
func AskText(c db.Campaign) string {
	switch c.Ask {
	case db.AskAmount:
		return Cents(c.AskCents) + " per paycheck, fixed"
	case db.AskMinimum:
		return "At least " + Cents(c.AskCents) + " per paycheck"
	}
	return "The user chooses (a full switch, an amount or a percentage)"
}

// IncentiveText is the incentive and when it is paid.
func IncentiveText(c db.Campaign) string {
	if c.HoldDays == 0 {
		return Cents(c.IncentiveCents) + ", eligible as soon as the member converts"
	}
	return Cents(c.IncentiveCents) + ", eligible once the increase has held " + Plural(c.HoldDays, "day", "days")
}
