package sandbox

import (
	"bytes"
	"context"
	"database/sql"
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
	// job is the job this event reports (nil for account events and sync
	// milestones); emit records it for GET /v1/jobs.
	job *jobRun
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

// emit queues events for delivery inside tx and records the jobs they
// report. Use it within writeTx, which wakes the sender once the
// transaction is committed.
func (e *Emulator) emit(ctx context.Context, tx *sql.Tx, events ...*event) error {
	for _, ev := range events {
		if ev.job != nil {
			if err := saveJob(ctx, tx, ev.job); err != nil {
				return err
			}
		}
	}
	return e.enqueue(ctx, tx, events)
}

// accountEvent builds account.added or account.monitoring_status.updated.
// The field order follows the recorded delivery; platform_type is added for
// 2025-07-08 webhooks (the current docs list it, the 2023-11-22 recording
// lacks it).
//
// The payload of account.monitoring_status.updated is not documented
// publicly (docs/pinwheel.md#undocumented): we chose the account.added field
// set with the new status, because it describes the same account.
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
	PlatformID  string
	// Params builds the job params for a webhook version; nil means {}.
	Params func(version string) obj
	// Added lists new paystub/shift ids; non-nil adds the added/deleted keys.
	Added []string
	// Deleted lists the ids deleted since the last sync.
	Deleted []string
}

// payload renders the common job payload (recorded key order).
func (j jobRun) payload(v string) obj {
	var o obj
	if j.Added != nil {
		refs := func(ids []string) []obj {
			out := make([]obj, 0, len(ids))
			for _, id := range ids {
				out = append(out, obj{{"id", id}, {"document_type", nil}, {"year", nil}, {"pay_date", nil}})
			}
			return out
		}
		o = append(o, kv{"added", refs(j.Added)}, kv{"deleted", refs(j.Deleted)})
	}
	o = append(o,
		kv{"id", j.ID},
		kv{"name", j.Name},
		kv{"timestamp", j.Time},
		kv{"outcome", j.Outcome},
		kv{"error_code", nullStr(j.ErrorCode)},
		kv{"error_type", nullStr(j.ErrorType)},
		kv{"link_token_id", j.LinkTokenID},
		kv{"params", j.params(v)},
		kv{"account_id", j.AccountID},
		kv{"end_user_id", j.EndUserID},
	)
	return o
}

func (j jobRun) params(v string) obj {
	if j.Params == nil {
		return obj{}
	}
	return j.Params(v)
}

// event reports the job under name (and records it as a job).
func (j jobRun) event(name string) *event {
	return &event{ID: newID(), Name: name, AccountID: j.AccountID, payload: j.payload, job: &j}
}

// milestone reports a sync milestone about job j (paystubs.fully_synced):
// an event with the job's payload that is not a job of its own.
func (j jobRun) milestone(name string) *event {
	return &event{ID: newID(), Name: name, AccountID: j.AccountID, payload: j.payload}
}

// jobEventName maps a job to the event that reports it (the catalogue's).
var jobEventName = pinwheel.JobEvent

// runContext is what every job event of one Link session shares.
type runContext struct {
	acc         *account
	linkTokenID string
	now         time.Time
	seq         int // spreads timestamps so jobs keep their order
}

func (rc *runContext) job(name, outcome string) jobRun {
	rc.seq++
	return jobRun{ID: newID(), Name: name, Time: rc.now.Add(time.Duration(rc.seq) * time.Millisecond),
		Outcome: outcome, LinkTokenID: rc.linkTokenID, AccountID: rc.acc.ID, EndUserID: rc.acc.EndUserID,
		PlatformID: rc.acc.PlatformID}
}

// fanOutJobs are the read jobs a Link session runs whatever its token asked
// for, when the employer or platform supports them: the recorded token asked
// for paystubs only and the session delivered identity, income, employment
// and shifts too, and reported every one of these data types as updated
// (docs/pinwheel.md#webhook-ordering). The exact rule is not documented
// publicly (docs/pinwheel.md#undocumented): we chose "every supported data
// type the account object reports" because that is what the recording shows.
var fanOutJobs = []string{pinwheel.JobIdentity, pinwheel.JobIncome, pinwheel.JobDDAllocations, pinwheel.JobPaystubs,
	pinwheel.JobShifts, pinwheel.JobEmployment}

// sessionReadJobs returns the read jobs a session runs: the token's own read
// jobs (all but the switch) plus the fan-out jobs the account's employer or
// platform supports, in the recorded order of first appearance: identity,
// income, allocations, paystubs, shifts, employment, then the rest.
func sessionReadJobs(a *account, tokenJobs []string) []string {
	supported := accountJobs(a)
	order := []string{pinwheel.JobIdentity, pinwheel.JobIncome, pinwheel.JobDDAllocations, pinwheel.JobPaystubs,
		pinwheel.JobShifts, pinwheel.JobEmployment, pinwheel.JobTaxForms, pinwheel.JobDDPayment}
	var out []string
	for _, j := range order {
		asked := slices.Contains(tokenJobs, j)
		fanned := slices.Contains(fanOutJobs, j) && slices.Contains(supported, j)
		if asked || fanned {
			out = append(out, j)
		}
	}
	return out
}

// accountJobs are the supported_jobs of the account's employer, else of its
// platform.
func accountJobs(a *account) []string {
	if emp, ok := findEmployer(a.EmployerID); ok {
		return emp.Jobs
	}
	p, _ := findPlatform(a.PlatformID)
	return p.Jobs
}

// interleave puts a session's job events in the recorded order
// (docs/pinwheel.md#webhook-ordering): the single-event jobs up to the
// allocations first, then paystub and shift pages mixed as recorded
// (P S P P S P P S S, milestones counted as pages), then the rest.
func interleave(head, pages, shifts, tail []*event) []*event {
	out := slices.Clone(head)
	for _, c := range "PSPPSPPSS" {
		q := &pages
		if c == 'S' {
			q = &shifts
		}
		if len(*q) > 0 {
			out = append(out, (*q)[0])
			*q = (*q)[1:]
		}
	}
	out = append(out, pages...)
	out = append(out, shifts...)
	return append(out, tail...)
}

// isHead reports whether a single-event job goes before the paged ones.
func isHead(job string) bool {
	return job == pinwheel.JobIdentity || job == pinwheel.JobIncome || job == pinwheel.JobDDAllocations
}

// successEvents runs the read jobs successfully: it reports new paystubs and
// shifts since the account's last sync (all history for a new account, in
// pages of 1, 1, 2 and the rest, like the sandbox), and advances the
// account's data timestamps. The caller persists rc.acc.
func successEvents(rc *runContext, jobs []string) []*event {
	a := rc.acc
	var head, pages, shifts, tail []*event
	prevSync := a.SyncedThrough
	fresh := a.DataRefreshedAt[pinwheel.JobPaystubs].IsZero() && a.DataRefreshedAt[pinwheel.JobShifts].IsZero()
	a.SyncedThrough = rc.now
	for _, name := range jobs {
		changed := fresh
		switch name {
		case pinwheel.JobPaystubs:
			evs, n := paystubEvents(rc, prevSync, fresh)
			pages = evs
			changed = changed || n > 0
		case pinwheel.JobShifts:
			evs, n := shiftEvents(rc, prevSync, fresh)
			shifts = evs
			changed = changed || n > 0
		default:
			ev := rc.job(name, pinwheel.OutcomeSuccess).event(jobEventName(name))
			if isHead(name) {
				head = append(head, ev)
			} else {
				tail = append(tail, ev)
			}
		}
		setTime(&a.DataRefreshedAt, name, rc.now)
		if changed || a.DataUpdatedAt[name].IsZero() {
			setTime(&a.DataUpdatedAt, name, rc.now)
		}
	}
	return interleave(head, pages, shifts, tail)
}

func setTime(m *map[string]time.Time, k string, t time.Time) {
	if *m == nil {
		*m = map[string]time.Time{}
	}
	(*m)[k] = t
}

// pageSizes splits n items like the recorded sandbox sync: 1, 1, 2, rest.
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

// paystubEvents reports the paystubs new since prevSync (all of them for a
// fresh account), newest first, then paystubs.fully_synced. New are the
// schedule's paystubs with pay dates after prevSync and those the knob
// added after it; the ids the knob deleted after it go in the first
// page's deleted array.
func paystubEvents(rc *runContext, prevSync time.Time, fresh bool) ([]*event, int) {
	all := genPaystubs(rc.acc)
	var stubs []stubItem
	for _, p := range all {
		switch {
		case fresh,
			!p.addedAt.IsZero() && p.addedAt.After(prevSync),
			p.addedAt.IsZero() && p.PayDate > formatDate(prevSync):
			stubs = append(stubs, p)
		}
	}
	var deleted []string
	if !fresh {
		for id, at := range rc.acc.Deleted {
			if at.After(prevSync) {
				deleted = append(deleted, id)
			}
		}
		slices.Sort(deleted)
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
		if i == 0 {
			j.Deleted = deleted
		}
		var from, to any
		if size > 0 {
			lo, hi := page[0].PayDate, page[0].PayDate
			for _, p := range page {
				lo, hi = min(lo, p.PayDate), max(hi, p.PayDate)
			}
			from, to = lo, hi
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
	// deleted and sync_status (recorded).
	synced := last
	synced.Added = nil
	synced.Params = func(string) obj { return lastParams }
	out = append(out, synced.milestone(pinwheel.EventPaystubsFullySynced))
	return out, len(all)
}

// shiftEvents reports shifts like paystubEvents, in pages of 7, 23 and the
// rest (recorded), then shifts.fully_synced.
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
	out = append(out, synced.milestone(pinwheel.EventShiftsFullySynced))
	return out, len(all)
}

// failedEvents reports each of jobs with a non-success outcome, in the
// session order. Paystub and shift jobs keep their added/deleted keys, empty.
func failedEvents(rc *runContext, jobs []string, outcome, errType, errCode string) ([]*event, []jobRun) {
	var head, pages, shifts, tail []*event
	var runs []jobRun
	for _, name := range jobs {
		j := rc.job(name, outcome)
		j.ErrorType, j.ErrorCode = errType, errCode
		if name == pinwheel.JobPaystubs || name == pinwheel.JobShifts {
			j.Added = []string{}
		}
		ev := j.event(jobEventName(name))
		switch {
		case name == pinwheel.JobPaystubs:
			pages = append(pages, ev)
		case name == pinwheel.JobShifts:
			shifts = append(shifts, ev)
		case isHead(name):
			head = append(head, ev)
		default:
			tail = append(tail, ev)
		}
		runs = append(runs, j)
	}
	return interleave(head, pages, shifts, tail), runs
}

// switchEvent reports a successful direct deposit switch. The target's
// last_four_account_number exists only in the 2025-07-08 payload.
//
// What a full switch carries is not documented publicly
// (docs/pinwheel.md#undocumented): we chose allocation {type: remainder,
// target}, so consumers always learn where the money now goes.
func switchEvent(rc *runContext, c switchChoice) *event {
	j := rc.job(pinwheel.JobDDSwitch, pinwheel.OutcomeSuccess)
	j.Params = func(v string) obj { return switchParams(c, v) }
	return j.event(pinwheel.EventDDSwitchAdded)
}

// switchParams renders a switch's params (ParamsPayload_v2023_11_22).
func switchParams(c switchChoice, v string) obj {
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

// number returns an int64 for whole numbers so they encode as 50, not 50.0:
// the schema types a switch's allocation value as an integer.
func number(f float64) any {
	if f == float64(int64(f)) {
		return int64(f)
	}
	return f
}
