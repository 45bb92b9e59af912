package db

import (
	"context"
	"database/sql"
	"strings"
	"sync"
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
	// TopicData: finished jobs stored what they fetched (snapshots, pay
	// items).
	TopicData = "data"
)

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
	startListener := s.d.name == pgDialect.name && !n.listening
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
// channel and fires what arrives, until ctx ends; after a lost connection
// it reconnects (waiting a little longer each time, up to 5 s) and wakes
// every subscriber, since notifications may have been missed meanwhile.
func (s *Store) listen(ctx context.Context, done chan struct{}) {
	defer close(done)
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		_ = err // the loop only reconnects; subscribers poll slowly meanwhile
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
		s.fire()
	}
}

func (s *Store) listenOnce(ctx context.Context) error {
	cfg, err := pgConfig(s.path)
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return err
	}
	s.fire() // anything committed while we were not listening
	for {
		note, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
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
