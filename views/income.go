package views

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"linkdesk/db"
)

// IncomeProps is the income and employment report page (views/income.templ).
type IncomeProps struct {
	R db.IncomeReport
	// Role decides masking; CanWrite shows the refresh and decision forms.
	Role     string
	CanWrite bool
	// Refreshes holds, per account, the latest On Demand Update the
	// report's refresh minted (nil when none).
	Refreshes map[string]*db.LinkSummary
	// BaseURL makes launch links absolute.
	BaseURL string
	// Form is the decision form (input kept on a 422).
	Form DecisionForm
	// Live is the SSE URL that streams the subject's timeline and tells
	// the page when the report's data changed.
	Live string
}

// DecisionForm is the decision form as submitted.
type DecisionForm struct {
	Outcome, Note string
	Errors        Errors
}

// Subject paths of a report.
func (p IncomeProps) base() string {
	if p.R.Scope == db.ScopeEndUser {
		return EndUserPath(p.R.SubjectID)
	}
	return AccountPath(p.R.SubjectID)
}

// ReportPath is the report page; JSONPath its figures; CSVPath the
// paystubs export; DecidePath where decisions are posted.
func (p IncomeProps) ReportPath() string { return p.base() + "/income" }
func (p IncomeProps) JSONPath() string   { return p.base() + "/income.json" }
func (p IncomeProps) CSVPath() string    { return p.base() + "/paystubs.csv" }
func (p IncomeProps) DecidePath() string { return p.base() + "/income/decisions" }

// IncomePath is an account's report; EndUserIncomePath an end user's.
func IncomePath(accountID string) string        { return AccountPath(accountID) + "/income" }
func EndUserIncomePath(endUserID string) string { return EndUserPath(endUserID) + "/income" }

// RefreshPath is where an account's refresh is posted.
func RefreshPath(accountID string) string { return AccountPath(accountID) + "/income/refresh" }

// LaunchURL is the absolute launch link of a link.
func (p IncomeProps) LaunchURL(l *db.LinkSummary) string {
	return strings.TrimRight(p.BaseURL, "/") + "/l/" + l.LaunchID
}

// FrequencyLabel names a pay frequency for people.
func FrequencyLabel(f string) string {
	switch f {
	case db.FrequencyWeekly:
		return "Weekly"
	case db.FrequencyBiweekly:
		return "Every two weeks"
	case db.FrequencySemiMonthly:
		return "Twice a month"
	case db.FrequencyMonthly:
		return "Monthly"
	case db.FrequencyIrregular:
		return "Irregular (pay follows the work)"
	case "", db.FrequencyUnknown:
		return "Not enough pay dates to tell"
	}
	return f
}

// Tenure formats months as "5 years 3 months".
func Tenure(months int) string {
	y, m := months/12, months%12
	switch {
	case y == 0:
		return Plural(m, "month", "months")
	case m == 0:
		return Plural(y, "year", "years")
	}
	return Plural(y, "year", "years") + " " + Plural(m, "month", "months")
}

// Percent formats a percentage with one decimal and its sign.
func Percent(p float64) string { return fmt.Sprintf("%+.1f %%", p) }

// Share formats a share 0–1 as a whole percentage.
func Share(f float64) string { return strconv.Itoa(int(math.Round(f*100))) + " %" }

// DateText formats a report date.
func DateText(d db.Date) string {
	if d.IsZero() {
		return "—"
	}
	return d.Format("2 Jan 2006")
}

// CentsP formats optional cents.
func CentsP(c *int64) string {
	if c == nil {
		return "none"
	}
	return Cents(*c)
}

// Hours formats hours with at most one decimal.
func Hours(h float64) string { return strconv.FormatFloat(math.Round(h*10)/10, 'f', -1, 64) }

// Annualised returns the figure of months, if the report has one.
func AnnualisedOf(list []db.Annualised, months int) (db.Annualised, bool) {
	for _, a := range list {
		if a.Months == months {
			return a, true
		}
	}
	return db.Annualised{}, false
}

// Latest is the newest decision of a report, nil when none.
func LatestDecision(r db.IncomeReport) *db.Decision {
	if len(r.Decisions) == 0 {
		return nil
	}
	return &r.Decisions[0]
}

// DecisionClass is the badge class of a decision outcome.
func DecisionClass(o string) string {
	switch o {
	case db.OutcomeApproved:
		return "badge success"
	case db.OutcomeDeclined:
		return "badge error"
	}
	return "badge warn"
}

// ---- the pay chart ----

// Chart geometry, in SVG user units.
const (
	chartW, chartH                = 720, 260
	chartLeft, chartRight         = 64, 12
	chartTop, chartBottom         = 16, 36
	chartPlotW                    = chartW - chartLeft - chartRight
	chartPlotH                    = chartH - chartTop - chartBottom
	chartMaxTicks                 = 5
	barGap                float64 = 1
)

// PayChart is a server-rendered chart of gross and net pay per pay date,
// with raises and gaps marked, laid out for an SVG of ChartViewBox.
type PayChart struct {
	Gross, Net string // polyline points
	YTicks     []ChartTick
	XTicks     []ChartTick
	Changes    []ChartMark
	Gaps       []ChartSpan
	// Points keeps one dot per pay date (when few enough to see).
	Dots  []ChartDot
	Label string
}

// ChartTick is a labelled grid line at a position.
type ChartTick struct {
	Pos   float64
	Label string
}

// ChartMark is a marked date (a raise or cut).
type ChartMark struct {
	X     float64
	Label string
	Up    bool
}

// ChartSpan is a marked stretch (a gap).
type ChartSpan struct {
	X, W  float64
	Label string
}

// ChartDot is one pay date's gross.
type ChartDot struct{ X, Y float64 }

// ChartViewBox is the SVG viewBox of every pay chart.
const ChartViewBox = "0 0 720 260"

// Chart layout constants the templates read.
var (
	ChartLeft   = float64(chartLeft)
	ChartRight  = float64(chartW - chartRight)
	ChartTop    = float64(chartTop)
	ChartBottom = float64(chartH - chartBottom)
)

// BuildPayChart lays out points (oldest first), pay changes and gaps.
func BuildPayChart(points []db.ChartPoint, changes []db.PayChange, gaps []db.Gap) PayChart {
	var c PayChart
	if len(points) == 0 {
		return c
	}
	first, last := points[0].Date.Time, points[len(points)-1].Date.Time
	span := last.Sub(first).Hours()
	if span <= 0 {
		span = 24
		first = first.Add(-12 * time.Hour)
	}
	x := func(t time.Time) float64 {
		return round2(chartLeft + t.Sub(first).Hours()/span*chartPlotW)
	}
	var top int64
	for _, p := range points {
		top = max(top, p.Gross, p.Net)
	}
	step := niceStep(top, chartMaxTicks)
	ymax := step * int64(math.Ceil(float64(top)/float64(step)))
	if ymax <= 0 {
		ymax = step
	}
	y := func(v int64) float64 {
		return round2(chartTop + chartPlotH - float64(max(v, 0))/float64(ymax)*chartPlotH)
	}
	var g, n strings.Builder
	for i, p := range points {
		if i > 0 {
			g.WriteByte(' ')
			n.WriteByte(' ')
		}
		fmt.Fprintf(&g, "%g,%g", x(p.Date.Time), y(p.Gross))
		fmt.Fprintf(&n, "%g,%g", x(p.Date.Time), y(p.Net))
		if len(points) <= 60 {
			c.Dots = append(c.Dots, ChartDot{X: x(p.Date.Time), Y: y(p.Gross)})
		}
	}
	c.Gross, c.Net = g.String(), n.String()
	for v := int64(0); v <= ymax; v += step {
		c.YTicks = append(c.YTicks, ChartTick{Pos: y(v), Label: shortMoney(v)})
	}
	c.XTicks = timeTicks(first, last, x)
	for _, ch := range changes {
		word := "raise"
		if !ch.Raise() {
			word = "cut"
		}
		c.Changes = append(c.Changes, ChartMark{X: x(ch.Date.Time), Label: fmt.Sprintf("%s %s", word, Percent(ch.Percent)), Up: ch.Raise()})
	}
	for _, gp := range gaps {
		x0, x1 := x(gp.From.Time), x(gp.To.Time)
		c.Gaps = append(c.Gaps, ChartSpan{X: x0, W: round2(x1 - x0), Label: fmt.Sprintf("gap, %d days", gp.Days)})
	}
	c.Label = fmt.Sprintf("Gross and net pay of %s from %s to %s", Plural(len(points), "pay date", "pay dates"),
		DateText(points[0].Date), DateText(points[len(points)-1].Date))
	return c
}

// GigChart lays out weekly earnings as bars.
type GigChart struct {
	Bars   []ChartBar
	YTicks []ChartTick
	XTicks []ChartTick
	Label  string
}

// ChartBar is one week's bar.
type ChartBar struct {
	X, Y, W, H float64
	Title      string
}

// BuildGigChart lays out weeks (oldest first) as bars.
func BuildGigChart(weeks []db.GigWeek) GigChart {
	var c GigChart
	if len(weeks) == 0 {
		return c
	}
	var top int64
	for _, w := range weeks {
		top = max(top, w.Gross)
	}
	step := niceStep(top, chartMaxTicks)
	ymax := step * int64(math.Ceil(float64(top)/float64(step)))
	if ymax <= 0 {
		ymax = step
	}
	bw := float64(chartPlotW) / float64(len(weeks))
	for i, w := range weeks {
		h := float64(w.Gross) / float64(ymax) * chartPlotH
		c.Bars = append(c.Bars, ChartBar{X: round2(chartLeft + float64(i)*bw + barGap/2), Y: round2(chartTop + chartPlotH - h),
			W: round2(math.Max(bw-barGap, 0.5)), H: round2(h),
			Title: fmt.Sprintf("Week of %s: %s, %s", DateText(w.Start), Cents(w.Gross), Plural(w.Shifts, "shift", "shifts"))})
	}
	for v := int64(0); v <= ymax; v += step {
		c.YTicks = append(c.YTicks, ChartTick{Pos: round2(chartTop + chartPlotH - float64(v)/float64(ymax)*chartPlotH), Label: shortMoney(v)})
	}
	first := weeks[0].Start.Time
	last := weeks[len(weeks)-1].Start.Time
	span := math.Max(last.Sub(first).Hours(), 24)
	c.XTicks = timeTicks(first, last, func(t time.Time) float64 {
		return round2(chartLeft + bw/2 + t.Sub(first).Hours()/span*(chartPlotW-bw))
	})
	c.Label = fmt.Sprintf("Earnings of %s from the week of %s", Plural(len(weeks), "week", "weeks"), DateText(weeks[0].Start))
	return c
}

// niceStep is a round tick step (1, 2 or 5 times a power of ten, in
// dollars) giving at most n ticks up to top cents.
func niceStep(top int64, n int) int64 {
	if top <= 0 {
		return 100_00
	}
	raw := float64(top) / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return max(int64(m*p), 100)
		}
	}
	return int64(10 * p)
}

// timeTicks labels months (short spans) or years (long ones).
func timeTicks(first, last time.Time, x func(time.Time) float64) []ChartTick {
	var out []ChartTick
	months := (last.Year()-first.Year())*12 + int(last.Month()) - int(first.Month())
	stepMonths := 1
	switch {
	case months > 36:
		stepMonths = 12
	case months > 18:
		stepMonths = 6
	case months > 8:
		stepMonths = 3
	}
	t := time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1, 0)
	for ; !t.After(last); t = t.AddDate(0, 1, 0) {
		m := int(t.Month()) - 1
		if stepMonths == 12 && m != 0 || m%stepMonths != 0 {
			continue
		}
		label := t.Format("Jan 2006")
		if stepMonths == 12 {
			label = t.Format("2006")
		}
		out = append(out, ChartTick{Pos: x(t), Label: label})
	}
	return out
}

// shortMoney formats an axis amount: $1.2k, $15k, $800.
func shortMoney(c int64) string {
	d := float64(c) / 100
	switch {
	case d >= 1000:
		return "$" + strconv.FormatFloat(math.Round(d/100)/10, 'f', -1, 64) + "k"
	}
	return "$" + strconv.FormatFloat(math.Round(d), 'f', -1, 64)
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// F formats a chart coordinate for an SVG attribute.
func F(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// PctDiff is how far actual lies from stated, in percent of stated.
func PctDiff(stated, actual int64) float64 {
	if stated == 0 {
		return 0
	}
	return math.Round((float64(actual)-float64(stated))/float64(stated)*1000) / 10
}

// SegmentEmployers names the employers of a stretch of pay (", from
// Acme").
func SegmentEmployers(s db.PaySegment) string {
	if len(s.Employers) == 0 {
		return ""
	}
	return ", from " + strings.Join(s.Employers, " and ")
}

// ChangeText describes a pay change: "Raise of +8.0 % on 3 Mar 2026
// (hourly rate $25.00 → $27.00)".
func ChangeText(c db.PayChange) string {
	word := "Raise"
	if !c.Raise() {
		word = "Cut"
	}
	return fmt.Sprintf("%s of %s on %s (%s %s → %s)", word, Percent(c.Percent), DateText(c.Date), c.Basis, Cents(c.From), Cents(c.To))
}

// DeductionKind names a deduction line's type.
func DeductionKind(t string) string {
	switch t {
	case "tax":
		return "tax"
	case "pre_tax":
		return "pre-tax deduction"
	case "post_tax":
		return "post-tax deduction"
	}
	return "deduction"
}

// ScopeLabel names a report scope.
func ScopeLabel(scope string) string {
	if scope == db.ScopeEndUser {
		return "end user's"
	}
	return "account's"
}

// DecisionBasisText says what a decision would be bound to: "2
// employment and income snapshots and 26 paystubs".
func DecisionBasisText(b db.DecisionBasis) string {
	c := b.Counts()
	parts := []string{Plural(c[db.FetchEmployment]+c[db.FetchIncome], "employment and income snapshot", "employment and income snapshots"),
		Plural(c[db.FetchPaystubs], "paystub", "paystubs")}
	if n := c[db.FetchShifts]; n > 0 {
		parts = append(parts, Plural(n, "shift", "shifts"))
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// PaystubsLine sums up stored paystubs: "63 paystubs stored, paid 10 Oct
// 2025 to 6 Dec 2026, 5 flagged and left out".
func PaystubsLine(s db.PayDataSummary) string {
	out := Plural(s.Count, "paystub", "paystubs") + " stored"
	if s.Count > 0 {
		out += ", paid " + DateText(s.First) + " to " + DateText(s.Last)
	}
	if n := s.Count - s.Usable; n > 0 {
		out += ", " + Itoa(n) + " flagged and left out"
	}
	return out
}
