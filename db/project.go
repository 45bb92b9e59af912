package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"linkdesk/pinwheel"
)

// Fetch kinds: the account data the worker reads after an event (the
// Fetch values of pinwheel.Events), also the kind of its snapshots.
const (
	FetchIdentity      = pinwheel.JobIdentity
	FetchEmployment    = pinwheel.JobEmployment
	FetchIncome        = pinwheel.JobIncome
	FetchDDAllocations = pinwheel.JobDDAllocations
	// FetchPaystubs and FetchShifts (pay_sync.go) page through what
	// changed; their results are pay items, not snapshots.
	// FetchAccount reads GET /accounts/{id} after a monitoring status
	// update: see rankFetched.
	FetchAccount = pinwheel.DataAccount
)

// FetchKinds lists every fetch kind.
var FetchKinds = pinwheel.FetchedData()

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
	// The account's latest job outcome (of any job), as the job events
	// not older than it set it.
	LastJob, LastJobOutcome, LastJobAt sql.NullString
}

// accountFact is what one event says about an account.
type accountFact struct {
	EndUserID     string // "" when the event names none
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
	// Job and JobOutcome: a job event's outcome ("" for other events),
	// the account's latest unless a newer one is stored.
	Job, JobOutcome string
}

// mergeAccount applies a fact to an account row, insensitive to delivery
// order: first and last seen take the min and max; platform fields fill
// gaps (account.added overwrites them); status and connected move only for
// a fact whose (rank, at) is not older than the current one. It reports
// whether the end user was attached by this fact.
func mergeAccount(cur accountRow, f accountFact) (next accountRow, attached bool) {
	next = cur
	if !next.EndUserRef.Valid && f.EndUserID != "" {
		// Its id is read by the write (refEndUser); only "set" matters here.
		next.EndUserRef = sql.NullInt64{Valid: true}
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
	// Equal times replace, as the account_jobs upsert does (its rows are
	// never newer than this: both move only forward in time).
	if f.Job != "" && f.JobOutcome != "" && (!cur.LastJobAt.Valid || f.At >= cur.LastJobAt.String) {
		next.LastJob = sql.NullString{String: f.Job, Valid: true}
		next.LastJobOutcome = sql.NullString{String: f.JobOutcome, Valid: true}
		next.LastJobAt = sql.NullString{String: f.At, Valid: true}
	}
	return next, attached
}

// onlyActivity reports whether a merge changed nothing but first/last seen.
func onlyActivity(cur, next accountRow) bool {
	cur.FirstSeenAt, cur.LastEventAt = next.FirstSeenAt, next.LastEventAt
	return cur == next
}

// onlyActivityAndJob reports whether a merge changed nothing but first/last
// seen and the latest job.
func onlyActivityAndJob(cur, next accountRow) bool {
	cur.LastJob, cur.LastJobOutcome, cur.LastJobAt = next.LastJob, next.LastJobOutcome, next.LastJobAt
	return onlyActivity(cur, next)
}

// newerStatus reports whether a status fact (rank, at) replaces the current
// one. Equal keys replace, so the later delivery wins a tie.
func newerStatus(rank int, at string, curRank int, curAt string) bool {
	if rank != curRank {
		return rank > curRank
	}
	return at >= curAt
}

// factKind says what an event tells about its account beyond activity.
type factKind int

const (
	// factActivity: only that the account was active.
	factActivity factKind = iota
	// factAdded: account.added, whose platform fields win, with the
	// initial monitoring status.
	factAdded
	// factStatus: a monitoring status update.
	factStatus
)

// factOf builds the account fact of a delivery.
func factOf(d *Delivery, kind factKind, at string) accountFact {
	p := &d.p
	f := accountFact{
		EndUserID: p.EndUserID, At: at,
		PlatformID: p.PlatformID, PlatformName: p.PlatformName, PlatformType: p.PlatformType,
	}
	switch kind {
	case factAdded:
		f.Authoritative = true
		f.LinkTokenID = p.LinkTokenID
		if !p.CreatedAt.IsZero() {
			f.CreatedAt = FormatTime(p.CreatedAt.Time)
		}
		f.Status, f.Connected, f.StatusRank, f.StatusAt = p.MonitoringStatus, p.Connected, rankAdded, at
	case factStatus:
		f.Status, f.Connected, f.StatusRank, f.StatusAt = p.MonitoringStatus, p.Connected, rankUpdated, at
	}
	return f
}

// projection is the outcome of applying one new event. (New end users,
// accounts and tokens are counted per batch: see countNew.)
type projection struct {
	newAccount bool
	statusFrom *string // status counts: the account's status before (nil: unchanged)
	statusTo   string
	jobQueued  bool
	jobOutcome string // for job_outcome_counts ("" for non-job events)
	job        string
}

// A projector applies one new event of a known type inside the item's
// savepoint. Every event type of pinwheel.Events has one (projectorOf).
type projector func(c *committer, ctx context.Context, st *boundStmts, d *Delivery, recv string) (projection, error)

// projectors are the event types whose projection records more than the
// default for their shape: the job default (projectJob) for an event with a
// job, the touch default (projectTouch) for the others.
var projectors = map[string]projector{
	pinwheel.EventAccountAdded:            (*committer).projectAccountAdded,
	pinwheel.EventMonitoringStatusUpdated: (*committer).projectMonitoring,
	pinwheel.EventDDSwitchAdded:           (*committer).projectSwitch,
}

// projectorOf returns the projection of an event type; nil for a name the
// catalogue does not know.
func projectorOf(event string) projector {
	if p, ok := projectors[event]; ok {
		return p
	}
	e, ok := pinwheel.LookupEvent(event)
	switch {
	case !ok:
		return nil
	case payDataOf(event) != "" && e.Job != "":
		return (*committer).projectPayJob
	case payDataOf(event) != "":
		return (*committer).projectPayMilestone
	case e.Job != "":
		return (*committer).projectJob
	}
	return (*committer).projectTouch
}

// project runs the SQL of one new event inside the item's savepoint: an
// event Linkdesk cannot project is stored as it is; any other goes to the
// projector of its type.
func (c *committer) project(ctx context.Context, st *boundStmts, d *Delivery, recv string) (projection, error) {
	p := projectorOf(d.Event)
	if p == nil || d.perr != nil {
		return c.projectNot(ctx, st, d, recv)
	}
	return p(c, ctx, st, d, recv)
}

// projectNot stores an event that is not projected (an unknown name, or a
// payload field of the wrong type): it links to entities that already
// exist, so the event still shows on their timelines, but creates and
// changes nothing.
func (c *committer) projectNot(ctx context.Context, st *boundStmts, d *Delivery, recv string) (projection, error) {
	var refs entityIDs
	if d.perr == nil {
		refs = entityIDs{endUser: d.p.EndUserID, account: d.p.AccountID, linkToken: d.p.LinkTokenID}
		if c.batchWrote(refs.endUser) {
			// Written ahead by the batch (upsertEndUsers), not yet by an
			// event before this one: one event at a time it would not
			// exist yet.
			refs.endUser = ""
		}
	}
	state, perr := "unknown", sql.NullString{}
	if d.perr != nil {
		state, perr = "failed", sql.NullString{String: truncate(d.perr.Error(), 500), Valid: true}
	}
	return projection{}, c.insertEvent(ctx, st, d, recv, refs, state, perr)
}

// projectAccountAdded: account.added creates or completes its account
// (its platform fields win) and records the initial monitoring status. A
// login to an account already known also reads the status from the API
// (see rankFetched).
func (c *committer) projectAccountAdded(ctx context.Context, st *boundStmts, d *Delivery, recv string) (projection, error) {
	e, err := c.entities(ctx, st, d, recv, factAdded, "", "")
	if err == nil {
		err = e.statusHistory(ctx, st, d, rankAdded)
	}
	if err == nil && e.account != "" && !e.newAccount {
		err = c.enqueueFetch(ctx, st, e, d, FetchAccount)
	}
	return e.projection, err
}

// projectMonitoring: account.monitoring_status.updated moves its account's
// status, records it, and reads the status from the API (the catalogue's
// fetch; see rankFetched).
func (c *committer) projectMonitoring(ctx context.Context, st *boundStmts, d *Delivery, recv string) (projection, error) {
	e, err := c.entities(ctx, st, d, recv, factStatus, "", "")
	if err == nil {
		err = e.statusHistory(ctx, st, d, rankUpdated)
	}
	if k := pinwheel.FetchAfter(d.Event, ""); err == nil && e.account != "" && k != "" {
		err = c.enqueueFetch(ctx, st, e, d, k)
	}
	return e.projection, err
}

// projectTouch: a known event that reports no job (sync milestones,
// recommendations, bills, Company Connect, reports) only marks its
// entities as seen.
func (c *committer) projectTouch(ctx context.Context, st *boundStmts, d *Delivery, recv string) (projection, error) {
	e, err := c.entities(ctx, st, d, recv, factActivity, "", "")
	return e.projection, err
}

// projectJob: a job finished. Its outcome becomes the account's latest for
// that job, and a success with data behind it queues the fetch of that
// data.
func (c *committer) projectJob(ctx context.Context, st *boundStmts, d *Delivery, recv string) (projection, error) {
	e, err := c.jobEvent(ctx, st, d, recv)
	return e.projection, err
}

// projectSwitch: direct_deposit_switch.added is a job event that also
// keeps the switch (action, allocation, target) as a history row.
func (c *committer) projectSwitch(ctx context.Context, st *boundStmts, d *Delivery, recv string) (projection, error) {
	e, err := c.jobEvent(ctx, st, d, recv)
	if err != nil || e.account == "" {
		return e.projection, err
	}
	return e.projection, insertSwitch(ctx, st, d, e.entityIDs, e.at)
}

// jobEvent is the projection every job event shares.
func (c *committer) jobEvent(ctx context.Context, st *boundStmts, d *Delivery, recv string) (*projected, error) {
	p := &d.p
	job := d.jobName()
	e, err := c.entities(ctx, st, d, recv, factActivity, job, p.Outcome)
	if err != nil || e.account == "" {
		return e, err
	}
	if p.Outcome != "" {
		e.job, e.jobOutcome = job, p.Outcome
		if _, err := st.jobUpsert.ExecContext(ctx, e.account, job, p.Outcome, e.at, nullStrP(p.ErrorType), nullStrP(p.ErrorCode), nullStr(p.LinkTokenID), d.EventID); err != nil {
			return e, fmt.Errorf("account job: %w", err)
		}
		if p.LinkTokenID != "" {
			if err := trackJobOutcome(ctx, st, c.links, p.LinkTokenID, job, p.Outcome, ParseTime(e.at), d.ReceivedAt.UTC()); err != nil {
				return e, err
			}
		}
	}
	if k := pinwheel.FetchAfter(d.Event, p.Outcome); k != "" {
		return e, c.enqueueFetch(ctx, st, e, d, k)
	}
	return e, nil
}

// enqueueFetch queues the fetch of an account's data (one of the Fetch*
// kinds) after the event, in the ingest transaction (with the batch's
// others, when the batch collects them: ingest_sets.go).
func (c *committer) enqueueFetch(ctx context.Context, st *boundStmts, e *projected, d *Delivery, data string) error {
	args, err := jobEnqueueArgs(newFetchJob(data, d.p.AccountID, d.EventID), d.ReceivedAt)
	switch {
	case err == nil && c.jobs != nil:
		c.jobs.add(args)
	case err == nil:
		_, err = st.jobEnqueue.ExecContext(ctx, args...)
	}
	if err != nil {
		return fmt.Errorf("fetch job: %w", err)
	}
	e.jobQueued = true
	return nil
}

// entityIDs are the Pinwheel ids of the rows an event points at ("" for
// none); the statements find the rows by them.
type entityIDs struct{ endUser, account, linkToken string }

// projected is what entities did: the projection so far and the rows the
// event points at.
type projected struct {
	projection
	entityIDs
	at string
}

// statusHistory records the monitoring status an account event reported.
func (e *projected) statusHistory(ctx context.Context, st *boundStmts, d *Delivery, rank int) error {
	p := &d.p
	if e.account == "" || p.MonitoringStatus == "" {
		return nil
	}
	var conn sql.NullBool
	if p.Connected != nil {
		conn = sql.NullBool{Bool: *p.Connected, Valid: true}
	}
	if _, err := st.historyInsert.ExecContext(ctx, e.account, d.EventID, p.MonitoringStatus, conn, rank, e.at); err != nil {
		return fmt.Errorf("status history: %w", err)
	}
	return nil
}

// entities is the part every projected event shares: upsert its end user,
// merge what it says into its account (fact), upsert its link token
// (counting a job outcome), then insert the event row itself. Rows that
// point at the event come after, in the projector. A delivery whose
// event_id is stored already never gets here (see knownEvents).
func (c *committer) entities(ctx context.Context, st *boundStmts, d *Delivery, recv string, fact factKind, job, outcome string) (*projected, error) {
	e := &projected{at: recv}
	p := &d.p
	if t := d.OccurredAt(); !t.IsZero() {
		e.at = FormatTime(t)
	}
	at := e.at

	if p.EndUserID != "" {
		if c.endUsersDone {
			c.usersSeen[p.EndUserID] = true
		} else {
			if _, err := st.endUserUpsert.ExecContext(ctx, p.EndUserID, at, at); err != nil {
				return e, fmt.Errorf("end user: %w", err)
			}
		}
		e.endUser = p.EndUserID
	}

	if p.AccountID != "" {
		f := factOf(d, fact, at)
		if job != "" && outcome != "" {
			// jobEvent records this outcome in account_jobs too.
			f.Job, f.JobOutcome = job, outcome
		}
		if err := c.mergeAccount(ctx, st, e, f, p.AccountID); err != nil {
			return e, err
		}
		e.account = p.AccountID
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
		_, err := st.linkTokenUpsert.ExecContext(ctx, p.LinkTokenID, nullStr(e.account), nullStr(e.endUser), at, at, succ, errs, pend,
			nullStr(job), nullStr(outcome), lastAt, nullStrP(p.ErrorType), nullStrP(p.ErrorCode))
		if err != nil {
			return e, fmt.Errorf("link token: %w", err)
		}
		e.linkToken = p.LinkTokenID
	}
	return e, c.insertEvent(ctx, st, d, recv, e.entityIDs, "projected", sql.NullString{})
}

// accountState is an account row as a batch left it: read once (locked)
// by prefetchAccounts, then kept up to date by the batch's merges.
type accountState struct {
	row    accountRow
	exists bool
}

// prefetchAccounts reads (and, on PostgreSQL, locks) the accounts a batch
// names, in one query, for applyAtOnce's merges.
func (s *Store) prefetchAccounts(ctx context.Context, tx *sql.Tx, batch []*item) (map[string]*accountState, error) {
	out := map[string]*accountState{}
	var ids []any
	for _, it := range batch {
		if id := it.d.p.AccountID; id != "" && it.d.perr == nil && out[id] == nil {
			out[id] = &accountState{}
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := tx.QueryContext(ctx, replan+strings.Replace(sqlAccountGet, "account_id = ?", "account_id IN ("+sqlParams(len(ids))+") ORDER BY account_id", 1)+s.d.forUpdate, ids...)
	if err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		id, row, err := scanAccountRow(rows)
		if err != nil {
			return nil, fmt.Errorf("accounts: %w", err)
		}
		out[id] = &accountState{row: row, exists: true}
	}
	return out, rows.Err()
}

func scanAccountRow(sc interface{ Scan(...any) error }) (string, accountRow, error) {
	var id string
	var r accountRow
	err := sc.Scan(&id, &r.ID, &r.EndUserRef, &r.PlatformID, &r.PlatformName, &r.PlatformType, &r.LinkTokenID, &r.CreatedAt,
		&r.Connected, &r.Status, &r.StatusAt, &r.StatusRank, &r.FirstSeenAt, &r.LastEventAt, &r.LastJob, &r.LastJobOutcome, &r.LastJobAt)
	return id, r, err
}

// account returns an account's state: from the batch's prefetch, or read
// (locked) now.
func (c *committer) account(ctx context.Context, st *boundStmts, accountID string) (*accountState, error) {
	if a := c.accounts[accountID]; a != nil {
		return a, nil
	}
	_, row, err := scanAccountRow(st.accountGet.QueryRowContext(ctx, accountID))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return &accountState{}, nil
	case err != nil:
		return nil, fmt.Errorf("account: %w", err)
	}
	return &accountState{row: row, exists: true}, nil
}

// mergeAccount applies an account fact to the account's row (created when
// missing) and notes in e what the counters need. The row was read locked
// (on PostgreSQL FOR UPDATE: a job's fetch of the same account waits), and
// only ingestion inserts accounts; when two instances' batches create the
// same one, the second's insert fails and its batch runs again, finding
// the account (ingest.go, "Several writers").
func (c *committer) mergeAccount(ctx context.Context, st *boundStmts, e *projected, fact accountFact, accountID string) error {
	a, err := c.account(ctx, st, accountID)
	if err != nil {
		return err
	}
	cur, exists := a.row, a.exists
	next, attached := mergeAccount(cur, fact)
	attach := sql.NullString{}
	if attached {
		attach = nullStr(fact.EndUserID)
	}
	switch {
	case exists && onlyActivity(cur, next):
		// Most events only move the activity columns: an UPDATE that names
		// no other column leaves the other indexes (and the triggers on
		// them) alone.
		_, err = st.accountTouch.ExecContext(ctx, next.FirstSeenAt, next.LastEventAt, accountID)
	case exists && onlyActivityAndJob(cur, next):
		// A job event: the activity and the latest job, in one write.
		_, err = st.accountTouchJob.ExecContext(ctx, next.FirstSeenAt, next.LastEventAt, next.LastJob, next.LastJobOutcome, next.LastJobAt, accountID)
	case exists:
		_, err = st.accountUpdate.ExecContext(ctx, attach, next.PlatformID, next.PlatformName, next.PlatformType,
			next.LinkTokenID, next.CreatedAt, next.Connected, next.Status, next.StatusAt, next.StatusRank,
			next.FirstSeenAt, next.LastEventAt, next.LastJob, next.LastJobOutcome, next.LastJobAt, accountID)
	default:
		_, err = st.accountInsert.ExecContext(ctx, accountID, attach, next.PlatformID, next.PlatformName, next.PlatformType,
			next.LinkTokenID, next.CreatedAt, next.Connected, next.Status, next.StatusAt, next.StatusRank,
			next.FirstSeenAt, next.LastEventAt, next.LastJob, next.LastJobOutcome, next.LastJobAt)
		e.newAccount = true
	}
	if err != nil {
		return fmt.Errorf("account: %w", err)
	}
	if attached {
		if _, err := st.endUserAddAccount.ExecContext(ctx, fact.EndUserID); err != nil {
			return fmt.Errorf("end user account count: %w", err)
		}
	}
	if !exists || cur.Status != next.Status {
		from := cur.Status.String
		e.statusFrom, e.statusTo = &from, next.Status.String
		if !exists {
			e.statusFrom = nil
		}
	}
	if c.accounts != nil {
		c.accounts[accountID] = &accountState{row: next, exists: true}
	}
	return nil
}

// insertEvent stores the event row, pointing at the rows named by refs.
func (c *committer) insertEvent(ctx context.Context, st *boundStmts, d *Delivery, recv string, refs entityIDs, state string, perr sql.NullString) error {
	var occurred, sent sql.NullString
	if t := d.OccurredAt(); !t.IsZero() {
		occurred = sql.NullString{String: FormatTime(t), Valid: true}
	}
	if !d.SentAt.IsZero() {
		sent = sql.NullString{String: FormatTime(d.SentAt), Valid: true}
	}
	var outcome sql.NullString
	if _, known := pinwheel.LookupEvent(d.Event); known && d.perr == nil {
		outcome = nullStr(d.p.Outcome)
	}
	_, err := st.eventInsert.ExecContext(ctx, d.EventID, d.Event, nullStr(refs.account), nullStr(refs.endUser), nullStr(refs.linkToken),
		outcome, occurred, sent, recv, recv, state, perr, nullStr(d.WebhookID), nullStr(d.APIVersion), nullStr(d.Signature), string(d.Body), d.origin())
	if err != nil {
		return fmt.Errorf("event: %w", err)
	}
	return nil
}

// insertSwitch records a direct_deposit_switch.added as a history row.
func insertSwitch(ctx context.Context, st *boundStmts, d *Delivery, refs entityIDs, at string) error {
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
	_, err := st.switchInsert.ExecContext(ctx, d.EventID, nullStr(refs.account), nullStr(refs.endUser), nullStr(d.p.LinkTokenID), at, d.p.Outcome,
		nullStrP(d.p.ErrorType), nullStrP(d.p.ErrorCode), nullStrP(sp.Action), allocType, allocValue, tName, tType, tLast4, nullStrP(sp.CardName))
	if err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	return nil
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
