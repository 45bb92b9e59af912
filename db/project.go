package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"linkdesk/pinwheel"
)

// eventKind says how an event is projected.
type eventKind int

const (
	// kindUnknown: an event name Linkdesk does not know; stored, shown,
	// never projected.
	kindUnknown eventKind = iota
	// kindAccountAdded: account.added creates or completes an account.
	kindAccountAdded
	// kindMonitoring: account.monitoring_status.updated moves its status.
	kindMonitoring
	// kindJob: a job finished (common job payload with name and outcome).
	kindJob
	// kindTouch: a known event that only marks its entities as seen (sync
	// milestones, recommendations, bills, company connect, reports).
	kindTouch
)

// eventKinds classifies every event name of docs/pinwheel.md#events.
var eventKinds = map[string]eventKind{
	pinwheel.EventAccountAdded:                     kindAccountAdded,
	pinwheel.EventMonitoringStatusUpdated:          kindMonitoring,
	pinwheel.EventIdentityAdded:                    kindJob,
	pinwheel.EventEmploymentAdded:                  kindJob,
	pinwheel.EventIncomeAdded:                      kindJob,
	pinwheel.EventPaystubsAdded:                    kindJob,
	pinwheel.EventPaystubsDocumentsAdded:           kindJob,
	pinwheel.EventShiftsAdded:                      kindJob,
	pinwheel.EventTaxFormsAdded:                    kindJob,
	pinwheel.EventDocumentsAdded:                   kindJob,
	pinwheel.EventDDSwitchAdded:                    kindJob,
	pinwheel.EventDDAllocationsAdded:               kindJob,
	pinwheel.EventDDPaymentAdded:                   kindJob,
	pinwheel.EventBillSwitchAdded:                  kindJob,
	pinwheel.EventBillSwitchCancelled:              kindJob,
	pinwheel.EventCardSwitchAdded:                  kindJob,
	pinwheel.EventPayoutCardsAdded:                 kindJob,
	pinwheel.EventPaycheckViewerAdded:              kindJob,
	pinwheel.EventAdditionalConnectionsRecommended: kindTouch,
	pinwheel.EventVerificationReportsRefreshed:     kindTouch,
	pinwheel.EventEarningsStreamPayoutsRefreshed:   kindTouch,
	pinwheel.EventPaystubsSevenDaysSynced:          kindTouch,
	pinwheel.EventPaystubsThirtyDaysSynced:         kindTouch,
	pinwheel.EventPaystubsNinetyDaysSynced:         kindTouch,
	pinwheel.EventPaystubsFullySynced:              kindTouch,
	pinwheel.EventShiftsSevenDaysSynced:            kindTouch,
	pinwheel.EventShiftsThirtyDaysSynced:           kindTouch,
	pinwheel.EventShiftsNinetyDaysSynced:           kindTouch,
	pinwheel.EventShiftsFullySynced:                kindTouch,
	pinwheel.EventBillAdded:                        kindTouch,
	pinwheel.EventBillUpdated:                      kindTouch,
	pinwheel.EventBillRemoved:                      kindTouch,
	pinwheel.EventBillReminder:                     kindTouch,
	pinwheel.EventCompanyConnectStatusUpdated:      kindTouch,
	pinwheel.EventCompanyConnectEmploymentsAdded:   kindTouch,
	pinwheel.EventCompanyConnectIncomesAdded:       kindTouch,
	pinwheel.EventCompanyConnectCensusAdded:        kindTouch,
}

// Fetch kinds: the account endpoint the worker reads after an event.
const (
	FetchIdentity      = "identity"
	FetchEmployment    = "employment"
	FetchIncome        = "income"
	FetchDDAllocations = "direct_deposit_allocations"
	// FetchAccount reads GET /accounts/{id} after a monitoring status
	// update: see rankFetched.
	FetchAccount = "account"
)

// FetchKinds lists every fetch kind.
var FetchKinds = []string{FetchIdentity, FetchEmployment, FetchIncome, FetchDDAllocations, FetchAccount}

// fetchKind returns the data to fetch after an event, or "". Only
// successful jobs have data behind them; a successful switch changes the
// allocations, so it fetches those.
func fetchKind(event, outcome string) string {
	if outcome != "" && outcome != pinwheel.OutcomeSuccess {
		return ""
	}
	switch event {
	case pinwheel.EventIdentityAdded:
		return FetchIdentity
	case pinwheel.EventEmploymentAdded:
		return FetchEmployment
	case pinwheel.EventIncomeAdded:
		return FetchIncome
	case pinwheel.EventDDAllocationsAdded:
		return FetchDDAllocations
	case pinwheel.EventDDSwitchAdded:
		if outcome == pinwheel.OutcomeSuccess {
			return FetchDDAllocations
		}
	}
	return ""
}

// Status ranks order monitoring-status facts of different kinds: every
// account.monitoring_status.updated describes a change after the account
// was created, so it outranks the initial status in account.added whatever
// the clocks say (X-Timestamp has only whole seconds).
//
// A status read from the API (FetchAccount) outranks both: a monitoring
// update carries no time of its own, so its order key is the X-Timestamp of
// the attempt that got through, and a delivery that was held back or retried
// would otherwise overwrite a newer status (Pinwheel promises no order,
// docs/pinwheel.md#webhook-ordering). Every monitoring update therefore
// queues an account fetch, and the status it reads wins; later updates
// queue their own.
const (
	rankNone    = 0
	rankAdded   = 1
	rankUpdated = 2
	rankFetched = 3
)

// accountRow is the mutable state of an accounts row.
type accountRow struct {
	ID           int64
	EndUserRef   sql.NullInt64
	PlatformID   sql.NullString
	PlatformName sql.NullString
	PlatformType sql.NullString
	LinkTokenID  sql.NullString
	CreatedAt    sql.NullString
	Connected    sql.NullBool
	Status       sql.NullString
	StatusAt     sql.NullString
	StatusRank   int
	FirstSeenAt  string
	LastEventAt  string
}

// accountFact is what one event says about an account.
type accountFact struct {
	EndUserRef    sql.NullInt64
	At            string // the event's time (occurred, else received)
	Authoritative bool   // account.added: its platform fields win
	PlatformID    string
	PlatformName  string
	PlatformType  string
	LinkTokenID   string
	CreatedAt     string
	Status        string // "" when the event reports none
	Connected     *bool
	StatusRank    int
	StatusAt      string
}

// mergeAccount applies a fact to an account row, insensitive to delivery
// order: first and last seen take the min and max; platform fields fill
// gaps (account.added overwrites them); status and connected move only for
// a fact whose (rank, at) is not older than the current one. It reports
// whether the end user was attached by this fact.
func mergeAccount(cur accountRow, f accountFact) (next accountRow, attached bool) {
	next = cur
	if !next.EndUserRef.Valid && f.EndUserRef.Valid {
		next.EndUserRef = f.EndUserRef
		attached = true
	}
	fill := func(dst *sql.NullString, v string) {
		if v != "" && (!dst.Valid || f.Authoritative) {
			*dst = sql.NullString{String: v, Valid: true}
		}
	}
	fill(&next.PlatformID, f.PlatformID)
	fill(&next.PlatformName, f.PlatformName)
	fill(&next.PlatformType, f.PlatformType)
	fill(&next.LinkTokenID, f.LinkTokenID)
	fill(&next.CreatedAt, f.CreatedAt)
	if next.FirstSeenAt == "" || f.At < next.FirstSeenAt {
		next.FirstSeenAt = f.At
	}
	if f.At > next.LastEventAt {
		next.LastEventAt = f.At
	}
	if f.Status != "" && newerStatus(f.StatusRank, f.StatusAt, cur.StatusRank, cur.StatusAt.String) {
		next.Status = sql.NullString{String: f.Status, Valid: true}
		next.StatusAt = sql.NullString{String: f.StatusAt, Valid: true}
		next.StatusRank = f.StatusRank
		if f.Connected != nil {
			next.Connected = sql.NullBool{Bool: *f.Connected, Valid: true}
		}
	} else if f.Connected != nil && !next.Connected.Valid {
		next.Connected = sql.NullBool{Bool: *f.Connected, Valid: true}
	}
	return next, attached
}

// onlyActivity reports whether a merge changed nothing but first/last seen.
func onlyActivity(cur, next accountRow) bool {
	cur.FirstSeenAt, cur.LastEventAt = next.FirstSeenAt, next.LastEventAt
	return cur == next
}

// newerStatus reports whether a status fact (rank, at) replaces the current
// one. Equal keys replace, so the later delivery wins a tie.
func newerStatus(rank int, at string, curRank int, curAt string) bool {
	if rank != curRank {
		return rank > curRank
	}
	return at >= curAt
}

// factOf builds the account fact of a delivery.
func factOf(d *Delivery, kind eventKind, at string, endUserRef sql.NullInt64) accountFact {
	p := &d.p
	f := accountFact{
		EndUserRef: endUserRef, At: at,
		PlatformID: p.PlatformID, PlatformName: p.PlatformName, PlatformType: p.PlatformType,
	}
	switch kind {
	case kindAccountAdded:
		f.Authoritative = true
		f.LinkTokenID = p.LinkTokenID
		if !p.CreatedAt.IsZero() {
			f.CreatedAt = FormatTime(p.CreatedAt.Time)
		}
		f.Status, f.Connected, f.StatusRank, f.StatusAt = p.MonitoringStatus, p.Connected, rankAdded, at
	case kindMonitoring:
		f.Status, f.Connected, f.StatusRank, f.StatusAt = p.MonitoringStatus, p.Connected, rankUpdated, at
	}
	return f
}

// errDuplicate ends an item's savepoint when its event_id is already stored.
var errDuplicate = errors.New("db: duplicate event")

// projection is the outcome of applying one new event.
type projection struct {
	eventRef   int64
	newEndUser bool
	newAccount bool
	newToken   bool
	statusFrom *string // status counts: the account's status before (nil: unchanged)
	statusTo   string
	jobQueued  bool
	jobOutcome string // for job_outcome_counts ("" for non-job events)
	job        string
}

// project runs the SQL of one new event inside the item's savepoint: entity
// upserts first (the event row needs their ids), then the event row itself
// (ON CONFLICT DO NOTHING: no row back means a duplicate, and the caller
// rolls the savepoint back), then the rows that point at the event.
func (c *committer) project(ctx context.Context, st *boundStmts, d *Delivery, recv string) (projection, error) {
	var pr projection
	kind, known := eventKinds[d.Event]
	p := &d.p
	at := recv
	if t := d.OccurredAt(); !t.IsZero() {
		at = FormatTime(t)
	}
	var euRef, acRef, ltRef sql.NullInt64

	if !known || d.perr != nil {
		// Not projected: link to entities that already exist, so the event
		// still shows on their timelines, but create and change nothing.
		if d.perr == nil {
			euRef = lookupRef(ctx, st.endUserRef, p.EndUserID)
			acRef = lookupRef(ctx, st.accountRef, p.AccountID)
			ltRef = lookupRef(ctx, st.linkTokenRef, p.LinkTokenID)
		}
		state, perr := "unknown", sql.NullString{}
		if d.perr != nil {
			state, perr = "failed", sql.NullString{String: truncate(d.perr.Error(), 500), Valid: true}
		}
		ref, err := c.insertEvent(ctx, st, d, recv, euRef, acRef, ltRef, state, perr)
		pr.eventRef = ref
		return pr, err
	}

	if p.EndUserID != "" {
		var n int64
		if err := st.endUserUpsert.QueryRowContext(ctx, p.EndUserID, at, at).Scan(&euRef.Int64, &n); err != nil {
			return pr, fmt.Errorf("end user: %w", err)
		}
		euRef.Valid, pr.newEndUser = true, n == 1
	}

	if p.AccountID != "" {
		fact := factOf(d, kind, at, euRef)
		cur := accountRow{}
		err := st.accountGet.QueryRowContext(ctx, p.AccountID).Scan(&cur.ID, &cur.EndUserRef, &cur.PlatformID, &cur.PlatformName,
			&cur.PlatformType, &cur.LinkTokenID, &cur.CreatedAt, &cur.Connected, &cur.Status, &cur.StatusAt, &cur.StatusRank,
			&cur.FirstSeenAt, &cur.LastEventAt)
		exists := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return pr, fmt.Errorf("account: %w", err)
		}
		next, attached := mergeAccount(cur, fact)
		switch {
		case exists && onlyActivity(cur, next):
			// Most events only move the activity columns: an UPDATE that
			// names no other column leaves the other indexes (and the
			// triggers on them) alone.
			_, err = st.accountTouch.ExecContext(ctx, next.FirstSeenAt, next.LastEventAt, cur.ID)
			acRef = sql.NullInt64{Int64: cur.ID, Valid: true}
		case exists:
			_, err = st.accountUpdate.ExecContext(ctx, next.EndUserRef, next.PlatformID, next.PlatformName, next.PlatformType,
				next.LinkTokenID, next.CreatedAt, next.Connected, next.Status, next.StatusAt, next.StatusRank,
				next.FirstSeenAt, next.LastEventAt, cur.ID)
			acRef = sql.NullInt64{Int64: cur.ID, Valid: true}
		default:
			err = st.accountInsert.QueryRowContext(ctx, p.AccountID, next.EndUserRef, next.PlatformID, next.PlatformName, next.PlatformType,
				next.LinkTokenID, next.CreatedAt, next.Connected, next.Status, next.StatusAt, next.StatusRank,
				next.FirstSeenAt, next.LastEventAt).Scan(&acRef.Int64)
			acRef.Valid, pr.newAccount = true, true
		}
		if err != nil {
			return pr, fmt.Errorf("account: %w", err)
		}
		if attached {
			if _, err := st.endUserAddAccount.ExecContext(ctx, next.EndUserRef.Int64); err != nil {
				return pr, fmt.Errorf("end user account count: %w", err)
			}
		}
		if !exists || cur.Status != next.Status {
			from := cur.Status.String
			pr.statusFrom, pr.statusTo = &from, next.Status.String
			if !exists {
				pr.statusFrom = nil
			}
		}
	}

	var job, outcome string
	if kind == kindJob {
		job, outcome = d.jobName(), p.Outcome
	}
	if p.LinkTokenID != "" {
		var succ, errs, pend int
		switch outcome {
		case pinwheel.OutcomeSuccess:
			succ = 1
		case pinwheel.OutcomeError:
			errs = 1
		case pinwheel.OutcomePending:
			pend = 1
		}
		var lastAt sql.NullString
		if outcome != "" {
			lastAt = sql.NullString{String: at, Valid: true}
		}
		var n int64
		err := st.linkTokenUpsert.QueryRowContext(ctx, p.LinkTokenID, acRef, euRef, at, at, succ, errs, pend,
			nullStr(job), nullStr(outcome), lastAt, nullStrP(p.ErrorType), nullStrP(p.ErrorCode)).Scan(&ltRef.Int64, &n)
		if err != nil {
			return pr, fmt.Errorf("link token: %w", err)
		}
		ltRef.Valid, pr.newToken = true, n == 1
	}

	ref, err := c.insertEvent(ctx, st, d, recv, euRef, acRef, ltRef, "projected", sql.NullString{})
	if err != nil {
		return pr, err
	}
	pr.eventRef = ref

	if !acRef.Valid {
		return pr, nil
	}
	switch kind {
	case kindAccountAdded, kindMonitoring:
		if p.MonitoringStatus != "" {
			rank := rankAdded
			if kind == kindMonitoring {
				rank = rankUpdated
			}
			var conn sql.NullBool
			if p.Connected != nil {
				conn = sql.NullBool{Bool: *p.Connected, Valid: true}
			}
			if _, err := st.historyInsert.ExecContext(ctx, acRef, ref, p.MonitoringStatus, conn, rank, at); err != nil {
				return pr, fmt.Errorf("status history: %w", err)
			}
		}
		// Read the status from the API after an update, and after a login
		// to an account already known (see rankFetched).
		if kind == kindMonitoring || !pr.newAccount {
			args, err := jobEnqueueArgs(newFetchJob(FetchAccount, p.AccountID, d.EventID), d.ReceivedAt)
			if err == nil {
				var id int64
				err = st.jobEnqueue.QueryRowContext(ctx, args...).Scan(&id)
			}
			if err != nil {
				return pr, fmt.Errorf("fetch job: %w", err)
			}
			pr.jobQueued = true
		}
	case kindJob:
		if outcome != "" {
			pr.job, pr.jobOutcome = job, outcome
			if _, err := st.jobUpsert.ExecContext(ctx, acRef, job, outcome, at, nullStrP(p.ErrorType), nullStrP(p.ErrorCode), nullStr(p.LinkTokenID), ref); err != nil {
				return pr, fmt.Errorf("account job: %w", err)
			}
		}
		if d.Event == pinwheel.EventDDSwitchAdded {
			if err := insertSwitch(ctx, st, d, ref, acRef, euRef, at); err != nil {
				return pr, err
			}
		}
		if k := fetchKind(d.Event, outcome); k != "" {
			args, err := jobEnqueueArgs(newFetchJob(k, p.AccountID, d.EventID), d.ReceivedAt)
			if err == nil {
				var id int64
				err = st.jobEnqueue.QueryRowContext(ctx, args...).Scan(&id)
			}
			if err != nil {
				return pr, fmt.Errorf("fetch job: %w", err)
			}
			pr.jobQueued = true
		}
	}
	return pr, nil
}

// insertEvent stores the event row; errDuplicate when event_id is known.
func (c *committer) insertEvent(ctx context.Context, st *boundStmts, d *Delivery, recv string, eu, ac, lt sql.NullInt64, state string, perr sql.NullString) (int64, error) {
	var occurred, sent sql.NullString
	if t := d.OccurredAt(); !t.IsZero() {
		occurred = sql.NullString{String: FormatTime(t), Valid: true}
	}
	if !d.SentAt.IsZero() {
		sent = sql.NullString{String: FormatTime(d.SentAt), Valid: true}
	}
	var outcome sql.NullString
	if _, ok := eventKinds[d.Event]; ok && d.perr == nil {
		outcome = nullStr(d.p.Outcome)
	}
	var id int64
	err := st.eventInsert.QueryRowContext(ctx, d.EventID, d.Event, ac, eu, lt, outcome, occurred, sent, recv, recv,
		state, perr, nullStr(d.WebhookID), nullStr(d.APIVersion), nullStr(d.Signature), string(d.Body)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errDuplicate
	}
	if err != nil {
		return 0, fmt.Errorf("event: %w", err)
	}
	return id, nil
}

// insertSwitch records a direct_deposit_switch.added as a history row.
func insertSwitch(ctx context.Context, st *boundStmts, d *Delivery, ref int64, ac, eu sql.NullInt64, at string) error {
	var sp pinwheel.SwitchParams
	if len(d.p.Params) > 0 {
		// A params object of an unexpected shape still records the switch,
		// without its allocation.
		_ = json.Unmarshal(d.p.Params, &sp)
	}
	var allocType, tName, tType, tLast4 sql.NullString
	var allocValue sql.NullFloat64
	if a := sp.Allocation; a != nil {
		allocType = nullStr(a.Type)
		if a.Value != nil {
			allocValue = sql.NullFloat64{Float64: *a.Value, Valid: true}
		}
		if t := a.Target; t != nil {
			tName, tType, tLast4 = nullStr(t.AccountName), nullStr(t.AccountType), nullStrP(t.LastFourAccountNumber)
		}
	}
	_, err := st.switchInsert.ExecContext(ctx, ref, ac, eu, nullStr(d.p.LinkTokenID), at, d.p.Outcome,
		nullStrP(d.p.ErrorType), nullStrP(d.p.ErrorCode), nullStrP(sp.Action), allocType, allocValue, tName, tType, tLast4, nullStrP(sp.CardName))
	if err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	return nil
}

// lookupRef returns the id of an existing row by its Pinwheel id.
func lookupRef(ctx context.Context, stmt *sql.Stmt, key string) sql.NullInt64 {
	var ref sql.NullInt64
	if key == "" {
		return ref
	}
	if err := stmt.QueryRowContext(ctx, key).Scan(&ref.Int64); err == nil {
		ref.Valid = true
	}
	return ref
}

func nullStr(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func nullStrP(s *string) sql.NullString {
	if s == nil {
		return sql.NullString{}
	}
	return nullStr(*s)
}

// hourOf is the counter bucket of a time: the hour, in TimeFormat.
func hourOf(t time.Time) string { return FormatTime(t.UTC().Truncate(time.Hour)) }
