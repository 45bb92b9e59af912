package loadgen

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"
	_ "modernc.org/sqlite" // the bare harness writes SQLite directly

	"linkdesk/pinwheel"
)

// Bare is the ceiling harness: an echo handler that reads the body,
// verifies the signature, takes event_id from the envelope and inserts the
// raw event with group commit (synchronous=FULL, one transaction per batch,
// the 200 after the commit) — and nothing else: no projection, no counters,
// no middleware. Linkdesk's full path is measured against it.
type Bare struct {
	db     *sql.DB
	secret string
	in     chan *bareItem
	e      *echo.Echo
}

type bareItem struct {
	id, body string
	done     chan error
}

// NewBare opens (creating) the harness database at path.
func NewBare(ctx context.Context, path, secret string) (*Bare, error) {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(5000)", "journal_mode(WAL)", "synchronous(FULL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	d, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	d.SetMaxOpenConns(1)
	if _, err := d.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, received_at TEXT NOT NULL, body TEXT NOT NULL)`); err != nil {
		d.Close()
		return nil, err
	}
	b := &Bare{db: d, secret: secret, in: make(chan *bareItem, 4096), e: echo.New()}
	b.e.HideBanner, b.e.HidePort = true, true
	b.e.POST("/webhooks/pinwheel", b.receive)
	return b, nil
}

// ServeHTTP serves POST /webhooks/pinwheel.
func (b *Bare) ServeHTTP(w http.ResponseWriter, r *http.Request) { b.e.ServeHTTP(w, r) }

// Close closes the database (after Run has returned).
func (b *Bare) Close() error { return b.db.Close() }

func (b *Bare) receive(c echo.Context) error {
	r := c.Request()
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
	if err != nil || len(body) > 1<<20 {
		return c.NoContent(http.StatusRequestEntityTooLarge)
	}
	if err := pinwheel.Verify(b.secret, r.Header.Get(pinwheel.HeaderSignature), r.Header.Get(pinwheel.HeaderTimestamp), body, time.Now(), 0); err != nil {
		return c.NoContent(http.StatusUnauthorized)
	}
	var env struct {
		EventID string `json:"event_id"`
	}
	if json.Unmarshal(body, &env) != nil || env.EventID == "" {
		return c.NoContent(http.StatusBadRequest)
	}
	it := &bareItem{id: env.EventID, body: string(body), done: make(chan error, 1)}
	b.in <- it
	if err := <-it.done; err != nil {
		return c.NoContent(http.StatusInternalServerError)
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "accepted"})
}

// Run is the committer: whatever queued up during the last commit goes into
// the next transaction (at most 256).
func (b *Bare) Run(ctx context.Context) error {
	stmt, err := b.db.PrepareContext(ctx, `INSERT INTO events (event_id, received_at, body) VALUES (?, ?, ?) ON CONFLICT (event_id) DO NOTHING`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	batch := make([]*bareItem, 0, 256)
	for {
		select {
		case <-ctx.Done():
			return nil
		case it := <-b.in:
			batch = append(batch[:0], it)
		}
	fill:
		for len(batch) < cap(batch) {
			select {
			case it := <-b.in:
				batch = append(batch, it)
			default:
				break fill
			}
		}
		err := b.commit(ctx, stmt, batch)
		for _, it := range batch {
			it.done <- err
		}
	}
}

func (b *Bare) commit(ctx context.Context, stmt *sql.Stmt, batch []*bareItem) error {
	tx, err := b.db.BeginTx(context.Background(), nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st := tx.StmtContext(ctx, stmt)
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z")
	for _, it := range batch {
		if _, err := st.ExecContext(context.Background(), it.id, now, it.body); err != nil {
			return fmt.Errorf("bare insert: %w", err)
		}
	}
	return tx.Commit()
}
