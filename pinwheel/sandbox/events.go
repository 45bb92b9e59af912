package sandbox

import (
	"bytes"
	"encoding/json"
	"slices"
	"time"

	"linkdesk/pinwheel"
)

// event is one webhook event. Its body is rendered per webhook version,
// because a few payload fields exist only in newer versions.
type event struct {
	ID        string
	Name      string
	AccountID string
	payload   func(version string) obj
}

// body renders the delivery body: keys event_id, event, payload in that
// order, Python json.dumps style.
func (ev *event) body(version string) []byte {
	return pyJSON(obj{{"event_id", ev.ID}, {"event", ev.Name}, {"payload", ev.payload(version)}})
}

// MarshalJSON encodes o as a compact JSON object in key order, for client
// events and link-api answers.
func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.K)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(e.V)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// newer reports whether webhook version v is at least 2025-07-08.
func newer(v string) bool { return v >= pinwheel.Version20250708 }

// accountEvent builds account.added or account.monitoring_status.updated.
// The field order follows the observed delivery; platform_type is added for
// 2025-07-08 webhooks ("current docs").
//
// The payload of account.monitoring_status.updated is not documented publicly (docs/pinwheel.md#undocumented):
// we chose the account.added field set with the new status, because it
// describes the same account.
func accountEvent(name string, a *account, linkTokenID string) *event {
	p, _ := findPlatform(a.PlatformID)
	created, status, connected := a.CreatedAt, a.MonitoringStatus, a.Connected
	return &event{ID: newID(), Name: name, AccountID: a.ID, payload: func(v string) obj {
		o := obj{
			{"created_at", created},
			{"link_token_id", linkTokenID},
			{"platform_id", p.ID},
			{"connected", connected},
			{"monitoring_status", status},
			{"end_user_id", a.EndUserID},
			{"account_id", a.ID},
			{"platform_name", p.Name},
		}
		if newer(v) {
			o = append(o, kv{"platform_type", p.Type})
		}
		return o
	}}
}

// jobRun is one job outcome to report.
type jobRun struct {
	ID          string
	Name        string
	Time        time.Time
	Outcome     string
	ErrorType   string
	ErrorCode   string
	LinkTokenID string
	AccountID   string
	EndUserID   string
	// Params builds the job params for a webhook version; nil means {}.
	Params func(version string) obj
	// Added lists new paystub/shift ids; non-nil adds the added/deleted keys.
	Added []string
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// payload renders the common job payload (observed key order).
func (j jobRun) payload(v string) obj {
	var o obj
	if j.Added != nil {
		added := make([]obj, 0, len(j.Added))
		for _, id := range j.Added {
			added = append(added, obj{{"id", id}, {"document_type", nil}, {"year", nil}, {"pay_date", nil}})
		}
		o = append(o, kv{"added", added}, kv{"deleted", []obj{}})
	}
	params := obj{}
	if j.Params != nil {
		params = j.Params(v)
	}
	o = append(o,
		kv{"id", j.ID},
		kv{"name", j.Name},
		kv{"timestamp", j.Time},
		kv{"outcome", j.Outcome},
		kv{"error_code", nullable(j.ErrorCode)},
		kv{"error_type", nullable(j.ErrorType)},
		kv{"link_token_id", j.LinkTokenID},
		kv{"params", params},
		kv{"account_id", j.AccountID},
		kv{"end_user_id", j.EndUserID},
	)
	return o
}

func (j jobRun) event(name string) *event {
	return &event{ID: newID(), Name: name, AccountID: j.AccountID, payload: j.payload}
}

// jobEventName maps a job to the event that reports it.
var jobEventName = map[string]string{
	pinwheel.JobIdentity:      pinwheel.EventIdentityAdded,
	pinwheel.JobEmployment:    pinwheel.EventEmploymentAdded,
	pinwheel.JobIncome:        pinwheel.EventIncomeAdded,
	pinwheel.JobDDAllocations: pinwheel.EventDDAllocationsAdded,
	pinwheel.JobPaystubs:      pinwheel.EventPaystubsAdded,
	pinwheel.JobShifts:        pinwheel.EventShiftsAdded,
	pinwheel.JobTaxForms:      pinwheel.EventTaxFormsAdded,
	pinwheel.JobDDSwitch:      pinwheel.EventDDSwitchAdded,
	pinwheel.JobDDPayment:     pinwheel.EventDDPaymentAdded,
}

// runContext is what every job event of one Link session shares.
type runContext struct {
	acc         *account
	linkTokenID string
	now         time.Time
	seq         int // spreads timestamps so events keep their order
}

func (rc *runContext) job(name, outcome string) jobRun {
	rc.seq++
	return jobRun{ID: newID(), Name: name, Time: rc.now.Add(time.Duration(rc.seq) * time.Millisecond),
		Outcome: outcome, LinkTokenID: rc.linkTokenID, AccountID: rc.acc.ID, EndUserID: rc.acc.EndUserID}
}

// readJobs returns the token's jobs that run right after login (all but the
// switch), in the emulator's fixed event order.
func readJobs(jobs []string) []string {
	var out []string
	for _, j := range dataJobs {
		if j != pinwheel.JobDDSwitch && slices.Contains(jobs, j) {
			out = append(out, j)
		}
	}
	return out
}

// successEvents runs the read jobs successfully: it reports new paystubs and
// shifts since the account's last sync (all history for a new account, in
// pages of 1, 1, 2 and the rest, like the sandbox), and advances the
// account's data timestamps. The caller persists rc.acc.
func successEvents(rc *runContext, jobs []string) []*event {
	a := rc.acc
	var out []*event
	prevSync := a.SyncedThrough
	fresh := a.DataRefreshedAt[pinwheel.JobPaystubs].IsZero() && a.DataRefreshedAt[pinwheel.JobShifts].IsZero()
	a.SyncedThrough = rc.now
	for _, name := range readJobs(jobs) {
		changed := fresh
		switch name {
		case pinwheel.JobPaystubs:
			evs, n := paystubEvents(rc, prevSync, fresh)
			out = append(out, evs...)
			changed = changed || n > 0
		case pinwheel.JobShifts:
			evs, n := shiftEvents(rc, prevSync, fresh)
			out = append(out, evs...)
			changed = changed || n > 0
		default:
			out = append(out, rc.job(name, pinwheel.OutcomeSuccess).event(jobEventName[name]))
		}
		setTime(&a.DataRefreshedAt, name, rc.now)
		if changed || a.DataUpdatedAt[name].IsZero() {
			setTime(&a.DataUpdatedAt, name, rc.now)
		}
	}
	return out
}

func setTime(m *map[string]time.Time, k string, t time.Time) {
	if *m == nil {
		*m = map[string]time.Time{}
	}
	(*m)[k] = t
}

// pageSizes splits n items like the observed sandbox sync: 1, 1, 2, rest.
func pageSizes(n int, first []int) []int {
	var out []int
	for _, s := range first {
		if n <= 0 {
			return out
		}
		s = min(s, n)
		out = append(out, s)
		n -= s
	}
	if n > 0 {
		out = append(out, n)
	}
	return out
}

// paystubEvents reports paystubs with pay dates after prevSync (all of them
// for a fresh account), newest first, then paystubs.fully_synced.
func paystubEvents(rc *runContext, prevSync time.Time, fresh bool) ([]*event, int) {
	all := genPaystubs(rc.acc)
	var stubs []pinwheel.Paystub
	for _, p := range all {
		if fresh || p.PayDate > formatDate(prevSync) {
			stubs = append(stubs, p)
		}
	}
	sizes := pageSizes(len(stubs), []int{1, 1, 2})
	if len(sizes) == 0 {
		sizes = []int{0}
	}
	var out []*event
	var last jobRun
	var lastParams obj
	for i, size := range sizes {
		page := stubs[:size]
		stubs = stubs[size:]
		j := rc.job(pinwheel.JobPaystubs, pinwheel.OutcomeSuccess)
		j.Added = []string{}
		var from, to any
		if size > 0 {
			to, from = page[0].PayDate, page[size-1].PayDate
		}
		for _, p := range page {
			j.Added = append(j.Added, p.ID)
		}
		status := pinwheel.SyncInProgress
		if i == len(sizes)-1 {
			status = pinwheel.SyncComplete
		}
		params := obj{{"count", size}, {"from_pay_date", from}, {"to_pay_date", to}}
		withStatus := append(slices.Clone(params), kv{"sync_status", status})
		j.Params = func(string) obj { return withStatus }
		out = append(out, j.event(pinwheel.EventPaystubsAdded))
		last, lastParams = j, params
	}
	// paystubs.fully_synced repeats the last paystubs job without added,
	// deleted and sync_status (observed).
	synced := last
	synced.Added = nil
	synced.Params = func(string) obj { return lastParams }
	out = append(out, synced.event(pinwheel.EventPaystubsFullySynced))
	return out, len(all)
}

// shiftEvents reports shifts like paystubEvents, in pages of 7, 23 and the
// rest (observed), then shifts.fully_synced.
func shiftEvents(rc *runContext, prevSync time.Time, fresh bool) ([]*event, int) {
	all := genShifts(rc.acc)
	var shifts []pinwheel.Shift
	for _, s := range all {
		if fresh || s.EndDate > formatDate(prevSync) {
			shifts = append(shifts, s)
		}
	}
	sizes := pageSizes(len(shifts), []int{7, 23})
	if len(sizes) == 0 {
		sizes = []int{0}
	}
	var out []*event
	var last jobRun
	for i, size := range sizes {
		page := shifts[:size]
		shifts = shifts[size:]
		j := rc.job(pinwheel.JobShifts, pinwheel.OutcomeSuccess)
		j.Added = []string{}
		for _, s := range page {
			j.Added = append(j.Added, s.ID)
		}
		status := pinwheel.SyncInProgress
		if i == len(sizes)-1 {
			status = pinwheel.SyncComplete
		}
		params := obj{{"count", size}, {"sync_status", status}}
		j.Params = func(string) obj { return params }
		out = append(out, j.event(pinwheel.EventShiftsAdded))
		last = j
	}
	synced := last
	synced.Added = nil
	lastCount := sizes[len(sizes)-1]
	synced.Params = func(string) obj { return obj{{"count", lastCount}} }
	out = append(out, synced.event(pinwheel.EventShiftsFullySynced))
	return out, len(all)
}

// failedEvents reports every job (including a switch) with a non-success
// outcome. Paystub and shift jobs keep their added/deleted keys, empty.
func failedEvents(rc *runContext, jobs []string, outcome, errType, errCode string) ([]*event, []jobRun) {
	var out []*event
	var runs []jobRun
	for _, name := range dataJobs {
		if !slices.Contains(jobs, name) {
			continue
		}
		j := rc.job(name, outcome)
		j.ErrorType, j.ErrorCode = errType, errCode
		if name == pinwheel.JobPaystubs || name == pinwheel.JobShifts {
			j.Added = []string{}
		}
		out = append(out, j.event(jobEventName[name]))
		runs = append(runs, j)
	}
	return out, runs
}

// switchEvent reports a successful direct deposit switch. The target's
// last_four_account_number exists only in the 2025-07-08 payload.
//
// What a full switch carries is not documented publicly (docs/pinwheel.md#undocumented): we
// chose allocation {type: remainder, target}, so consumers always learn where
// the money now goes.
func switchEvent(rc *runContext, c switchChoice) *event {
	j := rc.job(pinwheel.JobDDSwitch, pinwheel.OutcomeSuccess)
	j.Params = func(v string) obj {
		tgt := obj{{"account_name", c.Target.Name}, {"account_type", c.Target.Type}}
		if newer(v) {
			tgt = append(tgt, kv{"last_four_account_number", lastFour(c.Target.AccountNumber)})
		}
		alloc := obj{{"type", cmpOr(c.Type, pinwheel.AllocationRemainder)}}
		if c.Value != nil {
			alloc = append(alloc, kv{"value", number(*c.Value)})
		}
		alloc = append(alloc, kv{"target", tgt})
		return obj{{"action", c.Action}, {"allocation", alloc}}
	}
	return j.event(pinwheel.EventDDSwitchAdded)
}

// number returns an int64 for whole numbers so they encode as 50, not 50.0.
func number(f float64) any {
	if f == float64(int64(f)) {
		return int64(f)
	}
	return f
}
