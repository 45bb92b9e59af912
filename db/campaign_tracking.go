package db

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"linkdesk/pinwheel"
)

// Tracking: every campaign member moves through the funnel and is judged
// by the snapshots that arrive after the launch, incrementally, in the
// transaction of the fact that moves it: a launch page's events
// (RecordLaunchEvent), a webhook's job outcome (the ingest committer), a
// stored snapshot (SnapshotFetched), the end of a hold period
// (PromoteHolds). Each change also adjusts the counters the campaign page
// reads (campaign_counts, campaign_daily), so no page view scans members.
//
// The decisions are pure functions of the member's stored state and the
// new fact (advanceStage, applyOutcome, judgeSnapshot, promoteHold),
// tested as tables; writeMember stores the result and the difference of
// its counts.

// Member stages: the furthest point a member reached.
const (
	// MemberHoldout: a holdout member (no link; only converts).
	MemberHoldout = "holdout"
	// MemberWaiting: a treatment member whose link is not created yet.
	MemberWaiting     = "waiting"
	MemberLinkCreated = "link_created"
	MemberPageOpened  = "page_opened"
	MemberLinkOpened  = "link_opened"
	MemberLoggedIn    = "logged_in"
	// MemberSuccess, MemberError and MemberPending: the goal job's outcome.
	MemberSuccess = "success"
	MemberError   = "error"
	MemberPending = "pending"
)

// MemberStages lists the stages in funnel order.
var MemberStages = []string{MemberHoldout, MemberWaiting, MemberLinkCreated, MemberPageOpened, MemberLinkOpened, MemberLoggedIn,
	MemberSuccess, MemberError, MemberPending}

// Member results: the newest snapshot after launch against the baseline.
const (
	ResultUp   = "up"   // converted: more to our accounts
	ResultDown = "down" // lowered: less to our accounts
	ResultSame = "same"
)

// Ledger states of a treatment member's incentive.
const (
	LedgerHolding      = "holding"
	LedgerEligible     = "eligible"
	LedgerPaid         = "paid"
	LedgerClawback     = "clawback"
	LedgerNotQualified = "not_qualified"
)

// LedgerStates lists the ledger states.
var LedgerStates = []string{LedgerHolding, LedgerEligible, LedgerPaid, LedgerClawback, LedgerNotQualified}

// Counter names of campaign_counts.
const (
	countMembers     = "members"
	countJudged      = "judged"
	countLinkCreated = "link_created"
	countPageOpened  = "page_opened"
	countLinkOpened  = "link_opened"
	countLoggedIn    = "logged_in"
	countOutcome     = "outcome_" // + success, error, pending
	countConverted   = "converted"
	countLowered     = "lowered"
	countDeltaSum    = "delta_sum"
	countDeltaSq     = "delta_sq"
	countDeltaN      = "delta_n"
	countUnpriced    = "unpriced"
	countLedger      = "ledger_" // + a ledger state
)

// memberState is a member's tracking state, as stored.
type memberState struct {
	ID, CampaignID int64
	Group          string
	// From the campaign.
	Goal     string
	HoldDays int
	Ask      string
	AskCents int64

	FrozenAt time.Time
	Judged   bool
	Base     AllocationLevel

	LinkCreatedAt, PageOpenedAt, LinkOpenedAt, LoggedInAt time.Time
	Outcome                                               string
	OutcomeAt                                             time.Time

	LastSnapAt  time.Time
	Cur         AllocationLevel
	Result      string
	ConvertedAt time.Time
	Delta       int64
	DeltaKnown  bool
	Conv        AllocationLevel

	Ledger                            string
	HoldUntil, EligibleAt, ClawbackAt time.Time
	PaidAt                            time.Time
}

// Stage is the furthest funnel stage the member reached.
func (m memberState) Stage() string {
	switch {
	case m.Group == GroupHoldout:
		return MemberHoldout
	case m.Outcome != "":
		return m.Outcome
	case !m.LoggedInAt.IsZero():
		return MemberLoggedIn
	case !m.LinkOpenedAt.IsZero():
		return MemberLinkOpened
	case !m.PageOpenedAt.IsZero():
		return MemberPageOpened
	case !m.LinkCreatedAt.IsZero():
		return MemberLinkCreated
	}
	return MemberWaiting
}

// counts are what the member contributes to its group's counters.
func (m memberState) counts() map[string]int64 {
	c := map[string]int64{}
	for name, at := range map[string]time.Time{countLinkCreated: m.LinkCreatedAt, countPageOpened: m.PageOpenedAt,
		countLinkOpened: m.LinkOpenedAt, countLoggedIn: m.LoggedInAt} {
		if !at.IsZero() {
			c[name] = 1
		}
	}
	if m.Outcome != "" {
		c[countOutcome+m.Outcome] = 1
	}
	switch m.Result {
	case ResultUp:
		c[countConverted] = 1
	case ResultDown:
		c[countLowered] = 1
	}
	if m.Result == ResultUp || m.Result == ResultDown {
		if m.DeltaKnown {
			c[countDeltaSum], c[countDeltaSq], c[countDeltaN] = m.Delta, m.Delta*m.Delta, 1
		} else if m.Goal == GoalAllocation {
			c[countUnpriced] = 1
		}
	}
	if m.Ledger != "" {
		c[countLedger+m.Ledger] = 1
	}
	return c
}

// Funnel events a member's launch link reports.
const (
	trackPageOpened = EventPageOpened
	trackLinkOpened = LinkEventOpen
	trackLogin      = LinkEventLogin
	trackSuccess    = LinkEventSuccess
)

// advanceStage applies a launch page event: the page opened, Link opened,
// the user logged in (Link's login, or its success, which comes after a
// login or on the silent path of an On Demand Update that needs none).
// Reaching a stage implies the earlier ones, at the same time when they
// were not seen (a browser may fail to report an event). Only the first
// time counts.
func advanceStage(m memberState, event string, at time.Time) memberState {
	if m.Group != GroupTreatment || m.LinkCreatedAt.IsZero() {
		return m
	}
	set := func(t *time.Time) {
		if t.IsZero() {
			*t = at
		}
	}
	switch event {
	case trackLogin, trackSuccess:
		set(&m.LoggedInAt)
		fallthrough
	case trackLinkOpened:
		set(&m.LinkOpenedAt)
		fallthrough
	case trackPageOpened:
		set(&m.PageOpenedAt)
	}
	return m
}

// applyOutcome applies the goal job's outcome from a webhook: the newest
// by its time wins, except that a success stays (a job that succeeded is
// not undone by a late retry's error); an outcome implies the login
// before it.
func applyOutcome(m memberState, outcome string, at time.Time) memberState {
	if m.Group != GroupTreatment || m.LinkCreatedAt.IsZero() {
		return m
	}
	switch outcome {
	case pinwheel.OutcomeSuccess, pinwheel.OutcomeError, pinwheel.OutcomePending:
	default:
		return m
	}
	m = advanceStage(m, trackLogin, at)
	if m.Outcome == MemberSuccess && outcome != pinwheel.OutcomeSuccess {
		return m
	}
	if m.Outcome == "" || outcome == pinwheel.OutcomeSuccess || !at.Before(m.OutcomeAt) {
		m.Outcome, m.OutcomeAt = outcome, at
	}
	return m
}

// qualifies reports whether a converted level meets the campaign's ask
// (at least the amount asked, to our accounts); the remainder does unless
// its estimate says otherwise.
func (m memberState) qualifies(l AllocationLevel) bool {
	if m.Goal != GoalAllocation || m.Ask == AskChoice || m.AskCents <= 0 {
		return true
	}
	switch {
	case l.Cents >= m.AskCents:
		return true
	case l.EstKnown:
		return l.EstCents >= m.AskCents
	}
	return l.Kind == AllocRemainder
}

// startHold opens a treatment member's incentive at conversion: eligible
// at once with no hold period, else holding until the period ends; not
// qualified when the level is below the ask.
func (m memberState) startHold(l AllocationLevel, at, now time.Time) memberState {
	if m.Group != GroupTreatment || m.Ledger != "" {
		return m
	}
	switch {
	case !m.qualifies(l):
		m.Ledger = LedgerNotQualified
	case m.HoldDays == 0:
		m.Ledger, m.EligibleAt = LedgerEligible, now
	default:
		m.Ledger, m.HoldUntil = LedgerHolding, at.AddDate(0, 0, m.HoldDays)
	}
	return m
}

// judgeSnapshot judges a member by a snapshot of kind taken at at, with
// level l for allocations. Only snapshots after the launch count, and only
// for a member whose baseline could be judged.
//
// For an allocation campaign the newest snapshot by its time decides the
// result against the baseline (an older one arriving later does not
// overwrite it): up converts (the level at conversion is kept, and a
// treatment member's incentive starts its hold period), down lowers, an
// up that falls back stops counting. Any snapshot inside the hold period
// that is below the level converted to claws the incentive back; one at
// or after its end that still holds the level makes it eligible. For the
// other goals, the first snapshot of the goal's data after the launch
// converts.
func judgeSnapshot(m memberState, kind string, l AllocationLevel, at, now time.Time) memberState {
	if kind != goalFetch(m.Goal) || !m.Judged || !at.After(m.FrozenAt) {
		return m
	}
	if m.Goal != GoalAllocation {
		if m.Result == ResultUp {
			if m.Ledger == LedgerHolding && !at.Before(m.HoldUntil) {
				m.Ledger, m.EligibleAt = LedgerEligible, now
			}
			return m
		}
		m.Result, m.ConvertedAt, m.LastSnapAt = ResultUp, at, at
		return m.startHold(l, at, now)
	}
	if m.Ledger == LedgerHolding && !at.Before(m.ConvertedAt) {
		switch below := CompareLevels(m.Conv, l) < 0; {
		case at.Before(m.HoldUntil) && below:
			m.Ledger, m.ClawbackAt = LedgerClawback, at
		case !at.Before(m.HoldUntil) && !below:
			m.Ledger, m.EligibleAt = LedgerEligible, now
		}
	}
	if !m.LastSnapAt.IsZero() && !at.After(m.LastSnapAt) {
		return m
	}
	m.LastSnapAt, m.Cur = at, l
	result := ResultSame
	switch CompareLevels(m.Base, l) {
	case 1:
		result = ResultUp
	case -1:
		result = ResultDown
	}
	m.Delta, m.DeltaKnown = 0, false
	if m.Base.EstKnown && l.EstKnown {
		m.Delta, m.DeltaKnown = l.EstCents-m.Base.EstCents, true
	}
	if result == ResultUp && m.Result != ResultUp {
		m.ConvertedAt, m.Conv = at, l
		m = m.startHold(l, at, now)
	}
	m.Result = result
	return m
}

// promoteHold makes a holding incentive eligible once its hold period
// passed with no decrease seen (now is the clock, and EligibleAt: when
// Linkdesk saw it become eligible, which a payout batch compares with the
// time the admin looked).
func promoteHold(m memberState, now time.Time) memberState {
	if m.Ledger == LedgerHolding && !now.Before(m.HoldUntil) {
		m.Ledger, m.EligibleAt = LedgerEligible, now
	}
	return m
}

// campaignMemberColumns are what scanCampaignMember reads (m: campaign_members, c: campaigns).
const campaignMemberColumns = `m.id, m.campaign_id, m.grp, c.goal, c.hold_days, c.ask, c.ask_cents, m.frozen_at, m.base_fresh,
  m.base_alloc, m.base_cents, m.base_pct, m.base_est_cents, COALESCE(m.link_created_at, ''), COALESCE(m.page_opened_at, ''),
  COALESCE(m.link_opened_at, ''), COALESCE(m.logged_in_at, ''), COALESCE(m.outcome, ''), COALESCE(m.outcome_at, ''),
  COALESCE(m.last_snap_at, ''), COALESCE(m.cur_alloc, ''), COALESCE(m.cur_cents, 0), COALESCE(m.cur_pct, 0), m.cur_est_cents,
  m.result, COALESCE(m.converted_at, ''), m.delta_cents, COALESCE(m.conv_alloc, ''), COALESCE(m.conv_cents, 0), COALESCE(m.conv_pct, 0),
  m.ledger, COALESCE(m.hold_until, ''), COALESCE(m.eligible_at, ''), COALESCE(m.clawback_at, ''), COALESCE(m.paid_at, '')`

func scanCampaignMember(sc interface{ Scan(...any) error }) (memberState, error) {
	var m memberState
	var frozen, lc, po, lo, li, oat, last, conv, hold, elig, claw, paid string
	var fresh int
	var baseEst, curEst, delta sql.NullInt64
	err := sc.Scan(&m.ID, &m.CampaignID, &m.Group, &m.Goal, &m.HoldDays, &m.Ask, &m.AskCents, &frozen, &fresh,
		&m.Base.Kind, &m.Base.Cents, &m.Base.Pct, &baseEst, &lc, &po, &lo, &li, &m.Outcome, &oat,
		&last, &m.Cur.Kind, &m.Cur.Cents, &m.Cur.Pct, &curEst, &m.Result, &conv, &delta, &m.Conv.Kind, &m.Conv.Cents, &m.Conv.Pct,
		&m.Ledger, &hold, &elig, &claw, &paid)
	if err != nil {
		return m, err
	}
	m.Judged = fresh == 1
	m.Base.EstCents, m.Base.EstKnown = baseEst.Int64, baseEst.Valid
	m.Cur.EstCents, m.Cur.EstKnown = curEst.Int64, curEst.Valid
	m.Delta, m.DeltaKnown = delta.Int64, delta.Valid
	m.FrozenAt, m.LinkCreatedAt, m.PageOpenedAt, m.LinkOpenedAt = ParseTime(frozen), ParseTime(lc), ParseTime(po), ParseTime(lo)
	m.LoggedInAt, m.OutcomeAt, m.LastSnapAt, m.ConvertedAt = ParseTime(li), ParseTime(oat), ParseTime(last), ParseTime(conv)
	m.HoldUntil, m.EligibleAt, m.ClawbackAt, m.PaidAt = ParseTime(hold), ParseTime(elig), ParseTime(claw), ParseTime(paid)
	return m, nil
}

// execQuerier is a transaction (or the ingest committer's).
type execQuerier interface {
	readQuerier
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// loadMembers reads the members a condition on m (and c) selects.
func loadMembers(ctx context.Context, q readQuerier, where string, args ...any) ([]memberState, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+campaignMemberColumns+` FROM campaign_members m JOIN campaigns c ON c.id = m.campaign_id WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []memberState
	for rows.Next() {
		m, err := scanCampaignMember(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// nullTimeText is a time as a column value: NULL for zero.
func nullTimeText(t time.Time) sql.NullString {
	if t.IsZero() {
		return sql.NullString{}
	}
	return sql.NullString{String: FormatTime(t), Valid: true}
}

// writeMember stores a member's new state and adjusts the counters by the
// difference of its counts; a conversion that started a hold period
// schedules the hold job.
func writeMember(ctx context.Context, q execQuerier, old, m memberState, now time.Time) error {
	if old == m {
		return nil
	}
	var curKind sql.NullString
	var curCents sql.NullInt64
	var curPct sql.NullFloat64
	if m.Cur.Kind != "" {
		curKind, curCents, curPct = sql.NullString{String: m.Cur.Kind, Valid: true}, sql.NullInt64{Int64: m.Cur.Cents, Valid: true},
			sql.NullFloat64{Float64: m.Cur.Pct, Valid: true}
	}
	var convKind sql.NullString
	var convCents sql.NullInt64
	var convPct sql.NullFloat64
	if m.Conv.Kind != "" {
		convKind, convCents, convPct = sql.NullString{String: m.Conv.Kind, Valid: true}, sql.NullInt64{Int64: m.Conv.Cents, Valid: true},
			sql.NullFloat64{Float64: m.Conv.Pct, Valid: true}
	}
	_, err := q.ExecContext(ctx, `UPDATE campaign_members SET stage = ?, link_created_at = ?, page_opened_at = ?, link_opened_at = ?,
  logged_in_at = ?, outcome = ?, outcome_at = ?, last_snap_at = ?, cur_alloc = ?, cur_cents = ?, cur_pct = ?, cur_est_cents = ?,
  result = ?, converted_at = ?, delta_cents = ?, conv_alloc = ?, conv_cents = ?, conv_pct = ?, ledger = ?, hold_until = ?,
  eligible_at = ?, clawback_at = ?, paid_at = ? WHERE id = ?`,
		m.Stage(), nullTimeText(m.LinkCreatedAt), nullTimeText(m.PageOpenedAt), nullTimeText(m.LinkOpenedAt), nullTimeText(m.LoggedInAt),
		nullStr(m.Outcome), nullTimeText(m.OutcomeAt), nullTimeText(m.LastSnapAt), curKind, curCents, curPct, nullableEst(m.Cur),
		m.Result, nullTimeText(m.ConvertedAt), sql.NullInt64{Int64: m.Delta, Valid: m.DeltaKnown}, convKind, convCents, convPct,
		m.Ledger, nullTimeText(m.HoldUntil), nullTimeText(m.EligibleAt), nullTimeText(m.ClawbackAt), nullTimeText(m.PaidAt), m.ID)
	if err != nil {
		return fmt.Errorf("campaign member %d: %w", m.ID, err)
	}
	before, after := old.counts(), m.counts()
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			if err := bumpCount(ctx, q, m.CampaignID, m.Group, k, d); err != nil {
				return err
			}
		}
	}
	for k, v := range before {
		if _, ok := after[k]; !ok && v != 0 {
			if err := bumpCount(ctx, q, m.CampaignID, m.Group, k, -v); err != nil {
				return err
			}
		}
	}
	wasUp, isUp := old.Result == ResultUp, m.Result == ResultUp
	if wasUp && (!isUp || dayOf(old.ConvertedAt) != dayOf(m.ConvertedAt)) {
		if err := bumpDaily(ctx, q, m.CampaignID, m.Group, dayOf(old.ConvertedAt), -1); err != nil {
			return err
		}
	}
	if isUp && (!wasUp || dayOf(old.ConvertedAt) != dayOf(m.ConvertedAt)) {
		if err := bumpDaily(ctx, q, m.CampaignID, m.Group, dayOf(m.ConvertedAt), 1); err != nil {
			return err
		}
	}
	if m.Ledger == LedgerHolding && old.Ledger != LedgerHolding {
		return scheduleHolds(ctx, q, m.HoldUntil, now)
	}
	return nil
}

// dayOf is the UTC day of a time, as the daily counters key it.
func dayOf(t time.Time) string { return t.UTC().Format("2006-01-02") }

// bumpCount adds d to a counter of campaign_counts.
func bumpCount(ctx context.Context, q execQuerier, campaign int64, grp, name string, d int64) error {
	_, err := q.ExecContext(ctx, `INSERT INTO campaign_counts (campaign_id, grp, name, n) VALUES (?, ?, ?, ?)
ON CONFLICT (campaign_id, grp, name) DO UPDATE SET n = campaign_counts.n + excluded.n`, campaign, grp, name, d)
	if err != nil {
		return fmt.Errorf("campaign count %s: %w", name, err)
	}
	return nil
}

// bumpDaily adds d to a day's conversions.
func bumpDaily(ctx context.Context, q execQuerier, campaign int64, grp, day string, d int64) error {
	_, err := q.ExecContext(ctx, `INSERT INTO campaign_daily (campaign_id, grp, day, n) VALUES (?, ?, ?, ?)
ON CONFLICT (campaign_id, grp, day) DO UPDATE SET n = campaign_daily.n + excluded.n`, campaign, grp, day, d)
	if err != nil {
		return fmt.Errorf("campaign daily count: %w", err)
	}
	return nil
}

// scheduleHolds makes the hold job due by at (it keeps an earlier time).
func scheduleHolds(ctx context.Context, q execQuerier, at, now time.Time) error {
	t, n := FormatTime(at), FormatTime(now)
	_, err := q.ExecContext(ctx, `INSERT INTO jobs (kind, payload, dedupe_key, state, run_at, attempts, created_at, updated_at)
VALUES (?, '{}', 'all', 'queued', ?, 0, ?, ?)
ON CONFLICT (kind, dedupe_key) WHERE state = 'queued' DO UPDATE SET
  run_at = CASE WHEN excluded.run_at < jobs.run_at THEN excluded.run_at ELSE jobs.run_at END, updated_at = excluded.updated_at`,
		JobCampaignHolds, t, n, n)
	if err != nil {
		return fmt.Errorf("schedule holds: %w", err)
	}
	return nil
}

// trackLaunchEvent moves the campaign member of the launch link linkRef,
// if any, by one of its page's events (inside RecordLaunchEvent's
// transaction).
func (s *Store) trackLaunchEvent(ctx context.Context, tx *sql.Tx, linkRef int64, name string, at time.Time) error {
	switch name {
	case trackPageOpened, trackLinkOpened, trackLogin, trackSuccess:
	default:
		return nil
	}
	ms, err := loadMembers(ctx, tx, `m.link_ref = ?`, linkRef)
	if err != nil {
		return fmt.Errorf("campaign member of link %d: %w", linkRef, err)
	}
	for _, m := range ms {
		if err := writeMember(ctx, tx, m, advanceStage(m, name, at), at); err != nil {
			return err
		}
	}
	return nil
}

// trackJobOutcome moves the campaign member whose launch link minted the
// Pinwheel token linkTokenID, if any, by a job outcome of its goal's job
// (inside the ingest committer's transaction). Most tokens are not a
// campaign's: one probe of link_token_mints says so, or links, when not
// nil, the batch's answers read at once (campaignLinks).
func trackJobOutcome(ctx context.Context, st *boundStmts, links map[string]int64, linkTokenID, job, outcome string, at, now time.Time) error {
	var linkRef int64
	if links != nil {
		if linkRef = links[linkTokenID]; linkRef == 0 {
			return nil
		}
	} else {
		var token string
		err := st.campaignLink.QueryRowContext(ctx, linkTokenID).Scan(&token, &linkRef)
		if err == sql.ErrNoRows {
			return nil
		}
		if err != nil {
			return fmt.Errorf("campaign link of %s: %w", linkTokenID, err)
		}
	}
	ms, err := loadMembers(ctx, st.tx, `m.link_ref = ?`, linkRef)
	if err != nil {
		return fmt.Errorf("campaign member of link %d: %w", linkRef, err)
	}
	for _, m := range ms {
		if GoalJob(m.Goal) != job {
			continue
		}
		if err := writeMember(ctx, st.tx, m, applyOutcome(m, outcome, at), now); err != nil {
			return err
		}
	}
	return nil
}

// judgeMembers judges the account's members of launched campaigns by a
// snapshot of kind stored at at (level l for allocations), inside the
// transaction that stores it.
func (s *Store) judgeMembers(ctx context.Context, tx *sql.Tx, accountRef int64, kind string, l AllocationLevel, at time.Time) error {
	ms, err := loadMembers(ctx, tx, `m.account_ref = ? AND c.state IN ('launching', 'paused', 'live', 'ended')`, accountRef)
	if err != nil {
		return fmt.Errorf("campaign members of account %d: %w", accountRef, err)
	}
	now := s.now().UTC()
	for _, m := range ms {
		if err := writeMember(ctx, tx, m, judgeSnapshot(m, kind, l, at, now), now); err != nil {
			return err
		}
	}
	return nil
}

// holdsBatch is how many incentives one PromoteHolds transaction makes
// eligible.
const holdsBatch = 2000

// PromoteHolds makes eligible every holding incentive whose hold period
// has ended with no decrease seen, a batch per transaction, and schedules
// the hold job again for the next period to end. It returns how many it
// promoted.
func (s *Store) PromoteHolds(ctx context.Context) (int, error) {
	total := 0
	for {
		n := 0
		err := s.tx(ctx, func(tx *sql.Tx) error {
			now := s.now().UTC()
			ms, err := loadMembers(ctx, tx, `m.ledger = 'holding' AND m.hold_until <= ? ORDER BY m.hold_until LIMIT `+strconv.Itoa(holdsBatch), FormatTime(now))
			if err != nil {
				return err
			}
			for _, m := range ms {
				if err := writeMember(ctx, tx, m, promoteHold(m, now), now); err != nil {
					return err
				}
			}
			n = len(ms)
			var next sql.NullString
			if err := tx.QueryRowContext(ctx, `SELECT MIN(hold_until) FROM campaign_members WHERE ledger = 'holding'`).Scan(&next); err != nil {
				return err
			}
			if next.Valid && n < holdsBatch {
				return scheduleHolds(ctx, tx, ParseTime(next.String), now)
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("db: promote holds: %w", err)
		}
		total += n
		if n < holdsBatch {
			return total, nil
		}
	}
}

// campaignLinks answers sqlCampaignLink for every link token the batch
// names, in one query (applyAtOnce): on PostgreSQL a probe per event was a
// round trip per event, the one statement of a job event whose result the
// committer waited for. Mints are made by staff, never by the committer, so
// the answers hold for the whole batch.
func campaignLinks(ctx context.Context, tx *sql.Tx, batch []*item) (map[string]int64, error) {
	out := map[string]int64{}
	var ids []any
	seen := map[string]bool{}
	for _, it := range batch {
		if id := it.d.p.LinkTokenID; id != "" && it.d.perr == nil && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := tx.QueryContext(ctx, replan+strings.Replace(sqlCampaignLink, "mt.link_token_id = ?", "mt.link_token_id IN ("+sqlParams(len(ids))+")", 1), ids...)
	if err != nil {
		return nil, fmt.Errorf("campaign links: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var token string
		var ref int64
		if err := rows.Scan(&token, &ref); err != nil {
			return nil, fmt.Errorf("campaign links: %w", err)
		}
		if out[token] == 0 {
			out[token] = ref
		}
	}
	return out, rows.Err()
}
