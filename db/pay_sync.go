package db

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"linkdesk/pinwheel"
)

// Paystubs and shifts: how Linkdesk keeps an account's pay data in step
// with Pinwheel, whatever order webhooks arrive in and however often.
//
// The ingest transaction records what a webhook says (payDelta): the ids a
// paystubs.added or shifts.added announced as added (pay_pending, unless
// already stored or deleted) or deleted (pay_deletions, and the stored rows
// marked deleted), and a request to fetch in pay_sync (the pay dates the
// event named, or the whole history once a *_synced milestone says the
// first sync ended); the catalogue's Fetch queues the fetch job in the same
// transaction. The job (worker.Fetches) reads the plan (PayFetchPlan), pages
// through what changed and returns PayItemsFetched, stored in the
// transaction that finishes it: each item once per content, announced ids
// resolved, the request cleared only if no newer one came in meanwhile.
// A redelivered event is stored once and changes nothing; events in any
// order converge, because a deletion wins over any add and a stored id is
// never announced again.

// Fetch kinds of pay data (the catalogue's Fetch values; also pay_items.kind).
const (
	FetchPaystubs = pinwheel.JobPaystubs
	FetchShifts   = pinwheel.JobShifts
)

// Limits of pay data, so that a hostile or broken answer costs in proportion.
const (
	// maxPayItemBytes is the largest item body kept; a larger one is
	// skipped and counted.
	maxPayItemBytes = 256 << 10
	// maxPendingPlan is how many announced ids one plan names; beyond it
	// the fetch reads the whole history instead.
	maxPendingPlan = 1000
	// maxRefsPerEvent bounds the added and deleted ids taken from one event.
	maxRefsPerEvent = 5000
)

// payDataOf is the pay data kind an event fetches (paystubs or shifts), or
// "" for any other event.
func payDataOf(event string) string {
	e, ok := pinwheel.LookupEvent(event)
	if !ok || (e.Fetch != FetchPaystubs && e.Fetch != FetchShifts) {
		return ""
	}
	return e.Fetch
}

// milestoneColumn is the pay_sync column of a *_synced event.
func milestoneColumn(event string) string {
	for _, m := range []string{"seven_days", "thirty_days", "ninety_days", "fully"} {
		if strings.HasSuffix(event, "."+m+"_synced") {
			return m + "_synced_at"
		}
	}
	return ""
}

// The SQL of the pay projection, prepared with the other ingest statements
// (which name rows by Pinwheel's ids: see stmts.go).
const (
	sqlPaySyncRequest = `INSERT INTO pay_sync (account_ref, kind, version, want_from, want_to, status, status_at, updated_at)
VALUES (` + refAccount + `, ?, 1, ?, ?, ?, ?, ?)
ON CONFLICT (account_ref, kind) DO UPDATE SET version = pay_sync.version + 1,
  want_from = CASE WHEN excluded.want_from IS NOT NULL AND (pay_sync.want_from IS NULL OR excluded.want_from < pay_sync.want_from) THEN excluded.want_from ELSE pay_sync.want_from END,
  want_to = CASE WHEN excluded.want_to IS NOT NULL AND (pay_sync.want_to IS NULL OR excluded.want_to > pay_sync.want_to) THEN excluded.want_to ELSE pay_sync.want_to END,
  status = CASE WHEN excluded.status IS NOT NULL AND (pay_sync.status_at IS NULL OR excluded.status_at >= pay_sync.status_at) THEN excluded.status ELSE pay_sync.status END,
  status_at = CASE WHEN excluded.status IS NOT NULL AND (pay_sync.status_at IS NULL OR excluded.status_at >= pay_sync.status_at) THEN excluded.status_at ELSE pay_sync.status_at END,
  updated_at = excluded.updated_at`

	// sqlPaySyncMilestone records a *_synced event: the latest time of each
	// milestone, and a request for the whole history until one was read.
	sqlPaySyncMilestone = `INSERT INTO pay_sync (account_ref, kind, version, want_full, seven_days_synced_at, thirty_days_synced_at,
  ninety_days_synced_at, fully_synced_at, updated_at)
VALUES (` + refAccount + `, ?, 1, 1, ?, ?, ?, ?, ?)
ON CONFLICT (account_ref, kind) DO UPDATE SET version = pay_sync.version + 1,
  want_full = CASE WHEN pay_sync.full_fetched_at IS NULL THEN 1 ELSE pay_sync.want_full END,
  seven_days_synced_at = CASE WHEN excluded.seven_days_synced_at > COALESCE(pay_sync.seven_days_synced_at, '') THEN excluded.seven_days_synced_at ELSE pay_sync.seven_days_synced_at END,
  thirty_days_synced_at = CASE WHEN excluded.thirty_days_synced_at > COALESCE(pay_sync.thirty_days_synced_at, '') THEN excluded.thirty_days_synced_at ELSE pay_sync.thirty_days_synced_at END,
  ninety_days_synced_at = CASE WHEN excluded.ninety_days_synced_at > COALESCE(pay_sync.ninety_days_synced_at, '') THEN excluded.ninety_days_synced_at ELSE pay_sync.ninety_days_synced_at END,
  fully_synced_at = CASE WHEN excluded.fully_synced_at > COALESCE(pay_sync.fully_synced_at, '') THEN excluded.fully_synced_at ELSE pay_sync.fully_synced_at END,
  updated_at = excluded.updated_at`

	// sqlPayPendingInsert announces the ids of a JSON array (one
	// statement per event, whatever the count), except those stored or
	// deleted already (then the webhook came after the fetch or the
	// deletion). %s is the dialect's jsonStrings.
	sqlPayPendingInsert = `INSERT INTO pay_pending (account_ref, kind, item_id, event_ref, announced_at)
SELECT a.id, ?, j.value, e.id, ? FROM accounts a, events e, %s
WHERE a.account_id = ? AND e.event_id = ?
  AND NOT EXISTS (SELECT 1 FROM pay_deletions d WHERE d.account_ref = a.id AND d.kind = ? AND d.item_id = j.value)
  AND NOT EXISTS (SELECT 1 FROM pay_items i WHERE i.account_ref = a.id AND i.kind = ? AND i.item_id = j.value)
ON CONFLICT (account_ref, kind, item_id) DO NOTHING`

	sqlPayDeletionInsert = `INSERT INTO pay_deletions (account_ref, kind, item_id, event_ref, deleted_at)
VALUES (` + refAccount + `, ?, ?, ` + refEvent + `, ?)
ON CONFLICT (account_ref, kind, item_id) DO NOTHING`

	sqlPayItemDelete = `UPDATE pay_items SET deleted_at = ?, deleted_event_ref = ` + refEvent + `
WHERE account_ref = ` + refAccount + ` AND kind = ? AND item_id = ? AND deleted_at IS NULL`

	sqlPayPendingDrop = `DELETE FROM pay_pending WHERE account_ref = ` + refAccount + ` AND kind = ? AND item_id = ?`
)

// projectPayJob: paystubs.added or shifts.added is a job event whose
// success also carries the ids added and deleted: recorded here, with the
// request to fetch (the job default queues the fetch itself).
func (c *committer) projectPayJob(ctx context.Context, st *boundStmts, d *Delivery, recv string) (projection, error) {
	e, err := c.jobEvent(ctx, st, d, recv)
	if err != nil || e.account == "" || d.p.Outcome != pinwheel.OutcomeSuccess {
		return e.projection, err
	}
	return e.projection, e.payDelta(ctx, st, d, payDataOf(d.Event), recv)
}

// projectPayMilestone: a *_synced event marks how far the sync got and
// asks for the whole history if it was never read, then queues the fetch.
func (c *committer) projectPayMilestone(ctx context.Context, st *boundStmts, d *Delivery, recv string) (projection, error) {
	e, err := c.entities(ctx, st, d, recv, factActivity, "", "")
	if err != nil || e.account == "" {
		return e.projection, err
	}
	kind := payDataOf(d.Event)
	marks := map[string]sql.NullString{}
	if col := milestoneColumn(d.Event); col != "" {
		marks[col] = sql.NullString{String: e.at, Valid: true}
	}
	if _, err := st.paySyncMilestone.ExecContext(ctx, e.account, kind, marks["seven_days_synced_at"], marks["thirty_days_synced_at"],
		marks["ninety_days_synced_at"], marks["fully_synced_at"], recv); err != nil {
		return e.projection, fmt.Errorf("pay sync milestone: %w", err)
	}
	return e.projection, c.enqueueFetch(ctx, st, e, d, kind)
}

// payDelta records a successful paystubs or shifts job's added and deleted
// ids and its request to fetch.
func (e *projected) payDelta(ctx context.Context, st *boundStmts, d *Delivery, kind, recv string) error {
	for _, r := range capRefs(d.p.Deleted) {
		if _, err := st.payDeletionInsert.ExecContext(ctx, e.account, kind, r.ID, d.EventID, e.at); err != nil {
			return fmt.Errorf("pay deletion: %w", err)
		}
		if _, err := st.payItemDelete.ExecContext(ctx, e.at, d.EventID, e.account, kind, r.ID); err != nil {
			return fmt.Errorf("pay deletion: %w", err)
		}
		if _, err := st.payPendingDrop.ExecContext(ctx, e.account, kind, r.ID); err != nil {
			return fmt.Errorf("pay deletion: %w", err)
		}
	}
	if added := capRefs(d.p.Added); len(added) > 0 {
		ids := make([]string, len(added))
		for i, r := range added {
			ids[i] = r.ID
		}
		list, err := json.Marshal(ids)
		if err == nil {
			_, err = st.payPendingInsert.ExecContext(ctx, kind, e.at, string(list), e.account, d.EventID, kind, kind)
		}
		if err != nil {
			return fmt.Errorf("pay announcement: %w", err)
		}
	}
	var from, to, status sql.NullString
	if sp := d.sync; sp != nil {
		if sp.FromPayDate != nil && isDate(*sp.FromPayDate) && sp.ToPayDate != nil && isDate(*sp.ToPayDate) && *sp.FromPayDate <= *sp.ToPayDate {
			from, to = nullStr(*sp.FromPayDate), nullStr(*sp.ToPayDate)
		}
		status = nullStrP(sp.SyncStatus)
	}
	if _, err := st.paySyncRequest.ExecContext(ctx, e.account, kind, from, to, status, e.at, recv); err != nil {
		return fmt.Errorf("pay sync: %w", err)
	}
	return nil
}

func capRefs(refs []pinwheel.PaystubRef) []pinwheel.PaystubRef {
	if len(refs) > maxRefsPerEvent {
		return refs[:maxRefsPerEvent]
	}
	return refs
}

// isDate reports whether s is a YYYY-MM-DD date.
func isDate(s string) bool {
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}

// PayFetchPlan is what a fetch of an account's paystubs or shifts must
// read: the whole history (Full), the pay dates a webhook named (From, To),
// and the ids announced but not stored yet (Pending). Version is the
// request count the plan answers.
type PayFetchPlan struct {
	AccountID string
	Kind      string
	Version   int64
	Full      bool
	From, To  string
	Pending   []string
}

// Empty reports whether the plan asks for nothing (every request was
// already answered by an earlier fetch).
func (p PayFetchPlan) Empty() bool { return !p.Full && p.From == "" && len(p.Pending) == 0 }

// PayFetchPlan reads what the next fetch of an account's paystubs or shifts
// must read, or ErrNotFound for an unknown account.
func (s *Store) PayFetchPlan(ctx context.Context, accountID, kind string) (PayFetchPlan, error) {
	p := PayFetchPlan{AccountID: accountID, Kind: kind}
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		var ref int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM accounts WHERE account_id = ?`, accountID).Scan(&ref); err != nil {
			return notFound(err)
		}
		var full int
		err := tx.QueryRowContext(ctx, `SELECT version, want_full, COALESCE(want_from, ''), COALESCE(want_to, '') FROM pay_sync
WHERE account_ref = ? AND kind = ?`, ref, kind).Scan(&p.Version, &full, &p.From, &p.To)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		p.Full = full == 1
		rows, err := tx.QueryContext(ctx, `SELECT item_id FROM pay_pending WHERE account_ref = ? AND kind = ? ORDER BY announced_at, item_id LIMIT ?`,
			ref, kind, maxPendingPlan+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			p.Pending = append(p.Pending, id)
		}
		return rows.Err()
	})
	if err != nil {
		return PayFetchPlan{}, fmt.Errorf("db: pay fetch plan of %s: %w", accountID, err)
	}
	if len(p.Pending) > maxPendingPlan {
		p.Pending, p.Full = nil, true
	}
	if p.Full {
		p.From, p.To = "", ""
	}
	return p, nil
}

// PayCoverage says which pay dates a fetch read completely: every one
// (All), those from From to To (To "" meaning up to the newest), or none
// (the items it brought were fetched one by one).
type PayCoverage struct {
	All      bool
	From, To string
}

func (c PayCoverage) covers(date string) bool {
	return c.All || c.From != "" && date >= c.From && (c.To == "" || date <= c.To)
}

// PayItemsFetched is the result of a paystubs or shifts fetch: the items
// Pinwheel returned (as sent), what range that covers, and the announced
// ids it did not return. It is stored in the transaction that finishes the
// job.
type PayItemsFetched struct {
	Plan        PayFetchPlan
	Items       []json.RawMessage
	Covered     PayCoverage
	Missing     []string
	RefreshedAt time.Time
}

func (e PayItemsFetched) applyJob(ctx context.Context, s *Store, tx *sql.Tx, j Job) error {
	f, ok := ReadFetchJob(j)
	if !ok || (f.Data != FetchPaystubs && f.Data != FetchShifts) {
		return fmt.Errorf("db: %s is not a pay data fetch", j.Kind)
	}
	kind := f.Data
	// A fetch that began before its end user was erased stores nothing.
	if erased, err := erasedSince(ctx, tx, f.AccountID, FormatTime(j.CreatedAt)); err != nil || erased {
		return err
	}
	// The account's row is locked first: an ingest batch holds it while it
	// records deletions and announcements for the account, so the two
	// never interleave (a deletion committed meanwhile is seen below).
	var ref int64
	if err := tx.QueryRowContext(ctx, `SELECT id FROM accounts WHERE account_id = ?`+s.d.forUpdate, f.AccountID).Scan(&ref); err != nil {
		return fmt.Errorf("pay items of %s: %w", f.AccountID, notFound(err))
	}
	now := FormatTime(s.now())
	var refreshed sql.NullString
	if !e.RefreshedAt.IsZero() {
		refreshed = sql.NullString{String: FormatTime(e.RefreshedAt), Valid: true}
	}

	// Read every item first: the versions of one id in this fetch are all
	// current (two of them are a duplicate the report flags).
	items := make([]payItem, 0, len(e.Items))
	skipped := 0
	for _, raw := range e.Items {
		it, err := readPayItem(kind, raw)
		if err != nil {
			skipped++
			continue
		}
		items = append(items, it)
	}
	shas := map[string][]string{}
	for _, it := range items {
		shas[it.ID] = append(shas[it.ID], it.SHA)
	}

	stored := 0
	for _, it := range items {
		var deleted int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pay_deletions WHERE account_ref = ? AND kind = ? AND item_id = ?`,
			ref, kind, it.ID).Scan(&deleted); err != nil {
			return fmt.Errorf("pay items: %w", err)
		}
		if deleted > 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO pay_items (account_ref, kind, item_id, pay_date, period_start, period_end, currency,
  gross, net, taxes, deductions, hours, overtime_hours, overtime_amount, rate, employer_name, document_id, body_sha256, body,
  lines, first_seen_at, last_seen_at, refreshed_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (account_ref, kind, item_id, body_sha256) DO UPDATE SET last_seen_at = excluded.last_seen_at,
  refreshed_at = COALESCE(excluded.refreshed_at, pay_items.refreshed_at), superseded_at = NULL`,
			ref, kind, it.ID, it.PayDate, nullStr(it.PeriodStart), nullStr(it.PeriodEnd), it.Currency,
			nullInt(it.Gross), nullInt(it.Net), nullInt(it.Taxes), nullInt(it.Deductions), nullFloat(it.Hours), nullFloat(it.OTHours),
			nullInt(it.OTAmount), nullInt(it.Rate), nullStr(it.Employer), nullStr(it.DocumentID), it.SHA, string(it.Body),
			string(it.Lines), now, now, refreshed); err != nil {
			return fmt.Errorf("pay items: store %s: %w", it.ID, err)
		}
		stored++
		// Other versions of this id are superseded, where this fetch read
		// their pay dates completely (or they carry this one's pay date).
		rows, err := tx.QueryContext(ctx, `SELECT id, pay_date, body_sha256 FROM pay_items
WHERE account_ref = ? AND kind = ? AND item_id = ? AND superseded_at IS NULL`, ref, kind, it.ID)
		if err != nil {
			return fmt.Errorf("pay items: %w", err)
		}
		var stale []int64
		for rows.Next() {
			var id int64
			var date, sha string
			if err := rows.Scan(&id, &date, &sha); err != nil {
				rows.Close()
				return fmt.Errorf("pay items: %w", err)
			}
			if !slices.Contains(shas[it.ID], sha) && (date == it.PayDate || e.Covered.covers(date)) {
				stale = append(stale, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("pay items: %w", err)
		}
		for _, id := range stale {
			if _, err := tx.ExecContext(ctx, `UPDATE pay_items SET superseded_at = ? WHERE id = ?`, now, id); err != nil {
				return fmt.Errorf("pay items: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM pay_pending WHERE account_ref = ? AND kind = ? AND item_id = ?`, ref, kind, it.ID); err != nil {
			return fmt.Errorf("pay items: %w", err)
		}
	}
	for _, id := range e.Missing {
		if _, err := tx.ExecContext(ctx, `UPDATE pay_pending SET missing_since = COALESCE(missing_since, ?)
WHERE account_ref = ? AND kind = ? AND item_id = ?`, now, ref, kind, id); err != nil {
			return fmt.Errorf("pay items: %w", err)
		}
	}
	// The request is answered, unless a newer one came in while the fetch
	// ran: then it stays for the fetch that newer event queued.
	v := e.Plan.Version
	_, err := tx.ExecContext(ctx, `INSERT INTO pay_sync (account_ref, kind, fetched_version, last_fetched_at, last_refreshed_at, last_fetch_items,
  last_fetch_skipped, full_fetched_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, CASE WHEN ? THEN ? END, ?)
ON CONFLICT (account_ref, kind) DO UPDATE SET
  fetched_version = CASE WHEN excluded.fetched_version > pay_sync.fetched_version THEN excluded.fetched_version ELSE pay_sync.fetched_version END,
  last_fetched_at = excluded.last_fetched_at,
  last_refreshed_at = COALESCE(excluded.last_refreshed_at, pay_sync.last_refreshed_at),
  last_fetch_items = excluded.last_fetch_items,
  last_fetch_skipped = excluded.last_fetch_skipped,
  full_fetched_at = COALESCE(excluded.full_fetched_at, pay_sync.full_fetched_at),
  want_full = CASE WHEN pay_sync.version = ? THEN 0 ELSE pay_sync.want_full END,
  want_from = CASE WHEN pay_sync.version = ? THEN NULL ELSE pay_sync.want_from END,
  want_to = CASE WHEN pay_sync.version = ? THEN NULL ELSE pay_sync.want_to END,
  updated_at = excluded.updated_at`,
		ref, kind, v, now, refreshed, stored, skipped, e.Covered.All && e.Plan.Full, now, now, v, v, v)
	if err != nil {
		return fmt.Errorf("pay sync: %w", err)
	}
	return nil
}

// payItem is one paystub or shift as stored: its canonical body, its hash
// and the facts the report reads.
type payItem struct {
	ID                     string
	PayDate                string
	PeriodStart, PeriodEnd string
	Currency               string
	Gross, Net             *int64
	Taxes, Deductions      *int64
	Hours, OTHours         *float64
	OTAmount, Rate         *int64
	Employer, DocumentID   string
	SHA                    string
	Body                   []byte
	// Lines holds the taxes and deductions arrays alone.
	Lines []byte
}

// payWire is the part of a paystub or shift the stored columns come from.
// Pointers tell an amount sent as null (or absent) from a zero.
type payWire struct {
	ID             string   `json:"id"`
	PayDate        string   `json:"pay_date"`
	PayPeriodStart *string  `json:"pay_period_start"`
	PayPeriodEnd   *string  `json:"pay_period_end"`
	StartDate      string   `json:"start_date"`
	EndDate        string   `json:"end_date"`
	Currency       string   `json:"currency"`
	Gross          *float64 `json:"gross_pay_amount"`
	Net            *float64 `json:"net_pay_amount"`
	Taxes          *float64 `json:"total_taxes"`
	Deductions     *float64 `json:"total_deductions"`
	EmployerName   *string  `json:"employer_name"`
	Earnings       []struct {
		Name     string   `json:"name"`
		Category string   `json:"category"`
		Amount   *float64 `json:"amount"`
		Rate     *float64 `json:"rate"`
		Hours    *float64 `json:"hours"`
	} `json:"earnings"`
	Document *struct {
		ID string `json:"id"`
	} `json:"document"`
}

// readPayItem reads one item of kind as Pinwheel sent it. The stored body
// is canonical (keys sorted, compact) and keeps only the id of the
// document: its download URL is pre-signed for 15 minutes, and keeping it
// would change the item's hash at every fetch.
func readPayItem(kind string, raw json.RawMessage) (payItem, error) {
	if len(raw) > maxPayItemBytes {
		return payItem{}, errors.New("db: pay item too large")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return payItem{}, fmt.Errorf("db: pay item: %w", err)
	}
	var w payWire
	if err := json.Unmarshal(raw, &w); err != nil {
		return payItem{}, fmt.Errorf("db: pay item: %w", err)
	}
	if w.ID == "" || len(w.ID) > maxIDLen {
		return payItem{}, errors.New("db: pay item without a usable id")
	}
	if d, ok := fields["document"]; ok {
		if w.Document != nil && w.Document.ID != "" {
			fields["document"], _ = json.Marshal(map[string]string{"id": w.Document.ID})
		} else if !bytes.Equal(bytes.TrimSpace(d), []byte("null")) {
			delete(fields, "document")
		}
	}
	body, err := json.Marshal(fields)
	if err != nil {
		return payItem{}, fmt.Errorf("db: pay item: %w", err)
	}
	sum := sha256.Sum256(body)
	lines := map[string]json.RawMessage{}
	for _, k := range []string{"taxes", "deductions"} {
		if v, ok := fields[k]; ok {
			lines[k] = v
		}
	}
	linesJSON, _ := json.Marshal(lines)
	it := payItem{ID: w.ID, Currency: w.Currency, SHA: hex.EncodeToString(sum[:]), Body: body, Lines: linesJSON}
	if w.Document != nil {
		it.DocumentID = w.Document.ID
	}
	if w.EmployerName != nil {
		it.Employer = *w.EmployerName
	}
	var hours, otHours float64
	var hasHours, hasOT bool
	var otAmount, earned int64
	var hasEarned bool
	for _, e := range w.Earnings {
		if e.Hours != nil {
			hours, hasHours = hours+*e.Hours, true
		}
		if e.Amount != nil {
			earned, hasEarned = earned+cents(*e.Amount), true
		}
		overtime := strings.EqualFold(e.Category, "overtime") || strings.Contains(strings.ToLower(e.Name), "overtime")
		switch {
		case overtime:
			hasOT = true
			if e.Hours != nil {
				otHours += *e.Hours
			}
			if e.Amount != nil {
				otAmount += cents(*e.Amount)
			}
		case it.Rate == nil && e.Rate != nil && *e.Rate > 0:
			r := cents(*e.Rate)
			it.Rate = &r
		}
	}
	if hasHours {
		it.Hours = &hours
	}
	if hasOT {
		it.OTHours, it.OTAmount = &otHours, &otAmount
	}
	switch kind {
	case FetchShifts:
		it.PayDate, it.PeriodStart, it.PeriodEnd = w.EndDate, w.StartDate, w.EndDate
		if hasEarned {
			it.Gross = &earned
		}
	default:
		it.PayDate = w.PayDate
		it.PeriodStart, it.PeriodEnd = derefStr(w.PayPeriodStart), derefStr(w.PayPeriodEnd)
		it.Gross, it.Net, it.Taxes, it.Deductions = centsP(w.Gross), centsP(w.Net), centsP(w.Taxes), centsP(w.Deductions)
	}
	if !isDate(it.PayDate) {
		it.PayDate = ""
	}
	if it.PeriodStart != "" && !isDate(it.PeriodStart) {
		it.PeriodStart = ""
	}
	if it.PeriodEnd != "" && !isDate(it.PeriodEnd) {
		it.PeriodEnd = ""
	}
	return it, nil
}

// cents rounds an amount Pinwheel sent (integer cents; a float is rounded).
func cents(f float64) int64 {
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e15 {
		return 0
	}
	return int64(math.Round(f))
}

func centsP(f *float64) *int64 {
	if f == nil {
		return nil
	}
	c := cents(*f)
	return &c
}

func derefStr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func nullInt(p *int64) sql.NullInt64 {
	if p == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: *p, Valid: true}
}

func nullFloat(p *float64) sql.NullFloat64 {
	if p == nil {
		return sql.NullFloat64{}
	}
	return sql.NullFloat64{Float64: *p, Valid: true}
}
