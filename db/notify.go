package db

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Change notifications: the seam that live timelines (SSE) and the job
// runner wait on instead of polling the database. A transaction that
// changes something others watch calls changed(ctx, tx, topic); once it
// commits, every subscriber to that topic hears of it — in this process at
// once, and on PostgreSQL in every instance on the database too: the
// transaction also sends NOTIFY (pg_notify, delivered at commit and only if
// it commits), and each Store that has subscribers LISTENs on a connection
// of its own and passes what arrives on. A notification says only "look
// again": subscribers re-read the database, so a lost or doubled one costs
// a query at most, and a listener that reconnects wakes everyone.

// Topics a Store announces.
const (
	// TopicEvents: webhook events were stored.
	TopicEvents = "events"
	// TopicAudit: audit rows were appended (staff actions).
	TopicAudit = "audit"
	// TopicLaunch: launch pages reported Link events.
	TopicLaunch = "launch"
	// TopicJobs: jobs were enqueued.
	TopicJobs = "jobs"
	// TopicFetches: ingestion enqueued data fetches (FetchJobKinds), and
	// no other job: it wakes only the runners' fetch pools.
	TopicFetches = "fetches"
	// TopicData: finished jobs stored what they fetched (snapshots, pay
	// items).
	TopicData = "data"
	// TopicLive: a row that a live page or progress stream shows changed
	// (PostgreSQL only: the triggers of migration 085 send it, whatever
	// the write path).
	TopicLive = "live"
)

// LiveTopics are the topics a live page's stream wakes on.
var LiveTopics = []string{TopicEvents, TopicAudit, TopicLaunch, TopicJobs, TopicFetches, TopicData, TopicLive}

// AnnouncesEveryChange reports whether every commit that changes what a
// live page or progress stream shows wakes the subscribers of LiveTopics
// (PostgreSQL: the ingest committer's NOTIFY and migration 085's
// triggers), so that they may re-read the database only rarely without
// being told. On SQLite only the main write paths announce themselves, in
// this process: streams wake on them but still re-read every second.
func (s *Store) AnnouncesEveryChange() bool { return s.d.name == pgDialect.name }

// ListenerStats is what the LISTEN connection has done (zero on SQLite, or
// before anything subscribed): for /metrics and tests.
type ListenerStats struct {
	// Connected is true while the listening connection is up; PID is its
	// server process (pg_stat_activity.pid).
	Connected bool
	PID       uint32
	// Notifications counts those received; Connects counts the
	// connections made (the first and every reconnect).
	Notifications, Connects uint64
}

// ListenerStats reads the LISTEN connection's counters.
func (s *Store) ListenerStats() ListenerStats {
	n := &s.notes
	return ListenerStats{Connected: n.pid.Load() != 0, PID: n.pid.Load(), Notifications: n.received.Load(), Connects: n.connects.Load()}
}

// notifier fans notifications out to subscribers and keeps the topics
// pending on open transactions.
type notifier struct {
	mu      sync.Mutex
	subs    map[chan struct{}][]string
	pending map[*sql.Tx][]string
	// listening is set once a LISTEN loop runs (PostgreSQL); stop ends it.
	listening bool
	stop      context.CancelFunc
	done      chan struct{}
	// pid is the listening backend's (0 while disconnected); received and
	// connects count notifications and connections (ListenerStats).
	pid                atomic.Uint32
	received, connects atomic.Uint64
}

// Subscribe returns a channel that receives a value after a commit that
// changed any of topics, on any instance on the database. Deliveries
// coalesce (the channel holds one), so a slow reader sees one wake for many
// commits. cancel ends the subscription.
func (s *Store) Subscribe(topics ...string) (<-chan struct{}, func()) {
	n := &s.notes
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	if n.subs == nil {
		n.subs = map[chan struct{}][]string{}
	}
	n.subs[ch] = topics
	startListener := s.d.name == pgDialect.name && s.channel != "" && !n.listening // "": a read-only Store
	if startListener {
		n.listening = true
		ctx, stop := context.WithCancel(context.Background())
		n.stop, n.done = stop, make(chan struct{})
		go s.listen(ctx, n.done)
	}
	n.mu.Unlock()
	return ch, func() {
		n.mu.Lock()
		delete(n.subs, ch)
		n.mu.Unlock()
	}
}

// changed records inside tx that it changes topic: subscribers hear of it
// when tx commits (tx1), and on PostgreSQL every instance's listener too.
func (s *Store) changed(ctx context.Context, tx *sql.Tx, topic string) error {
	n := &s.notes
	n.mu.Lock()
	if n.pending == nil {
		n.pending = map[*sql.Tx][]string{}
	}
	n.pending[tx] = append(n.pending[tx], topic)
	n.mu.Unlock()
	if s.d.name != pgDialect.name {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_notify(?, ?)`, s.channel, topic)
	return err
}

// settle fires (committed) or drops the topics pending on tx.
func (s *Store) settle(tx *sql.Tx, committed bool) {
	n := &s.notes
	n.mu.Lock()
	topics, ok := n.pending[tx]
	delete(n.pending, tx)
	n.mu.Unlock()
	if ok && committed {
		s.fire(topics...)
	}
}

// fire wakes the subscribers of any of topics (all of them when none is
// given).
func (s *Store) fire(topics ...string) {
	n := &s.notes
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch, want := range n.subs {
		if len(topics) > 0 && !anyOf(want, topics) {
			continue
		}
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func anyOf(want, got []string) bool {
	for _, w := range want {
		for _, g := range got {
			if w == g {
				return true
			}
		}
	}
	return false
}

// listen holds a connection of its own that LISTENs on the Store's
// channel and fires what arrives, until ctx ends. After a lost connection
// (a restarted server, a terminated backend, a network cut) it reconnects,
// waiting longer after each failure in a row (100 ms doubling to 5 s), and
// on connecting wakes every subscriber: notifications sent meanwhile were
// lost, and a wake costs each stream one read.
func (s *Store) listen(ctx context.Context, done chan struct{}) {
	defer close(done)
	wait := listenRetryMin
	for ctx.Err() == nil {
		if s.listenOnce(ctx) {
			wait = listenRetryMin // it was connected: the next try at once, nearly
		}
		if ctx.Err() != nil {
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, listenRetryMax)
	}
}

// The listener's reconnect backoff.
const (
	listenRetryMin = 100 * time.Millisecond
	listenRetryMax = 5 * time.Second
)

// listenOnce connects, LISTENs and passes notifications on until the
// connection fails or ctx ends; it reports whether it got as far as
// listening.
func (s *Store) listenOnce(ctx context.Context) bool {
	n := &s.notes
	cfg, err := pgConfig(s.path)
	if err != nil {
		return false
	}
	if cfg.RuntimeParams["application_name"] == "linkdesk" {
		cfg.RuntimeParams["application_name"] = "linkdesk listen" // easy to tell apart in pg_stat_activity
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return false
	}
	n.pid.Store(conn.PgConn().PID())
	defer n.pid.Store(0)
	s.fire()          // anything committed while we were not listening
	n.connects.Add(1) // after the wake: a test that sees the count sees the wake done
	for {
		note, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true
		}
		n.received.Add(1)
		s.fire(strings.Split(note.Payload, ",")...)
	}
}

// stopListening ends the LISTEN loop, if one runs (Close).
func (s *Store) stopListening() {
	n := &s.notes
	n.mu.Lock()
	stop, done := n.stop, n.done
	n.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}
