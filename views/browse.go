package views

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"linkdesk/db"
	"linkdesk/pii"
	"linkdesk/pinwheel"
)

// Props and small helpers of the browse pages: dashboard, search, accounts,
// end users, events and timelines.

// DashboardProps is the home page.
type DashboardProps struct {
	D   db.Dashboard
	Now time.Time
	// Campaigns are the live campaigns.
	Campaigns []db.CampaignSummary
	// Live: the panels listen to the page's live stream.
	Live bool
}

// Overdue says how long the earliest due fetch has waited ("" when none is
// due yet).
func (d DashboardProps) Overdue() string {
	due := d.D.Queue.NextDue
	if due.IsZero() || due.After(d.Now) {
		return ""
	}
	return Age(d.Now.Sub(due))
}

// Age formats a duration coarsely: "40 s", "12 min", "3 h", "2 days".
func Age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + " h"
	}
	return strconv.Itoa(int(d.Hours()/24)) + " days"
}

// SearchProps is the search results page.
type SearchProps struct {
	Q    string
	Hits []db.SearchHit
}

// HitPath is where a search hit leads.
func HitPath(h db.SearchHit) string {
	switch h.Kind {
	case db.HitEndUser:
		if !h.EndUser && (h.Field != "" || h.Source == "customer") {
			return CustomerPath(h.ID) // known from a customer record only
		}
		return EndUserPath(h.ID)
	case db.HitAccount:
		return AccountPath(h.ID)
	case db.HitEvent:
		return EventPath(h.ID)
	case db.HitToken:
		return TokenPath(h.ID)
	case db.HitLinkToken:
		if h.TokenID != "" {
			return TokenPath(h.TokenID)
		}
		return "/events?link_token=" + queryEscape(h.ID)
	case db.HitPlatform:
		return "/accounts?platform=" + queryEscape(h.ID)
	}
	return "/"
}

// HitGroup is the hits of one kind on the results page.
type HitGroup struct {
	Kind, Title string
	Hits        []db.SearchHit
}

// hitKinds orders the groups of the results page.
var hitKinds = []struct{ kind, title string }{
	{db.HitEndUser, "People"},
	{db.HitAccount, "Accounts"},
	{db.HitToken, "Update links"},
	{db.HitLinkToken, "Pinwheel tokens"},
	{db.HitEvent, "Events"},
	{db.HitPlatform, "Platforms"},
}

// GroupHits groups hits by kind, in page order.
func GroupHits(hits []db.SearchHit) []HitGroup {
	var out []HitGroup
	for _, k := range hitKinds {
		g := HitGroup{Kind: k.kind, Title: k.title}
		for _, h := range hits {
			if h.Kind == k.kind {
				g.Hits = append(g.Hits, h)
			}
		}
		if len(g.Hits) > 0 {
			out = append(out, g)
		}
	}
	return out
}

// HitAbout describes a hit that is not a person in a few words.
func HitAbout(h db.SearchHit) string {
	switch h.Kind {
	case db.HitAccount:
		return OrDash(h.Label) + " account"
	case db.HitEvent:
		return EventLabel(h.Label)
	case db.HitLinkToken:
		if h.Label == "minted by Linkdesk" {
			return "minted by Linkdesk"
		}
		s := "named in " + Plural(int(h.Accounts), "event", "events")
		if h.TokenID != "" {
			s += ", minted by Linkdesk"
		}
		return s
	case db.HitToken:
		return "update link for account " + ShortID(h.Label)
	case db.HitPlatform:
		return h.Label + " (" + Plural(int(h.Accounts), "account", "accounts") + ")"
	}
	return h.Label
}

// MatchedText says what found a person: "name", "email l•••@example.com
// (customer record)", "phone ••• 1234 (Pinwheel identity)", "end user ID".
// Emails and phone numbers are masked for everyone, wholly for roles that
// do not see identity data.
func MatchedText(h db.SearchHit, st *db.Staff) string {
	role := ""
	if st != nil {
		role = st.Role
	}
	src := ""
	switch h.Source {
	case "customer":
		src = " (customer record)"
	case "identity":
		src = " (Pinwheel identity)"
	}
	switch h.Field {
	case db.SearchName:
		return "name" + src
	case db.SearchEmail:
		return "email " + pii.MaskEmail(h.Match, role) + src
	case db.SearchPhone:
		return "phone " + pii.MaskPhone(h.Match, role) + src
	}
	return "end user ID"
}

// AccountsProps is the /accounts list.
type AccountsProps struct {
	Count  Count
	Chips  []Chip
	Sort   Sort
	Q      db.AccountQuery
	Rows   []db.AccountRow
	Facets db.AccountFacets
	// Connected is the filter's form value: "", "yes" or "no".
	Connected string
	// Next is the URL of the next page ("" on the last).
	Next     string
	Errors   Errors
	Filtered bool
}

// EndUsersProps is the /end-users list.
type EndUsersProps struct {
	Count    Count
	Chips    []Chip
	Sort     Sort
	Q        db.EndUserQuery
	Rows     []db.EndUserRow
	Facets   db.AccountFacets
	Since    string // the form value of active since (YYYY-MM-DD)
	Next     string
	Errors   Errors
	Filtered bool
}

// EventsProps is the /events log.
type EventsProps struct {
	Count Count
	Chips []Chip
	Sort  Sort
	Q     db.EventQuery
	Rows  []db.EventRow
	// From and To are the form values of the time range.
	From, To string
	Next     string
	// Query is the filter as a query string, for the export links.
	Query    string
	Errors   Errors
	Filtered bool
}

// RejectionsProps is the /events/rejected page.
type RejectionsProps struct {
	Reason  string
	Reasons []db.FacetCount
	Rows    []db.WebhookRejection
	Next    string
	Role    string
	// Chips are the filters in force; Count the count line.
	Chips []Chip
	Count Count
}

// EventProps is one event's page.
type EventProps struct {
	E    db.Event
	Role string
}

// TimelineProps is a timeline section of the account and end user pages.
type TimelineProps struct {
	Page db.TimelinePage
	Role string
	// Kind is the ?kind= filter ("" for all).
	Kind string
	// Base is the page's path (the filter links keep it).
	Base string
	// Live is the SSE URL (first page only; "" on older pages).
	Live string
	// Next is the URL of the next (older) page.
	Next string
	// Account is the account whose page this is ("" on an end user's).
	Account string
	// Loc is the staff member's time zone: days and clock times are
	// theirs (nil means UTC).
	Loc *time.Location
	// Screens: screen changes are shown (?screens=1).
	Screens bool
}

// loc is the time zone of the timeline.
func (t TimelineProps) loc() *time.Location {
	if t.Loc == nil {
		return time.UTC
	}
	return t.Loc
}

// AccountProps is the account page.
type AccountProps struct {
	O        db.AccountOverview
	Timeline TimelineProps
	Role     string
	// Verdict is the identity verdict, nil when none was computed.
	Verdict *db.Verdict
	// Revealed are the PII fields revealed by this response (an audited
	// POST); empty on a normal view.
	Revealed map[string]bool
	// Tokens are the account's latest On Demand Update links.
	Tokens []db.LinkSummary
	// Decisions are the underwriting decisions bound to the account.
	Decisions []db.Decision
	// Health is the reconcile and reconnect panel.
	Health AccountHealthProps
	// WhoSaw is the "Who saw this" panel (admins and auditors; nil for
	// others).
	WhoSaw *WhoSawProps
	// Campaigns are the campaigns the account is a member of.
	Campaigns []db.AccountCampaign
	// Live: the page has a live stream (its newest timeline page), so its
	// panels listen to it.
	Live bool
}

// EndUserProps is the end user page.
type EndUserProps struct {
	O        db.EndUserOverview
	Timeline TimelineProps
	Role     string
	// Decisions are the underwriting decisions about the end user.
	Decisions []db.Decision
	// WhoSaw is the "Who saw this" panel (admins and auditors; nil for
	// others).
	WhoSaw *WhoSawProps
	// Erasures are the tombstones of the end user's erasures; CanErase
	// offers an erasure (admins).
	Erasures []db.Erasure
	CanErase bool
	Live     bool
}

// Hidden lists the identity keys still masked on this response.
func (a AccountProps) Hidden() []string {
	var out []string
	for _, k := range []string{db.PIIDateOfBirth, db.PIISSNLastFour} {
		if !a.Revealed[k] {
			out = append(out, k)
		}
	}
	return out
}

// SeesPII reports whether the role sees identity PII (emails, phones,
// addresses) on the account page (pii.SeesIdentity).
func SeesPII(role string) bool { return pii.SeesIdentity(role) }

// ---- timeline grouping ----

// DayGroup is the entries of one day, newest first.
type DayGroup struct {
	Day     time.Time
	Entries []db.TimelineEntry
}

// ByDay groups entries (newest first) by their day in loc.
func ByDay(es []db.TimelineEntry, loc *time.Location) []DayGroup {
	var out []DayGroup
	for _, e := range es {
		t := e.At.In(loc)
		d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
		if len(out) == 0 || !out[len(out)-1].Day.Equal(d) {
			out = append(out, DayGroup{Day: d})
		}
		out[len(out)-1].Entries = append(out[len(out)-1].Entries, e)
	}
	return out
}

// DayKey is a day's id part: "2026-05-01".
func DayKey(d time.Time) string { return d.Format(time.DateOnly) }

// DayOf is the day key of a time in loc.
func DayOf(t time.Time, loc *time.Location) string { return t.In(loc).Format(time.DateOnly) }

// DayLabel is a day's heading: "Friday 1 May 2026".
func DayLabel(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("Monday 2 January 2006")
}

// Clock formats the time of day of an entry in loc, with the zone when it
// is not UTC: "14:05:09", "09:05:09 EDT".
func Clock(t time.Time, loc *time.Location) string {
	if loc == nil || loc == time.UTC {
		return t.UTC().Format("15:04:05")
	}
	return t.In(loc).Format("15:04:05 MST")
}

// EntryRawPath downloads a timeline entry's whole JSON: a webhook's body or
// a Link event's payload ("" for staff actions, whose details Linkdesk
// writes itself and keeps small).
func EntryRawPath(e db.TimelineEntry) string {
	switch {
	case e.Kind == db.KindWebhook:
		return EventPath(e.EventID) + "/raw"
	case e.Kind == db.KindLink && e.TokenID != "":
		return TokenPath(e.TokenID) + "/events/" + strconv.FormatInt(e.ID, 10) + "/raw"
	}
	return ""
}

// RejectionRawPath downloads a rejected delivery's whole body.
func RejectionRawPath(id int64) string {
	return "/events/rejected/" + strconv.FormatInt(id, 10) + "/raw"
}

// SnapshotRawPath downloads a data snapshot's whole body.
func SnapshotRawPath(sn db.Snapshot) string {
	return AccountPath(sn.AccountID) + "/snapshots/" + strconv.FormatInt(sn.ID, 10) + "/raw"
}

// EntryDOMID is a timeline entry's element id.
func EntryDOMID(e db.TimelineEntry) string { return "tl-" + e.Kind + "-" + strconv.FormatInt(e.ID, 10) }

// KindFilterURL is the timeline page filtered to one kind ("" for all).
func KindFilterURL(base, kind string) string {
	if kind == "" {
		return base + "#timeline"
	}
	return base + "?kind=" + kind + "#timeline"
}

// ScreensURL is the timeline with screen changes shown or not.
func (t TimelineProps) ScreensURL(show bool) string {
	v := url.Values{}
	if t.Kind != "" {
		v.Set("kind", t.Kind)
	}
	if show {
		v.Set("screens", "1")
	}
	if len(v) == 0 {
		return t.Base + "#timeline"
	}
	return t.Base + "?" + v.Encode() + "#timeline"
}

// ---- data snapshot panels ----
//
// The panels format the typed snapshot data db decoded (db.SnapshotData);
// a snapshot that did not decode shows as empty.

// Identity is the identity panel's data.
type Identity struct {
	FullName    string
	DateOfBirth string
	LastFourSSN string
	Emails      []string
	Phones      []string
	Address     string
}

// IdentityPanel formats an identity snapshot.
func IdentityPanel(sn db.Snapshot) Identity {
	v := sn.Data.Identity
	if v == nil {
		return Identity{}
	}
	id := Identity{FullName: v.FullName, Emails: v.Emails, DateOfBirth: deref(v.DateOfBirth), LastFourSSN: deref(v.LastFourSSN)}
	for _, p := range v.PhoneNumbers {
		id.Phones = append(id.Phones, p.Value)
	}
	if v.Address != nil {
		id.Address = v.Address.Raw
	}
	return id
}

// Employment is the employment panel's data.
type Employment struct {
	EmployerName, Status, Title, StartDate, TerminationDate string
}

// EmploymentPanel formats an employment snapshot.
func EmploymentPanel(sn db.Snapshot) Employment {
	v := sn.Data.Employment
	if v == nil {
		return Employment{}
	}
	return Employment{EmployerName: v.EmployerName, Status: deref(v.Status), Title: deref(v.Title), StartDate: deref(v.StartDate), TerminationDate: deref(v.TerminationDate)}
}

// Income is the income panel's data.
type Income struct {
	Amount       string // "$10.00 hourly"
	Currency     string
	PayFrequency string
}

// IncomePanel formats an income snapshot (compensation_amount is in cents).
func IncomePanel(sn db.Snapshot) Income {
	v := sn.Data.Income
	if v == nil {
		return Income{}
	}
	return Income{Amount: strings.TrimSpace(Cents(v.CompensationAmount) + " " + v.CompensationUnit), Currency: v.Currency, PayFrequency: deref(v.PayFrequency)}
}

// Allocation is one row of the direct deposit allocations panel.
type Allocation struct {
	Priority      string
	AccountName   string
	AccountType   string
	Type          string
	Value         string // "$500.00", "20%" or "remainder"
	BankName      string
	AccountNumber string // masked: "••53"
	RoutingNumber string
}

// AllocationRows formats a direct_deposit_allocations snapshot.
func AllocationRows(sn db.Snapshot) []Allocation {
	v := sn.Data.Allocations
	if v == nil {
		return nil
	}
	var out []Allocation
	for _, a := range v.Allocations {
		r := Allocation{AccountName: deref(a.AccountName), AccountType: deref(a.AccountType), Type: a.AllocationType,
			BankName: deref(a.BankName), RoutingNumber: deref(a.RoutingNumber)}
		if a.Priority != nil {
			r.Priority = strconv.Itoa(*a.Priority)
		}
		if a.MaskedAccountNumber != nil {
			r.AccountNumber = pii.MaskAccountNumber(*a.MaskedAccountNumber)
		}
		switch {
		case a.AllocationType == pinwheel.AllocationAmount && a.Amount != nil:
			r.Value = Cents(*a.Amount)
		case a.AllocationType == pinwheel.AllocationPercentage && a.Percentage != nil:
			r.Value = strconv.FormatFloat(*a.Percentage, 'f', -1, 64) + "%"
		default:
			r.Value = "remainder"
		}
		out = append(out, r)
	}
	return out
}

// AllocationsLine summarizes an allocation set in one line: "$500.00 to
// Checking ••53; remainder to Neobank ••83".
func AllocationsLine(sn db.Snapshot) string {
	var parts []string
	for _, a := range AllocationRows(sn) {
		to := targetName(a.AccountName, a.AccountType)
		if a.AccountNumber != "" {
			to += " " + a.AccountNumber
		}
		parts = append(parts, a.Value+" to "+to)
	}
	if len(parts) == 0 {
		return "no allocations"
	}
	return strings.Join(parts, "; ")
}

// Masked shows a value or, when hidden, its mask.
func Masked(v string, hidden bool) string {
	switch {
	case v == "":
		return "—"
	case hidden:
		return pii.Hidden
	}
	return v
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// OrDash shows an empty value as a dash.
func OrDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// Connected formats a tri-state connected flag.
func Connected(c *bool) string {
	if c == nil {
		return "not known"
	}
	return YesNo(*c)
}

// ShortID shortens a long ID for a table cell (the full ID is the title).
func ShortID(id string) string {
	if len(id) <= 13 {
		return id
	}
	return id[:8] + "…" + id[len(id)-4:]
}

// EventTypes are the event names of the catalogue (pinwheel.Events,
// docs/pinwheel.md#events), suggested by the events log's type filter.
var EventTypes = pinwheel.EventNames()

// MonitoringStatuses lists the statuses for filters.
func MonitoringStatuses() []string { return db.MonitoringStatuses }

// JobOutcomes lists the outcomes for filters.
func JobOutcomes() []string { return db.JobOutcomes }

func queryEscape(s string) string { return url.QueryEscape(s) }

// FormTimeLayout is the layout of the time-range inputs (datetime-local,
// read as UTC).
const FormTimeLayout = "2006-01-02T15:04"

// FormValueTime formats t for a time-range input ("" for zero).
func FormValueTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(FormTimeLayout)
}

// invalidIf marks a control invalid only when it has an error (Pico styles
// aria-invalid="false" as valid, which would colour every filter green).
func invalidIf(err string) templ.Attributes {
	if err == "" {
		return nil
	}
	return templ.Attributes{"aria-invalid": "true"}
}

// Rate is part of whole as a percentage: "63%" ("—" of nothing).
func Rate(part, whole int64) string {
	if whole <= 0 {
		return "—"
	}
	return strconv.FormatInt((part*100+whole/2)/whole, 10) + "%"
}

// FunnelChart is the dashboard's bar chart in SVG user units: one bar per
// day, links created behind links succeeded.
type FunnelChart struct {
	Bars    []FunnelBar
	Height  int
	Width   int
	Created int64
	Success int64
}

// FunnelBar is one day's bars (SVG attribute values).
type FunnelBar struct {
	X, W, CreatedY, CreatedH, SucceededY, SucceededH string
}

// NewFunnelChart scales a funnel to a 300×60 chart.
func NewFunnelChart(f db.Funnel) FunnelChart {
	c := FunnelChart{Height: 60, Width: 10 * len(f)}
	var top int64 = 1
	for _, d := range f {
		top = max(top, d.Created)
		c.Created += d.Created
		c.Success += d.Succeeded
	}
	h := func(n int64) int {
		v := int(n * int64(c.Height) / top)
		if n > 0 && v == 0 {
			v = 1
		}
		return v
	}
	for i, d := range f {
		ch, sh := h(d.Created), h(d.Succeeded)
		c.Bars = append(c.Bars, FunnelBar{X: strconv.Itoa(i*10 + 1), W: "8",
			CreatedY: strconv.Itoa(c.Height - ch), CreatedH: strconv.Itoa(ch),
			SucceededY: strconv.Itoa(c.Height - sh), SucceededH: strconv.Itoa(sh)})
	}
	return c
}

// ViewBox is the SVG viewBox.
func (c FunnelChart) ViewBox() string {
	return "0 0 " + strconv.Itoa(c.Width) + " " + strconv.Itoa(c.Height)
}

// Summary says what the chart shows, for screen readers.
func (c FunnelChart) Summary() string {
	return "Links created and succeeded per day over the last 30 days: " + Group(c.Created) + " created, " + Group(c.Success) + " succeeded."
}
