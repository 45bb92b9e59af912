package db

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Results: what a campaign did, per group, from the counters tracking
// keeps (campaign_tracking.go), so that the campaign page reads a few
// dozen rows whatever the campaign's size, plus two index walks for the
// medians.
//
// The numbers and their definitions:
//   - Judged members are those whose baseline could be judged (a fresh
//     enough allocations snapshot at launch; every member of a data
//     campaign). Rates are over judged members.
//   - Converted: the newest snapshot after launch sends more to our
//     deposit accounts than the baseline (CompareLevels). Lowered: less.
//     A member who lowered is not converted, and its (negative) change
//     counts in the dollars.
//   - Dollars per paycheck: each judged member's change in the estimated
//     cents per paycheck to our accounts (0 when unchanged, not yet seen
//     again, or not priceable: a percentage or remainder without income
//     data; those are counted apart as "unpriced"). Sum and median (of
//     the converted members' increases) per group.
//   - Uplift = treatment conversion − holdout conversion, with a 95%
//     confidence interval by Newcombe's hybrid score method (method 10 of
//     Newcombe 1998: Wilson score intervals of each proportion combined),
//     which behaves at small counts and rates near 0 where the Wald
//     interval does not.
//   - Dollar uplift per member = mean change (treatment) − mean change
//     (holdout), with a Wald 95% interval for a difference of means
//     (unpooled variances); times the treatment's judged members it is the
//     dollars per paycheck the offer added.

// z95 is the standard normal quantile of a two-sided 95% interval.
const z95 = 1.959963984540054

// Interval is an estimate with its 95% confidence interval.
type Interval struct {
	Estimate, Low, High float64
}

// Wilson is the Wilson score interval of x successes in n trials.
func Wilson(x, n int64, z float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	p, nf := float64(x)/float64(n), float64(n)
	den := 1 + z*z/nf
	centre := (p + z*z/(2*nf)) / den
	half := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / den
	return math.Max(0, centre-half), math.Min(1, centre+half)
}

// NewcombeDiff is p1 − p2 (x1/n1 − x2/n2) with Newcombe's hybrid score
// 95% interval. ok is false when a group is empty.
func NewcombeDiff(x1, n1, x2, n2 int64) (Interval, bool) {
	if n1 <= 0 || n2 <= 0 {
		return Interval{}, false
	}
	p1, p2 := float64(x1)/float64(n1), float64(x2)/float64(n2)
	l1, u1 := Wilson(x1, n1, z95)
	l2, u2 := Wilson(x2, n2, z95)
	d := p1 - p2
	return Interval{Estimate: d, Low: d - math.Sqrt((p1-l1)*(p1-l1)+(u2-p2)*(u2-p2)), High: d + math.Sqrt((u1-p1)*(u1-p1)+(p2-l2)*(p2-l2))}, true
}

// WaldDiffMeans is mean1 − mean2 of two samples given by their sums, sums
// of squares and sizes, with a Wald 95% interval (unpooled variances).
// ok is false when a group has fewer than two members.
func WaldDiffMeans(sum1, sq1 float64, n1 int64, sum2, sq2 float64, n2 int64) (Interval, bool) {
	if n1 < 2 || n2 < 2 {
		return Interval{}, false
	}
	m1, m2 := sum1/float64(n1), sum2/float64(n2)
	v1 := math.Max(0, (sq1-float64(n1)*m1*m1)/float64(n1-1))
	v2 := math.Max(0, (sq2-float64(n2)*m2*m2)/float64(n2-1))
	se := math.Sqrt(v1/float64(n1) + v2/float64(n2))
	d := m1 - m2
	return Interval{Estimate: d, Low: d - z95*se, High: d + z95*se}, true
}

// GroupResults are one group's counters.
type GroupResults struct {
	Members, Judged                               int64
	LinkCreated, PageOpened, LinkOpened, LoggedIn int64
	Success, Error, Pending                       int64
	Converted, Lowered                            int64
	// DeltaSum and DeltaSq sum the priced changes (cents) and their
	// squares over DeltaN members; Unpriced changes have no price.
	DeltaSum, DeltaSq, DeltaN, Unpriced int64
	// MedianIncrease is the median priced increase of converted members
	// (cents), when there is one.
	MedianIncrease    int64
	HasMedianIncrease bool
	// Ledger counts treatment members per ledger state.
	Ledger map[string]int64
}

// Rate is n over the judged members (0 when none).
func (g GroupResults) Rate(n int64) float64 {
	if g.Judged == 0 {
		return 0
	}
	return float64(n) / float64(g.Judged)
}

// Conversion is the share of judged members who converted.
func (g GroupResults) Conversion() float64 { return g.Rate(g.Converted) }

// MeanDelta is the mean change per judged member, in cents.
func (g GroupResults) MeanDelta() float64 {
	if g.Judged == 0 {
		return 0
	}
	return float64(g.DeltaSum) / float64(g.Judged)
}

// FunnelStep is one step of a group's funnel.
type FunnelStep struct {
	Key, Label string
	N          int64
	// OfPrevious is N over the previous step's N; OfMembers over the
	// group's members (the first step's N).
	OfPrevious, OfMembers float64
}

// Funnel is the group's funnel: for the treatment every step of the
// launch link, then the goal job's success and the conversion; for the
// holdout members and conversion only.
func (g GroupResults) Funnel(treatment bool) []FunnelStep {
	steps := []FunnelStep{{Key: "members", Label: "Members", N: g.Members}}
	if treatment {
		steps = append(steps,
			FunnelStep{Key: MemberLinkCreated, Label: "Link created", N: g.LinkCreated},
			FunnelStep{Key: MemberPageOpened, Label: "Page opened", N: g.PageOpened},
			FunnelStep{Key: MemberLinkOpened, Label: "Link opened", N: g.LinkOpened},
			FunnelStep{Key: MemberLoggedIn, Label: "Logged in", N: g.LoggedIn},
			FunnelStep{Key: MemberSuccess, Label: "Job succeeded", N: g.Success})
	}
	steps = append(steps, FunnelStep{Key: "converted", Label: "Converted", N: g.Converted})
	for i := range steps {
		if i > 0 && steps[i-1].N > 0 {
			steps[i].OfPrevious = float64(steps[i].N) / float64(steps[i-1].N)
		}
		if g.Members > 0 {
			steps[i].OfMembers = float64(steps[i].N) / float64(g.Members)
		}
	}
	steps[0].OfPrevious = 1
	return steps
}

// LoginSuccessRate is Pinwheel's Login Success Rate for the campaign: the
// members who logged in over those who opened Link.
func (g GroupResults) LoginSuccessRate() float64 { return ratio(g.LoggedIn, g.LinkOpened) }

// JobSuccessRate is Pinwheel's Job Success Rate: successes over the jobs
// that ended (success or error).
func (g GroupResults) JobSuccessRate() float64 { return ratio(g.Success, g.Success+g.Error) }

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// DayCount is one day of the conversions chart.
type DayCount struct {
	Day                time.Time
	Treatment, Holdout int64
}

// Payout is a batch of incentives an admin marked paid.
type Payout struct {
	ID              int64
	EligibleThrough time.Time
	Members, Cents  int64
	PaidByName      string
	PaidAt          time.Time
}

// Results are a campaign's results.
type Results struct {
	Treatment, Holdout GroupResults
	// Uplift is the conversion uplift (a difference of proportions).
	Uplift    Interval
	HasUplift bool
	// DollarUplift is the difference of the mean change per member, in
	// cents per paycheck.
	DollarUplift    Interval
	HasDollarUplift bool
	// Daily are the conversions per day since launch (with the full
	// results only).
	Daily   []DayCount
	Payouts []Payout
}

// AddedPerPaycheck is the dollar uplift times the treatment's judged
// members: the cents per paycheck the offer added, with its interval.
func (r Results) AddedPerPaycheck() Interval {
	n := float64(r.Treatment.Judged)
	return Interval{Estimate: r.DollarUplift.Estimate * n, Low: r.DollarUplift.Low * n, High: r.DollarUplift.High * n}
}

// CampaignResults reads a campaign's full results: counters, medians,
// conversions per day and payouts.
func (s *Store) CampaignResults(ctx context.Context, c Campaign) (Results, error) {
	var r Results
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = s.results(ctx, tx, c, true)
		return err
	})
	if err != nil {
		return Results{}, fmt.Errorf("db: campaign %d results: %w", c.ID, err)
	}
	return r, nil
}

// results reads the counters of c (and with full, the medians, the daily
// conversions and the payouts).
func (s *Store) results(ctx context.Context, tx *sql.Tx, c Campaign, full bool) (Results, error) {
	r := Results{Treatment: GroupResults{Ledger: map[string]int64{}}, Holdout: GroupResults{Ledger: map[string]int64{}}}
	rows, err := tx.QueryContext(ctx, `SELECT grp, name, n FROM campaign_counts WHERE campaign_id = ?`, c.ID)
	if err != nil {
		return r, err
	}
	for rows.Next() {
		var grp, name string
		var n int64
		if err := rows.Scan(&grp, &name, &n); err != nil {
			rows.Close()
			return r, err
		}
		g := &r.Treatment
		if grp == GroupHoldout {
			g = &r.Holdout
		}
		switch name {
		case countMembers:
			g.Members = n
		case countJudged:
			g.Judged = n
		case countLinkCreated:
			g.LinkCreated = n
		case countPageOpened:
			g.PageOpened = n
		case countLinkOpened:
			g.LinkOpened = n
		case countLoggedIn:
			g.LoggedIn = n
		case countOutcome + MemberSuccess:
			g.Success = n
		case countOutcome + MemberError:
			g.Error = n
		case countOutcome + MemberPending:
			g.Pending = n
		case countConverted:
			g.Converted = n
		case countLowered:
			g.Lowered = n
		case countDeltaSum:
			g.DeltaSum = n
		case countDeltaSq:
			g.DeltaSq = n
		case countDeltaN:
			g.DeltaN = n
		case countUnpriced:
			g.Unpriced = n
		default:
			if st, ok := strings.CutPrefix(name, countLedger); ok {
				g.Ledger[st] = n
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return r, err
	}
	t, h := r.Treatment, r.Holdout
	r.Uplift, r.HasUplift = NewcombeDiff(t.Converted, t.Judged, h.Converted, h.Judged)
	if c.Goal == GoalAllocation {
		r.DollarUplift, r.HasDollarUplift = WaldDiffMeans(float64(t.DeltaSum), float64(t.DeltaSq), t.Judged, float64(h.DeltaSum), float64(h.DeltaSq), h.Judged)
	}
	if !full {
		return r, nil
	}
	for _, g := range []struct {
		grp string
		dst *GroupResults
	}{{GroupTreatment, &r.Treatment}, {GroupHoldout, &r.Holdout}} {
		if g.dst.Converted == 0 || c.Goal != GoalAllocation {
			continue
		}
		if g.dst.MedianIncrease, g.dst.HasMedianIncrease, err = medianIncrease(ctx, tx, c.ID, g.grp); err != nil {
			return r, err
		}
	}
	if r.Daily, err = dailyConversions(ctx, tx, c.ID); err != nil {
		return r, err
	}
	r.Payouts, err = payouts(ctx, tx, c.ID)
	return r, err
}

// medianIncrease is the median priced change of a group's converted
// members, read from the delta index (a count, then one offset walk).
func medianIncrease(ctx context.Context, tx *sql.Tx, id int64, grp string) (int64, bool, error) {
	const where = ` FROM campaign_members WHERE campaign_id = ? AND grp = ? AND result = 'up' AND delta_cents IS NOT NULL`
	var n int64
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*)`+where, id, grp).Scan(&n); err != nil || n == 0 {
		return 0, false, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT delta_cents`+where+` ORDER BY delta_cents LIMIT ? OFFSET ?`, id, grp, 2-n%2, (n-1)/2)
	if err != nil {
		return 0, false, err
	}
	defer rows.Close()
	var vals []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return 0, false, err
		}
		vals = append(vals, v)
	}
	if err := rows.Err(); err != nil || len(vals) == 0 {
		return 0, false, err
	}
	var sum int64
	for _, v := range vals {
		sum += v
	}
	return int64(math.Round(float64(sum) / float64(len(vals)))), true, nil
}

// dailyConversions reads the conversions per day, oldest first.
func dailyConversions(ctx context.Context, tx *sql.Tx, id int64) ([]DayCount, error) {
	rows, err := tx.QueryContext(ctx, `SELECT day, grp, n FROM campaign_daily WHERE campaign_id = ? ORDER BY day`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DayCount
	for rows.Next() {
		var day, grp string
		var n int64
		if err := rows.Scan(&day, &grp, &n); err != nil {
			return nil, err
		}
		t, err := time.Parse("2006-01-02", day)
		if err != nil {
			continue
		}
		if len(out) == 0 || !out[len(out)-1].Day.Equal(t) {
			out = append(out, DayCount{Day: t})
		}
		if grp == GroupHoldout {
			out[len(out)-1].Holdout += n
		} else {
			out[len(out)-1].Treatment += n
		}
	}
	return out, rows.Err()
}

// payouts lists a campaign's payout batches, newest first.
func payouts(ctx context.Context, tx *sql.Tx, id int64) ([]Payout, error) {
	rows, err := tx.QueryContext(ctx, `SELECT p.id, p.eligible_through, p.members, p.cents, COALESCE(s.name, ''), p.paid_at
FROM campaign_payouts p LEFT JOIN staff s ON s.id = p.paid_by WHERE p.campaign_id = ? ORDER BY p.id DESC`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Payout
	for rows.Next() {
		var p Payout
		var through, paid string
		if err := rows.Scan(&p.ID, &through, &p.Members, &p.Cents, &p.PaidByName, &paid); err != nil {
			return nil, err
		}
		p.EligibleThrough, p.PaidAt = ParseTime(through), ParseTime(paid)
		out = append(out, p)
	}
	return out, rows.Err()
}

// MarkPaid marks the campaign's incentives that became eligible up to
// through (the time the admin saw them) paid, as one audited batch. It
// returns the batch (Members 0 when none was eligible).
func (s *Store) MarkPaid(ctx context.Context, a Actor, id int64, through time.Time) (Payout, error) {
	var p Payout
	err := s.tx(ctx, func(tx *sql.Tx) error {
		c, err := s.campaign(ctx, tx, id)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		if through.After(now) {
			through = now
		}
		ms, err := loadMembers(ctx, tx, `m.campaign_id = ? AND m.ledger = 'eligible' AND m.eligible_at <= ?`, id, FormatTime(through))
		if err != nil {
			return err
		}
		if len(ms) == 0 {
			return nil
		}
		p = Payout{EligibleThrough: through, Members: int64(len(ms)), Cents: int64(len(ms)) * c.IncentiveCents, PaidAt: now}
		if err := tx.QueryRowContext(ctx, `INSERT INTO campaign_payouts (campaign_id, eligible_through, members, cents, paid_by, paid_at)
VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, id, FormatTime(through), p.Members, p.Cents, a.StaffID, FormatTime(now)).Scan(&p.ID); err != nil {
			return err
		}
		for _, m := range ms {
			n := m
			n.Ledger, n.PaidAt = LedgerPaid, now
			if err := writeMember(ctx, tx, m, n, now); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE campaign_members SET payout_ref = ? WHERE campaign_id = ? AND ledger = 'paid' AND payout_ref IS NULL`,
			p.ID, id); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionCampaignPaid, "campaign", strconv.FormatInt(id, 10), map[string]any{
			"payout_id": p.ID, "members": p.Members, "cents": p.Cents, "eligible_through": FormatTime(through)})
	})
	if err != nil {
		return Payout{}, campaignErr("mark paid", id, err)
	}
	return p, nil
}

// MemberFilterStages are the values of the members list's stage filter:
// the funnel stages, the results and the ledger states.
var MemberFilterStages = append(append(slices.Clone(MemberStages), "converted", "lowered"), LedgerStates...)

// MemberFilter selects members of a campaign.
type MemberFilter struct {
	Group string
	// Stage is one of MemberFilterStages.
	Stage string
	// Before is the keyset cursor: members with a smaller id.
	Before int64
	Limit  int
}

// Validate checks the filter's values.
func (f MemberFilter) Validate() FieldErrors {
	fe := FieldErrors{}
	if f.Group != "" && f.Group != GroupTreatment && f.Group != GroupHoldout {
		fe["group"] = "Choose treatment or holdout."
	}
	if f.Stage != "" && !slices.Contains(MemberFilterStages, f.Stage) {
		fe["stage"] = "Choose a stage from the list."
	}
	if len(fe) == 0 {
		return nil
	}
	return fe
}

// where is the filter's condition on campaign_members m.
func (f MemberFilter) where(id int64) ([]string, []any) {
	where, args := []string{"m.campaign_id = ?"}, []any{id}
	if f.Group != "" {
		where, args = append(where, "m.grp = ?"), append(args, f.Group)
	}
	switch {
	case f.Stage == "converted":
		where = append(where, "m.result IN ('up', 'down') AND m.result = 'up'") // the first term names the partial index
	case f.Stage == "lowered":
		where = append(where, "m.result IN ('up', 'down') AND m.result = 'down'")
	case slices.Contains(LedgerStates, f.Stage):
		where, args = append(where, "m.ledger = ? AND m.ledger <> ''"), append(args, f.Stage)
	case f.Stage != "":
		where, args = append(where, "m.stage = ?"), append(args, f.Stage)
	}
	return where, args
}

// MemberRow is one member as the list and the exports show it.
type MemberRow struct {
	ID                                    int64
	AccountID, EndUserID                  string
	Group, Stage, Outcome, Result, Ledger string
	BaseFresh                             bool
	Base, Cur                             AllocationLevel
	Delta                                 int64
	DeltaKnown                            bool
	ConvertedAt, HoldUntil, EligibleAt    time.Time
	ClawbackAt, PaidAt                    time.Time
	TokenID, LaunchID                     string
	LinkExpiresAt                         time.Time
	Name, Email                           string
}

const memberRowSelect = `SELECT m.id, m.account_id, m.end_user_id, m.grp, m.stage, COALESCE(m.outcome, ''), m.result, m.ledger, m.base_fresh,
  m.base_alloc, m.base_cents, m.base_pct, m.base_est_cents, COALESCE(m.cur_alloc, ''), COALESCE(m.cur_cents, 0), COALESCE(m.cur_pct, 0),
  m.cur_est_cents, m.delta_cents, COALESCE(m.converted_at, ''), COALESCE(m.hold_until, ''), COALESCE(m.eligible_at, ''),
  COALESCE(m.clawback_at, ''), COALESCE(m.paid_at, ''), COALESCE(t.token_id, ''), COALESCE(t.launch_id, ''),
  COALESCE(t.link_expires_at, ''), COALESCE(cu.full_name, ''), COALESCE(cu.email, '')
FROM campaign_members m LEFT JOIN link_tokens t ON t.id = m.link_ref LEFT JOIN customers cu ON cu.end_user_id = m.end_user_id`

// memberListSQL reads members in id order (dir ASC or DESC).
func memberListSQL(where []string, dir string) string {
	return memberRowSelect + ` WHERE ` + strings.Join(where, " AND ") + ` ORDER BY m.id ` + dir + ` LIMIT ?`
}

func scanMemberRow(sc interface{ Scan(...any) error }) (MemberRow, error) {
	var r MemberRow
	var fresh int
	var baseEst, curEst, delta sql.NullInt64
	var conv, hold, elig, claw, paid, expires string
	err := sc.Scan(&r.ID, &r.AccountID, &r.EndUserID, &r.Group, &r.Stage, &r.Outcome, &r.Result, &r.Ledger, &fresh,
		&r.Base.Kind, &r.Base.Cents, &r.Base.Pct, &baseEst, &r.Cur.Kind, &r.Cur.Cents, &r.Cur.Pct, &curEst, &delta,
		&conv, &hold, &elig, &claw, &paid, &r.TokenID, &r.LaunchID, &expires, &r.Name, &r.Email)
	r.BaseFresh = fresh == 1
	r.Base.EstCents, r.Base.EstKnown = baseEst.Int64, baseEst.Valid
	r.Cur.EstCents, r.Cur.EstKnown = curEst.Int64, curEst.Valid
	r.Delta, r.DeltaKnown = delta.Int64, delta.Valid
	r.ConvertedAt, r.HoldUntil, r.EligibleAt = ParseTime(conv), ParseTime(hold), ParseTime(elig)
	r.ClawbackAt, r.PaidAt, r.LinkExpiresAt = ParseTime(claw), ParseTime(paid), ParseTime(expires)
	return r, err
}

// ListCampaignMembers returns a page of a campaign's members, newest id
// first, and the cursor of the next page (0 when none).
func (s *Store) ListCampaignMembers(ctx context.Context, id int64, f MemberFilter) ([]MemberRow, int64, error) {
	if fe := f.Validate(); fe != nil {
		return nil, 0, fe
	}
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	where, args := f.where(id)
	if f.Before > 0 {
		where, args = append(where, "m.id < ?"), append(args, f.Before)
	}
	rows, err := s.r.QueryContext(ctx, memberListSQL(where, "DESC"), append(args, f.Limit+1)...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: campaign members: %w", err)
	}
	defer rows.Close()
	var out []MemberRow
	for rows.Next() {
		r, err := scanMemberRow(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("db: campaign members: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("db: campaign members: %w", err)
	}
	var next int64
	if len(out) > f.Limit {
		out = out[:f.Limit]
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

// ExportCampaignMembers records the export of a campaign's members in the
// audit trail (with its filter and format), then calls fn for every member
// the filter selects, newest first, read through exportChunks (keyset
// chunks from the exports' own pool, each read whole before it is
// written), so memory stays flat whatever the size.
func (s *Store) ExportCampaignMembers(ctx context.Context, a Actor, id int64, f MemberFilter, format string, fn func(MemberRow) error) (int64, error) {
	if fe := f.Validate(); fe != nil {
		return 0, fe
	}
	if _, err := s.campaign(ctx, s.r, id); err != nil {
		return 0, fmt.Errorf("db: export campaign %d members: %w", id, err)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		return s.appendAudit(ctx, tx, a, ActionCampaignMembersExport, "campaign", strconv.FormatInt(id, 10),
			map[string]any{"format": format, "group": f.Group, "stage": f.Stage})
	})
	if err != nil {
		return 0, fmt.Errorf("db: export campaign %d members: %w", id, err)
	}
	where, args := f.where(id)
	where = append(where, "m.id < ?")
	args = append(args, int64(math.MaxInt64))
	return exportChunks(ctx, s, exportQuery[MemberRow]{sql: memberListSQL(where, "DESC"),
		args: args, label: fmt.Sprintf("export campaign %d members", id),
		scan: func(rows *sql.Rows) (MemberRow, int64, int, error) {
			r, err := scanMemberRow(rows)
			return r, r.ID, 200 + len(r.AccountID) + len(r.EndUserID) + len(r.Name) + len(r.Email), err
		}}, fn)
}
