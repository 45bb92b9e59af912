package views

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"

	"linkdesk/db"
	"linkdesk/pinwheel"
)

// Props and helpers of account health: the monitoring board, reconnect
// batches, alerts and their settings.

// MonitoringProps is the monitoring board (/monitoring).
type MonitoringProps struct {
	Platforms []db.PlatformStatus
	// Chips are the filters of the accounts needing action in force.
	Chips  []Chip
	Totals map[string]int64
	Days   []db.TransitionDay
	// Q is the list's filter; Count how many accounts it lists.
	// List is the count line ("6 of 70 accounts needing action match").
	Q     db.WaitingQuery
	Count int64
	List  Count
	Rows  []db.WaitingAccount
	// Next is the URL of the next page ("" on the last).
	Next     string
	Filtered bool
	Errors   Errors
	Form     ReconnectForm
	Batches  []db.ReconnectBatch
	// CanWrite: the staff member may send reconnect links.
	CanWrite bool
	Now      time.Time
}

// ReconnectForm is the "Send reconnect links" form.
type ReconnectForm struct {
	Jobs     []string
	Language string
	Reason   string
	Selected []string
	Errors   Errors
}

// HasJob reports whether the form asks for job.
func (f ReconnectForm) HasJob(job string) bool { return slices.Contains(f.Jobs, job) }

// IsSelected reports whether the account was ticked.
func (f ReconnectForm) IsSelected(id string) bool { return slices.Contains(f.Selected, id) }

// ReconnectJobs are the jobs a reconnect link may ask for.
func ReconnectJobs() []string { return db.ReconnectJobs }

// WaitingStatuses are the statuses of the board's filter.
func WaitingStatuses() []string { return db.WaitingStatuses }

// PlatformLabel is a platform's name, or its id when unnamed.
func PlatformLabel(p db.PlatformStatus) string {
	if p.Name != "" {
		return p.Name
	}
	if p.PlatformID == "" {
		return "not known yet"
	}
	return ShortID(p.PlatformID)
}

// BoardStatuses are the table's columns: every status, active first.
func BoardStatuses() []string {
	return []string{pinwheel.StatusActive, pinwheel.StatusUserActionRequired, pinwheel.StatusDegraded, pinwheel.StatusUnavailable, pinwheel.StatusCustomerDisabled, ""}
}

// boardCol is the class of a status's column on the board: on a phone
// only the statuses that need action stay (active, customer disabled and
// unknown give way; the totals row still counts them).
func boardCol(status string) string {
	if status == pinwheel.StatusActive || status == pinwheel.StatusCustomerDisabled || status == "" {
		return "num opt"
	}
	return "num"
}

// BoardURL is the board filtered by status and platform.
func BoardURL(status, platform string) string {
	v := url.Values{}
	if status != "" {
		v.Set("status", status)
	}
	if platform != "" {
		v.Set("platform", platform)
	}
	if len(v) == 0 {
		return "/monitoring#waiting"
	}
	return "/monitoring?" + v.Encode() + "#waiting"
}

// Waited is how long an account has waited, for the list.
func Waited(since, now time.Time) string {
	if since.IsZero() {
		return "—"
	}
	return Age(now.Sub(since))
}

// I64 formats an int64 with thousands separators.
func I64(n int64) string { return groupThousands(n) }

// TransitionsChart is the geometry of the board's 30-day chart, drawn as SVG by the
// server (no script).
type TransitionsChart struct {
	Width, Height int
	// Bars are the day bars: Left (accounts that left active) and
	// Returned (came back), side by side.
	Bars []TransitionBar
	// Max is the top of the scale.
	Max int64
	// Labels are the dates under the axis.
	Labels []TransitionLabel
	Days   []db.TransitionDay
}

// TransitionBar is one bar.
type TransitionBar struct {
	X, Y, W, H int
	Class      string
	Title      string
}

// TransitionLabel is one date under the axis.
type TransitionLabel struct {
	X    int
	Text string
	// Anchor is the SVG text-anchor: the first label starts at its day,
	// the last ends at it, so neither is cut at the edge.
	Anchor string
}

// chart geometry.
const (
	tchartW      = 720
	tchartH      = 180
	tchartTop    = 10
	tchartBottom = 24
)

// TransitionChart lays out the days' bars.
func TransitionChart(days []db.TransitionDay) TransitionsChart {
	c := TransitionsChart{Width: tchartW, Height: tchartH, Days: days}
	for _, d := range days {
		c.Max = max(c.Max, d.Left, d.Returned)
	}
	if c.Max == 0 {
		c.Max = 1
	}
	if len(days) == 0 {
		return c
	}
	plot := tchartH - tchartTop - tchartBottom
	slot := tchartW / len(days)
	bw := max(2, slot/2-2)
	for i, d := range days {
		x := i * slot
		for k, v := range []int64{d.Left, d.Returned} {
			h := int(v * int64(plot) / c.Max)
			if v > 0 && h == 0 {
				h = 1
			}
			class, what := "left", "left active"
			if k == 1 {
				class, what = "returned", "came back to active"
			}
			c.Bars = append(c.Bars, TransitionBar{X: x + 1 + k*(bw+1), Y: tchartTop + plot - h, W: bw, H: h, Class: class,
				Title: fmt.Sprintf("%s: %d %s", d.Day.Format("2 Jan"), v, what)})
		}
		switch i {
		case 0:
			c.Labels = append(c.Labels, TransitionLabel{X: x, Text: d.Day.Format("2 Jan"), Anchor: "start"})
		case len(days) / 2:
			c.Labels = append(c.Labels, TransitionLabel{X: x + slot/2, Text: d.Day.Format("2 Jan"), Anchor: "middle"})
		case len(days) - 1:
			c.Labels = append(c.Labels, TransitionLabel{X: x + slot, Text: d.Day.Format("2 Jan"), Anchor: "end"})
		}
	}
	return c
}

// Baseline is the y of the chart's axis.
func (c TransitionsChart) Baseline() int { return tchartH - tchartBottom }

// LabelY is the y of the date labels.
func (c TransitionsChart) LabelY() int { return tchartH - 6 }

// ViewBox is the SVG's viewBox.
func (c TransitionsChart) ViewBox() string { return fmt.Sprintf("0 0 %d %d", c.Width, c.Height) }

// ReconnectProps is a reconnect batch's page.
type ReconnectProps struct {
	B        db.ReconnectBatch
	Tracking db.ReconnectTracking
	Members  []db.ReconnectMember
	Next     string
	CanWrite bool
	// LaunchBase is the public base of launch links.
	LaunchBase string
	Now        time.Time
}

// BatchPath is a reconnect batch's page.
func BatchPath(id int64) string { return "/monitoring/reconnect/" + strconv.FormatInt(id, 10) }

// BatchFilter describes how a batch chose its accounts.
func BatchFilter(b db.ReconnectBatch) string {
	f := b.Filter
	if f.Selected > 0 {
		return Plural(f.Selected, "account selected", "accounts selected") + " on the board"
	}
	s := "every account needing action"
	if f.Status != "" {
		s = "every account " + StatusLabel(f.Status)
	}
	if f.Platform != "" {
		s += " on platform " + ShortID(f.Platform)
	}
	return s
}

// Took formats how long an account took to come back.
func Took(d time.Duration) string {
	if d <= 0 {
		return "—"
	}
	return Age(d)
}

// AlertsProps is the alerts page (/alerts).
type AlertsProps struct {
	Q        db.AlertQuery
	Alerts   []db.Alert
	Counts   map[string]int
	Settings db.AlertSettings
	Checked  map[string]time.Time
	Next     string
	Errors   Errors
	IsAdmin  bool
	// Chips are the filters in force; Count the count line.
	Chips []Chip
	Count Count
}

// AlertProps is one alert's page.
type AlertProps struct {
	A             db.Alert
	About         string
	Notifications []db.Notification
	Runs          []db.ReconcileRun
	// Subjects are the accounts a reconcile would cover.
	Subjects []string
	CanWrite bool
	Errors   Errors
	Now      time.Time
}

// AlertPath is an alert's page.
func AlertPath(id int64) string { return "/alerts/" + strconv.FormatInt(id, 10) }

// AlertStates are the filter's states.
func AlertStates() []string { return db.AlertStates }

// Rules lists the rules.
func Rules() []db.RuleInfo { return db.Rules }

// EvidencePath is where an evidence item leads ("" when nowhere).
func EvidencePath(it db.EvidenceItem) string {
	switch it.Kind {
	case db.EvidenceAccount:
		if it.ID != "" {
			return AccountPath(it.ID)
		}
	case db.EvidenceEvent:
		return EventPath(it.ID)
	case db.EvidenceRejection:
		return "/events/rejected?reason=" + url.QueryEscape(it.ID)
	case db.EvidenceBatch:
		n, _ := strconv.ParseInt(it.ID, 10, 64)
		return BatchPath(n)
	case db.EvidencePlatform:
		return BoardURL("", it.ID)
	case db.EvidenceCheck:
		return "/audit"
	}
	return ""
}

// RuleThreshold describes a rule's thresholds in words.
func RuleThreshold(set db.AlertSettings, rule string) string {
	switch rule {
	case db.RuleSignatureFailures:
		return fmt.Sprintf("%d or more in %d min", set.SignatureThreshold, set.SignatureWindowMinutes)
	case db.RuleSilence:
		return fmt.Sprintf("none for %d min", set.SilenceMinutes)
	case db.RuleMissingLinkWebhooks:
		return fmt.Sprintf("after %d min", set.MissingLinkMinutes)
	case db.RuleMissingJobWebhooks:
		return fmt.Sprintf("after %d h", set.MissingJobHours)
	case db.RuleFetchFailing:
		return fmt.Sprintf("%d or more in %d min", set.FetchFailThreshold, set.FetchFailWindowMinutes)
	case db.RuleFetchStuck:
		return fmt.Sprintf("due for %d min", set.FetchStuckMinutes)
	case db.RulePlatformDegraded:
		return fmt.Sprintf("%d%% and %d accounts in 24 h", set.PlatformSharePercent, set.PlatformMinAccounts)
	case db.RuleBulkStuck:
		return fmt.Sprintf("no progress for %d min", set.BulkStuckMinutes)
	}
	return "when the latest check fails"
}

// SnoozeChoices are the snooze durations.
func SnoozeChoices() []time.Duration { return db.SnoozeChoices }

// SnoozeLabel names a snooze duration.
func SnoozeLabel(d time.Duration) string {
	if d >= 24*time.Hour {
		return Plural(int(d/(24*time.Hour)), "day", "days")
	}
	return Plural(int(d/time.Hour), "hour", "hours")
}

// AlertSettingsProps is the alert settings page.
type AlertSettingsProps struct {
	Set    db.AlertSettings
	Values map[string]string
	Errors Errors
	// On are the rules ticked on (a form that failed keeps its ticks).
	On           map[string]bool
	Destinations []db.Destination
	Dest         DestinationForm
	// InsecureOK: emulator mode (local receivers allowed).
	InsecureOK bool
}

// DestinationForm is the destination form as shown.
type DestinationForm struct {
	db.DestinationForm
	Errors Errors
}

// DestinationProps is one destination's page.
type DestinationProps struct {
	D          db.Destination
	Form       DestinationForm
	Log        []db.Notification
	InsecureOK bool
}

// DestinationPath is a destination's page.
func DestinationPath(id int64) string { return "/alerts/destinations/" + strconv.FormatInt(id, 10) }

// DestinationTarget says where a destination sends.
func DestinationTarget(d db.Destination) string {
	if d.Kind == db.DestinationWebhook {
		return "webhook to " + d.Config.Host
	}
	return fmt.Sprintf("email to %s via %s:%d", joinComma(d.Config.To), d.Config.SMTPHost, d.Config.SMTPPort)
}

func joinComma(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ", "
		}
		out += s
	}
	return out
}

// AnyPending reports whether a log still has deliveries in flight.
func AnyPending(log []db.Notification) bool {
	for _, n := range log {
		if !n.Final() {
			return true
		}
	}
	return false
}

// AccountHealthProps is the account page's health panel: reconciliations
// and reconnect links.
type AccountHealthProps struct {
	AccountID  string
	Runs       []db.ReconcileRun
	Reconnects []db.ReconnectMember
	Batches    []int64
	CanWrite   bool
}

// RunSummary says what a reconcile did, in words.
func RunSummary(r db.ReconcileRun) string {
	switch r.State {
	case db.ReconcileQueued, db.ReconcileRunning:
		return "under way"
	case db.ReconcileRefused, db.ReconcileFailed:
		return r.Error
	}
	if r.Result.Nothing() {
		return "nothing was missing; Pinwheel reports " + StatusLabel(r.Result.Status)
	}
	s := ""
	for i, f := range r.Result.Filled {
		if i > 0 {
			s += ", "
		}
		s += f.Event
	}
	out := ""
	if s != "" {
		out = "filled in " + s
	}
	if len(r.Result.Fetches) > 0 {
		if out != "" {
			out += "; "
		}
		out += "fetching newer " + joinComma(r.Result.Fetches)
	}
	return out
}
