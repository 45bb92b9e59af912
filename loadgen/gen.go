// Package loadgen produces realistic Pinwheel webhook traffic for load and
// scale tests: a generator of signed-ready event bodies shaped like real
// Link sessions, an HTTP driver that sends them signed and measures
// acknowledgements and latency, and a bare-ceiling harness (an echo handler
// that only verifies the signature and group-commits the raw event) to
// compare Linkdesk's full path against.
//
// It imports pinwheel for the signature scheme and event names only, never
// db or handlers: `linkdesk seed` feeds the same generator straight into
// db.Ingester.
package loadgen

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"linkdesk/pinwheel"
)

// GenConfig shapes generated traffic.
type GenConfig struct {
	// Seed makes the traffic reproducible; 0 means a random seed (two runs
	// against one database must not reuse event ids).
	Seed uint64
	// Accounts is how many distinct accounts sessions create; 0 means 1000.
	Accounts int
	// EndUsers is how many end users own them; 0 means Accounts*5/7. New
	// end users and second accounts of earlier ones are interleaved evenly.
	EndUsers int
	// Concurrent is how many Link sessions interleave; 0 means 64.
	Concurrent int
	// DupRate is the share of deliveries that repeat a recent event; -1
	// means none, 0 means 2%.
	DupRate float64
	// ReorderRate is the share of events sent before their predecessor;
	// -1 means none, 0 means 5%.
	ReorderRate float64
	// Now stamps payload times; nil means time.Now.
	Now func() time.Time
}

// Event is one generated delivery.
type Event struct {
	EventID string
	Name    string
	Body    []byte
	// Duplicate is set on a redelivery of an event already generated.
	Duplicate bool
}

type platform struct{ id, name string }

var platforms = []platform{
	{"5965580e-380f-4b86-8a8a-7278c77f73cb", "Workday"}, {"5becff90-1e35-450a-8995-13ac411e749b", "ADP"},
	{"3f812c04-ac83-495b-99ca-7ec7d56dc68b", "Paycom"}, {"9a4e213b-aeed-4cb2-aace-696bcd2b1e0d", "Paychex"},
	{"913170d1-393c-4f35-8c23-df3133ce7529", "Paylocity"}, {"b0b655f8-4ae6-4d09-a60f-1df9a2a1fd16", "Paycor"},
	{"fce3eee0-285b-496f-9b36-30e976194736", "Justworks"}, {"0b1a6c43-52b7-4a51-9a55-ea3fbc1f0a11", "Gusto"},
	{"6f2b3d61-0d2e-4f55-8c0e-4d3a0c1f6b22", "Amazon Flex"}, {"7e4c2a83-9a1b-4c3d-8e2f-5a6b7c8d9e33", "DoorDash"},
}

// account is the generator's memory of an account it created.
type account struct {
	id, endUser, token string
	plat               platform
	created            time.Time
}

// session is a queue of events still to send for one Link session or
// monitoring refresh.
type session struct{ events []Event }

// Generator produces events. It is not safe for concurrent use.
type Generator struct {
	cfg      GenConfig
	rng      *rand.Rand
	endUsers []string
	accounts []*account
	active   []*session
	recent   []Event // ring of sent events, for redeliveries
	next     int
}

// NewGenerator returns a generator for cfg.
func NewGenerator(cfg GenConfig) *Generator {
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	if cfg.Accounts <= 0 {
		cfg.Accounts = 1000
	}
	if cfg.EndUsers <= 0 {
		cfg.EndUsers = max(1, cfg.Accounts*5/7)
	}
	if cfg.Concurrent <= 0 {
		cfg.Concurrent = 64
	}
	switch {
	case cfg.DupRate < 0:
		cfg.DupRate = 0
	case cfg.DupRate == 0:
		cfg.DupRate = 0.02
	}
	switch {
	case cfg.ReorderRate < 0:
		cfg.ReorderRate = 0
	case cfg.ReorderRate == 0:
		cfg.ReorderRate = 0.05
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.EndUsers = min(cfg.EndUsers, cfg.Accounts)
	return &Generator{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))}
}

// AccountsCreated is how many accounts the generator has opened so far.
func (g *Generator) AccountsCreated() int { return len(g.accounts) }

// Next returns the next delivery.
func (g *Generator) Next() Event {
	if len(g.recent) > 0 && g.rng.Float64() < g.cfg.DupRate {
		e := g.recent[g.rng.IntN(len(g.recent))]
		e.Duplicate = true
		return e
	}
	for len(g.active) < g.cfg.Concurrent {
		g.active = append(g.active, g.newSession())
	}
	i := g.rng.IntN(len(g.active))
	s := g.active[i]
	k := 0
	if len(s.events) > 1 && g.rng.Float64() < g.cfg.ReorderRate {
		k = 1 // overtake: the later event goes first
	}
	e := s.events[k]
	s.events = append(s.events[:k], s.events[k+1:]...)
	if len(s.events) == 0 {
		g.active[i] = g.newSession()
	}
	if len(g.recent) < 256 {
		g.recent = append(g.recent, e)
	} else {
		g.recent[g.next%256] = e
		g.next++
	}
	return e
}

// newSession opens a Link session for a new account while there are
// accounts left to create, else a monitoring refresh of an existing one.
func (g *Generator) newSession() *session {
	now := g.cfg.Now().UTC()
	if len(g.accounts) < g.cfg.Accounts {
		n := len(g.accounts)
		// Account n opens a new end user whenever the running share of end
		// users falls behind EndUsers/Accounts; otherwise it is a further
		// account of an earlier end user.
		var eu string
		if len(g.endUsers) == 0 || (n+1)*g.cfg.EndUsers/g.cfg.Accounts > len(g.endUsers) {
			eu = g.uuid()
			g.endUsers = append(g.endUsers, eu)
		} else {
			eu = g.endUsers[g.rng.IntN(len(g.endUsers))]
		}
		a := &account{id: g.uuid(), endUser: eu, token: g.uuid(),
			plat: platforms[g.rng.IntN(len(platforms))], created: now}
		g.accounts = append(g.accounts, a)
		return g.linkSession(a, now)
	}
	return g.refresh(g.accounts[g.rng.IntN(len(g.accounts))], now)
}

// linkSession is what one Link session sends (docs/pinwheel.md#webhook-ordering):
// account.added, identity, income, employment, paystub pages (1, 1, 2,
// rest), paystubs.fully_synced, shifts for gig platforms, allocations, and
// for some a deposit switch. One session in ten fails its jobs, one in
// twenty reports them pending first.
func (g *Generator) linkSession(a *account, now time.Time) *session {
	s := &session{}
	t := now
	tick := func() time.Time { t = t.Add(time.Duration(50+g.rng.IntN(400)) * time.Millisecond); return t }
	s.add(g.event(pinwheel.EventAccountAdded, g.accountPayload(a, pinwheel.StatusActive, true)))
	r := g.rng.Float64()
	switch {
	case r < 0.10:
		errType, errCode := "user_action_required", "accountLocked"
		if g.rng.IntN(2) == 0 {
			errType, errCode = "system_error", "platformUnavailable"
		}
		for _, j := range []string{pinwheel.JobIdentity, pinwheel.JobIncome, pinwheel.JobEmployment, pinwheel.JobPaystubs} {
			s.add(g.job(a, a.token, j, tick(), pinwheel.OutcomeError, errType, errCode, "{}", nil))
		}
		return s
	case r < 0.15:
		for _, j := range []string{pinwheel.JobIdentity, pinwheel.JobIncome} {
			s.add(g.job(a, a.token, j, tick(), pinwheel.OutcomePending, "", "", "{}", nil))
		}
	}
	for _, j := range []string{pinwheel.JobIdentity, pinwheel.JobIncome, pinwheel.JobEmployment} {
		s.add(g.job(a, a.token, j, tick(), pinwheel.OutcomeSuccess, "", "", "{}", nil))
	}
	g.pages(s, a, a.token, tick, pinwheel.JobPaystubs, []int{1, 1, 2, 8 + g.rng.IntN(20)})
	if a.plat.name == "Amazon Flex" || a.plat.name == "DoorDash" {
		g.pages(s, a, a.token, tick, pinwheel.JobShifts, []int{7, 23, 10 + g.rng.IntN(30)})
	}
	s.add(g.job(a, a.token, pinwheel.JobDDAllocations, tick(), pinwheel.OutcomeSuccess, "", "", "{}", nil))
	if g.rng.IntN(4) == 0 {
		params := `{"action": "full_switch", "allocation": {"type": "remainder", "target": {"account_name": "Linkdesk Checking", "account_type": "checking"}}}`
		if g.rng.IntN(2) == 0 {
			params = `{"action": "partial_switch", "allocation": {"type": "amount", "value": ` + strconv.Itoa(25*(1+g.rng.IntN(8))) +
				`, "target": {"account_name": "Linkdesk Savings", "account_type": "savings"}}}`
		}
		s.add(g.job(a, a.token, pinwheel.JobDDSwitch, tick(), pinwheel.OutcomeSuccess, "", "", params, nil))
	}
	return s
}

// refresh is what monitoring sends later about an existing account: a
// status change, or refreshed data with a fresh (undefined) link token.
func (g *Generator) refresh(a *account, now time.Time) *session {
	s := &session{}
	t := now
	tick := func() time.Time { t = t.Add(time.Duration(50+g.rng.IntN(400)) * time.Millisecond); return t }
	if g.rng.IntN(3) == 0 {
		statuses := []string{pinwheel.StatusActive, pinwheel.StatusDegraded, pinwheel.StatusUserActionRequired, pinwheel.StatusUnavailable}
		st := statuses[g.rng.IntN(len(statuses))]
		s.add(g.event(pinwheel.EventMonitoringStatusUpdated, g.accountPayload(a, st, st != pinwheel.StatusUserActionRequired)))
		return s
	}
	token := g.uuid()
	s.add(g.job(a, token, pinwheel.JobIncome, tick(), pinwheel.OutcomeSuccess, "", "", "{}", nil))
	g.pages(s, a, token, tick, pinwheel.JobPaystubs, []int{1 + g.rng.IntN(2)})
	s.add(g.job(a, token, pinwheel.JobDDAllocations, tick(), pinwheel.OutcomeSuccess, "", "", "{}", nil))
	return s
}

// pages adds paystubs.added / shifts.added pages and the fully_synced event.
func (g *Generator) pages(s *session, a *account, token string, tick func() time.Time, job string, sizes []int) {
	var last time.Time
	var lastSize int
	for i, n := range sizes {
		ids := make([]string, n)
		for k := range ids {
			ids[k] = g.uuid()
		}
		status := pinwheel.SyncInProgress
		if i == len(sizes)-1 {
			status = pinwheel.SyncComplete
		}
		last, lastSize = tick(), n
		params := `{"count": ` + strconv.Itoa(n) + `, "sync_status": "` + status + `"}`
		s.add(g.job(a, token, job, last, pinwheel.OutcomeSuccess, "", "", params, ids))
	}
	synced := pinwheel.EventPaystubsFullySynced
	if job == pinwheel.JobShifts {
		synced = pinwheel.EventShiftsFullySynced
	}
	e := g.job(a, token, job, last, pinwheel.OutcomeSuccess, "", "", `{"count": `+strconv.Itoa(lastSize)+`}`, nil)
	s.add(g.rename(e, synced))
}

func (s *session) add(e Event) { s.events = append(s.events, e) }

// accountPayload renders account.added / monitoring payloads (observed
// field order).
func (g *Generator) accountPayload(a *account, status string, connected bool) []byte {
	b := make([]byte, 0, 400)
	b = append(b, `{"created_at": "`...)
	b = a.created.AppendFormat(b, pinwheel.TimeLayout)
	b = append(b, `", "link_token_id": "`...)
	b = append(b, a.token...)
	b = append(b, `", "platform_id": "`...)
	b = append(b, a.plat.id...)
	b = append(b, `", "connected": `...)
	b = strconv.AppendBool(b, connected)
	b = append(b, `, "monitoring_status": "`...)
	b = append(b, status...)
	b = append(b, `", "end_user_id": "`...)
	b = append(b, a.endUser...)
	b = append(b, `", "account_id": "`...)
	b = append(b, a.id...)
	b = append(b, `", "platform_name": "`...)
	b = append(b, a.plat.name...)
	return append(b, `"}`...)
}

// job renders a job event (observed field order).
func (g *Generator) job(a *account, token, name string, at time.Time, outcome, errType, errCode, params string, added []string) Event {
	b := make([]byte, 0, 512+len(added)*100)
	b = append(b, '{')
	if added != nil {
		b = append(b, `"added": [`...)
		for i, id := range added {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, `{"id": "`...)
			b = append(b, id...)
			b = append(b, `", "document_type": null, "year": null, "pay_date": null}`...)
		}
		b = append(b, `], "deleted": [], `...)
	}
	b = append(b, `"id": "`...)
	b = append(b, g.uuid()...)
	b = append(b, `", "name": "`...)
	b = append(b, name...)
	b = append(b, `", "timestamp": "`...)
	b = at.AppendFormat(b, pinwheel.TimeLayout)
	b = append(b, `", "outcome": "`...)
	b = append(b, outcome...)
	b = append(b, `", "error_code": `...)
	b = appendNullable(b, errCode)
	b = append(b, `, "error_type": `...)
	b = appendNullable(b, errType)
	b = append(b, `, "link_token_id": "`...)
	b = append(b, token...)
	b = append(b, `", "params": `...)
	b = append(b, params...)
	b = append(b, `, "account_id": "`...)
	b = append(b, a.id...)
	b = append(b, `", "end_user_id": "`...)
	b = append(b, a.endUser...)
	b = append(b, `"}`...)
	return g.event(pinwheel.JobEvent(name), b)
}

func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return append(append(append(b, '"'), s...), '"')
}

// event wraps a payload in the envelope {"event_id", "event", "payload"}.
func (g *Generator) event(name string, payload []byte) Event {
	id := g.uuid()
	b := make([]byte, 0, len(payload)+100)
	b = append(b, `{"event_id": "`...)
	b = append(b, id...)
	b = append(b, `", "event": "`...)
	b = append(b, name...)
	b = append(b, `", "payload": `...)
	b = append(b, payload...)
	b = append(b, '}')
	return Event{EventID: id, Name: name, Body: b}
}

// rename re-wraps an event's payload under another event name.
func (g *Generator) rename(e Event, name string) Event {
	prefix := len(`{"event_id": "`) + len(e.EventID) + len(`", "event": "`) + len(e.Name) + len(`", "payload": `)
	return g.event(name, e.Body[prefix:len(e.Body)-1])
}

// uuid returns a random version-4 UUID from the generator's source.
func (g *Generator) uuid() string {
	a, b := g.rng.Uint64(), g.rng.Uint64()
	a = a&^0xf000 | 0x4000
	b = b&^(0xc<<60) | 0x8<<60
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, a>>16&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}
