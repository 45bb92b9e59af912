package views

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"linkdesk/db"
	"linkdesk/pii"
	"linkdesk/pinwheel"
)

// This file holds the props, form and formatting of the On Demand Update
// pages: the mint form, the token pages and the public launch page.

// ODUForm is the mint form as submitted.
type ODUForm struct {
	Jobs             []string
	Targets          []string
	AllocationMode   string
	Amount           string
	MinAmount        string
	Language         string
	SkipIntro        bool
	Reason           string
	OverrideIdentity bool
	OverrideReason   string
	Errors           Errors
}

// Request is the form as db.ValidateODU takes it.
func (f ODUForm) Request() db.ODURequest {
	return db.ODURequest{Jobs: f.Jobs, TargetIDs: f.Targets, AllocationMode: f.AllocationMode, Amount: f.Amount,
		MinAmount: f.MinAmount, Language: f.Language, SkipIntro: f.SkipIntro, Reason: f.Reason,
		OverrideIdentity: f.OverrideIdentity, OverrideReason: f.OverrideReason}
}

// HasJob reports whether the job is ticked.
func (f ODUForm) HasJob(j string) bool { return slices.Contains(f.Jobs, j) }

// HasTarget reports whether the deposit account is ticked.
func (f ODUForm) HasTarget(id int64) bool { return slices.Contains(f.Targets, Itoa(id)) }

// ODUProps is the mint form's page: the form and the pre-flight panel.
type ODUProps struct {
	AccountID    string
	Pre          db.Preflight
	Verdict      *db.Verdict // nil: identity not compared yet
	Platform     db.PlatformCaps
	Deposits     []db.DepositAccount
	OrgName      string
	APIVersion   string
	LinkLifetime time.Duration
	Form         ODUForm
	// Summary is an upstream failure in words a person can act on.
	Summary string
	// Admins are the names of the active admins (who can add deposit
	// accounts); IsAdmin says whether the viewer is one.
	Admins  []string
	IsAdmin bool
}

// SwitchJob is the job that needs a deposit account.
const SwitchJob = pinwheel.JobDDSwitch

// AdminsText names who can fix something only admins can: "An admin (Ada
// Admin or Bo Boss)".
func AdminsText(names []string) string {
	switch len(names) {
	case 0:
		return "An admin"
	case 1:
		return "An admin (" + names[0] + ")"
	}
	if len(names) > 3 {
		names = append(names[:3:3], "others")
	}
	return "An admin (" + strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1] + ")"
}

// Blocked is why minting is refused for this account, or "".
func (p ODUProps) Blocked() string {
	if p.Pre.ConnectedKnown && !p.Pre.Connected {
		return "This account is disconnected: an On Demand Update cannot reach it. The user must connect their payroll account again through a new Link session."
	}
	return ""
}

// Mismatch reports whether the identity verdict is a mismatch.
func (p ODUProps) Mismatch() bool { return p.Verdict != nil && p.Verdict.Result == db.VerdictMismatch }

// JobLabels names the jobs staff may request.
var JobLabels = map[string]string{
	pinwheel.JobIdentity:      "Identity (refresh and check against the customer record)",
	pinwheel.JobIncome:        "Income",
	pinwheel.JobEmployment:    "Employment",
	pinwheel.JobPaystubs:      "Paystubs",
	pinwheel.JobDDAllocations: "Direct deposit allocations (read)",
	pinwheel.JobDDSwitch:      "Direct deposit switch (change where pay goes)",
}

// ODUJobs lists the jobs in form order.
func ODUJobs() []string { return db.ODUJobs }

// TokenPath is the page of one token.
func TokenPath(tokenID string) string { return "/tokens/" + tokenID }

// ODUPath is the mint form of an account, the account ID escaped as a path
// segment (the handler unescapes it).
func ODUPath(accountID string) string { return AccountPath(accountID) + "/update" }

// AccountTokensPath is the /tokens list filtered to one account.
func AccountTokensPath(accountID string) string {
	return "/tokens?" + url.Values{"account": {accountID}}.Encode()
}

// Dollars formats cents as "$150.00".
func Dollars(cents int64) string { return Cents(cents) }

// Days formats a duration in whole days or hours.
func Days(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return Plural(int(d/(24*time.Hour)), "day", "days")
	}
	return Plural(int(d.Round(time.Hour)/time.Hour), "hour", "hours")
}

// StepsText is a lifecycle as a compact trail: "Minted → Page opened →
// Link opened → Logged in → Success".
func StepsText(l db.Lifecycle) string {
	labels := make([]string, len(l.Steps))
	for i, s := range l.Steps {
		labels[i] = StageLabel(s.Stage)
	}
	return strings.Join(labels, " → ")
}

// StageClass is the badge class of a stage.
func StageClass(s string) string {
	switch s {
	case db.StageSuccess:
		return "badge success"
	case db.StageError, db.StageRevoked:
		return "badge error"
	case db.StagePending, db.StageExpired, db.StageExited:
		return "badge warn"
	}
	return "badge"
}

// States lists the lifecycle states for the filter.
func States() []string { return db.States }

// AllocationText describes a link's allocation for staff.
func AllocationText(a *db.LinkAllocation) string {
	if a == nil {
		return "—"
	}
	var b strings.Builder
	if a.Type == pinwheel.AllocationAmount {
		b.WriteString(Dollars(a.AmountCents) + " per paycheck")
	} else {
		b.WriteString("amount chosen by the user")
	}
	if a.MinAmountCents > 0 {
		b.WriteString(", at least " + Dollars(a.MinAmountCents))
	}
	b.WriteString(" to " + targetsText(a.Targets))
	return b.String()
}

func targetsText(ts []db.LinkTarget) string {
	labels := make([]string, len(ts))
	for i, t := range ts {
		labels[i] = t.Label()
	}
	switch len(labels) {
	case 0:
		return "—"
	case 1:
		return labels[0]
	}
	return strings.Join(labels[:len(labels)-1], ", ") + " or " + labels[len(labels)-1]
}

// shareItems are how the launch page names the data the user is asked to
// share.
var shareItems = map[string]string{
	pinwheel.JobIncome:        "income",
	pinwheel.JobEmployment:    "employment details",
	pinwheel.JobPaystubs:      "paystubs",
	pinwheel.JobDDAllocations: "direct deposit settings",
}

// listJoin joins "a", "a and b", "a, b and c".
func listJoin(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// LaunchAsk is what the launch page says the user is asked to do, e.g.
// "Acme would like you to update your direct deposit: $150.00 to Payroll
// Checking ••6789."
func LaunchAsk(org string, t db.Link) string {
	var clauses []string
	if t.HasJob(pinwheel.JobDDSwitch) && t.Allocation != nil {
		a := t.Allocation
		s := "update your direct deposit: "
		if a.Type == pinwheel.AllocationAmount {
			s += Dollars(a.AmountCents)
		} else {
			s += "an amount you choose"
			if a.MinAmountCents > 0 {
				s += " (at least " + Dollars(a.MinAmountCents) + ")"
			}
		}
		clauses = append(clauses, s+" to "+targetsText(a.Targets))
	}
	if t.HasJob(pinwheel.JobIdentity) {
		clauses = append(clauses, "confirm your identity")
	}
	var items []string
	for _, j := range t.Jobs {
		if it, ok := shareItems[j]; ok {
			items = append(items, it)
		}
	}
	if len(items) > 0 {
		clauses = append(clauses, "share your "+listJoin(items))
	}
	ask := "update your payroll account"
	switch {
	case len(clauses) == 0:
	case len(clauses) > 1 && strings.HasPrefix(clauses[0], "update your direct deposit"):
		ask = clauses[0] + ", and " + listJoin(clauses[1:])
	default:
		ask = listJoin(clauses)
	}
	return fmt.Sprintf("%s would like you to %s.", org, ask)
}

// Launch page states beyond db's: Pinwheel could not mint a token (or the
// page is asked too often), there is no such link, or something failed.
const (
	LaunchUnavailable = "unavailable"
	LaunchNotFound    = "not_found"
	LaunchFailed      = "failed"
)

// LaunchProps is the public launch page.
type LaunchProps struct {
	OrgName string
	Link    db.Link
	// State is db.LaunchLive, LaunchUsed, LaunchExpired, LaunchRevoked,
	// LaunchClosed (Link.ClosedReason says why) or LaunchUnavailable.
	State     string
	Token     string
	ScriptURL string
	EventsURL string
}

// TokensProps is the /tokens list.
type TokensProps struct {
	Filter db.LinkFilter
	List   []db.LinkSummary
	Staff  []db.Staff
	Next   string
	Count  Count
	Chips  []Chip
	Sort   Sort
	Live   bool
}

// TokenProps is one token's page. LaunchURL and QR are empty for staff who
// may not share links (auditors).
type TokenProps struct {
	Detail    db.LinkDetail
	LaunchURL string
	QR        string // an SVG document
	// Screens shows the launch events that only say Link changed screen.
	Screens bool
	Live    bool
}

// CapCell is the cap of a launch event's payload in the token page's
// table: a link stores at most db.MaxLaunchEventsPerLink events, so the
// page stays near a megabyte at worst.
const CapCell = 1 << 10

// PayloadDoc is a launch event's payload on one line, masked for the
// viewer's role, cut at CapCell.
func PayloadDoc(e db.LaunchEvent, p Page) pii.Doc {
	if len(e.Payload) == 0 || string(e.Payload) == "{}" {
		return pii.Doc{OK: true}
	}
	role := ""
	if p.Staff != nil {
		role = p.Staff.Role
	}
	return pii.RenderLine(e.Payload, role, CapCell)
}

// LaunchEventRawPath downloads a launch event's whole payload.
func LaunchEventRawPath(e db.LaunchEvent) string {
	return TokenPath(e.TokenID) + "/events/" + strconv.FormatInt(e.ID, 10) + "/raw"
}

// OutcomeClass is the badge class of a job outcome.
func OutcomeClass(o string) string {
	switch o {
	case pinwheel.OutcomeSuccess:
		return "badge success"
	case pinwheel.OutcomeError:
		return "badge error"
	case pinwheel.OutcomePending:
		return "badge pending"
	}
	return "badge"
}

// LanguageLabel names Link's language.
func LanguageLabel(code string) string {
	switch code {
	case "en":
		return "English"
	case "es":
		return "Spanish"
	}
	return code
}

// LaunchEventsShown leaves out the screen changes unless asked for.
func LaunchEventsShown(es []db.LaunchEvent, screens bool) []db.LaunchEvent {
	if screens {
		return es
	}
	var out []db.LaunchEvent
	for _, e := range es {
		if e.Name != db.LinkEventScreenTransition {
			out = append(out, e)
		}
	}
	return out
}

// ToastTitle says how a link finished: "Update link succeeded".
func ToastTitle(l db.LinkSummary) string {
	switch l.Lifecycle.State {
	case db.StageSuccess:
		if l.Lifecycle.OutcomeSource == "link" {
			return "The end user finished Link."
		}
		return "Update finished: it worked."
	case db.StageError:
		return "Update finished: it failed."
	case db.StagePending:
		return "Update handed to Pinwheel: pending."
	case db.StageExited:
		return "The end user closed Link before finishing."
	}
	return "Update link: " + StageLabel(l.Lifecycle.State) + "."
}

// ToastDetail says what the link asked for and the lifecycle's last word.
func ToastDetail(l db.LinkSummary) string {
	s := JobsText(l.Jobs)
	if n := len(l.Lifecycle.Steps); n > 0 && l.Lifecycle.Steps[n-1].Detail != "" {
		s += ": " + l.Lifecycle.Steps[n-1].Detail
	}
	return s + "."
}
