package sandbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// errNotFound is returned by store lookups that find no row.
var errNotFound = errors.New("sandbox: not found")

// store is the emulator's own state: one SQLite file, never Linkdesk's tables.
type store struct {
	db *sql.DB
}

// migrations are applied in order, each once, in its own transaction; their
// index is recorded in schema_migrations. Forward-only: fix mistakes with a
// new entry.
var migrations = []string{
	`CREATE TABLE link_tokens (
		id TEXT PRIMARY KEY,
		created_at TEXT NOT NULL,
		expires_at TEXT NOT NULL,
		spec TEXT NOT NULL,
		used_at TEXT
	);
	CREATE TABLE end_users (
		id TEXT PRIMARY KEY,
		created_at TEXT NOT NULL
	);
	CREATE TABLE accounts (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		id TEXT NOT NULL UNIQUE,
		end_user_id TEXT NOT NULL REFERENCES end_users(id),
		platform_id TEXT NOT NULL,
		employer_id TEXT NOT NULL DEFAULT '',
		username TEXT NOT NULL,
		link_token_id TEXT NOT NULL,
		jobs TEXT NOT NULL,
		tags TEXT NOT NULL DEFAULT 'null',
		connected INTEGER NOT NULL DEFAULT 1,
		monitoring_status TEXT NOT NULL,
		created_at TEXT NOT NULL,
		data_updated_at TEXT NOT NULL DEFAULT '{}',
		data_refreshed_at TEXT NOT NULL DEFAULT '{}',
		synced_through TEXT NOT NULL
	);
	CREATE UNIQUE INDEX accounts_end_user_platform ON accounts(end_user_id, platform_id);
	CREATE TABLE allocations (
		account_id TEXT PRIMARY KEY REFERENCES accounts(id),
		id TEXT NOT NULL,
		created_at TEXT NOT NULL,
		updated_at TEXT NOT NULL,
		allocations TEXT NOT NULL
	);
	CREATE TABLE sessions (
		id TEXT PRIMARY KEY,
		token_id TEXT NOT NULL REFERENCES link_tokens(id),
		created_at TEXT NOT NULL,
		state TEXT NOT NULL
	);
	CREATE TABLE webhooks (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		id TEXT NOT NULL UNIQUE,
		url TEXT NOT NULL,
		status TEXT NOT NULL,
		enabled_events TEXT NOT NULL,
		version TEXT NOT NULL,
		customer_id TEXT,
		created_at TEXT NOT NULL,
		last_updated TEXT NOT NULL
	);
	CREATE TABLE deliveries (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		event_id TEXT NOT NULL,
		event TEXT NOT NULL,
		webhook_id TEXT NOT NULL,
		account_id TEXT NOT NULL,
		body BLOB NOT NULL,
		state TEXT NOT NULL DEFAULT 'pending',
		attempts INTEGER NOT NULL DEFAULT 0,
		next_at INTEGER NOT NULL,
		last_error TEXT NOT NULL DEFAULT '',
		created_at TEXT NOT NULL,
		delivered_at TEXT
	);
	CREATE INDEX deliveries_pending ON deliveries(state, webhook_id, id);
	CREATE TABLE tasks (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		kind TEXT NOT NULL,
		run_at INTEGER NOT NULL,
		data TEXT NOT NULL,
		done INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX tasks_due ON tasks(done, run_at);`,
	// 1: jobs for GET /v1/jobs; redeliveries of untidy delivery.
	`CREATE TABLE jobs (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		id TEXT NOT NULL UNIQUE,
		name TEXT NOT NULL,
		account_id TEXT NOT NULL,
		link_token_id TEXT NOT NULL,
		platform_id TEXT NOT NULL,
		outcome TEXT NOT NULL,
		error_type TEXT,
		error_code TEXT,
		at TEXT NOT NULL,
		at_us INTEGER NOT NULL,
		params_old TEXT NOT NULL,
		params_new TEXT NOT NULL
	);
	CREATE INDEX jobs_account ON jobs(account_id, seq);
	CREATE INDEX jobs_token ON jobs(link_token_id, seq);
	ALTER TABLE deliveries ADD COLUMN redelivery_of INTEGER;`,
	// 2: pay histories (paydata.go): each account's pay profile, profiles
	// preset for an end user before their account exists, paystubs added
	// and deleted through the emulator-only knobs.
	`ALTER TABLE accounts ADD COLUMN pay_profile TEXT NOT NULL DEFAULT '';
	CREATE TABLE pay_presets (
		end_user_id TEXT NOT NULL,
		platform_id TEXT NOT NULL,
		profile TEXT NOT NULL,
		created_at TEXT NOT NULL,
		PRIMARY KEY (end_user_id, platform_id)
	);
	CREATE TABLE extra_paystubs (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		account_id TEXT NOT NULL REFERENCES accounts(id),
		item_id TEXT NOT NULL,
		pay_date TEXT NOT NULL,
		overrides TEXT NOT NULL,
		added_at TEXT NOT NULL
	);
	CREATE INDEX extra_paystubs_account ON extra_paystubs(account_id, seq);
	CREATE TABLE deleted_paystubs (
		account_id TEXT NOT NULL REFERENCES accounts(id),
		item_id TEXT NOT NULL,
		deleted_at TEXT NOT NULL,
		PRIMARY KEY (account_id, item_id)
	);`,
	// 3: emulator-only delivery rules (knobs.go); a dropped delivery keeps
	// state 'dropped' and the rule that dropped or delayed it.
	`CREATE TABLE delivery_rules (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		action TEXT NOT NULL,
		event TEXT NOT NULL,
		account_id TEXT NOT NULL DEFAULT '',
		delay_ms INTEGER NOT NULL DEFAULT 0,
		remaining INTEGER NOT NULL DEFAULT 0,
		matched INTEGER NOT NULL DEFAULT 0,
		created_at TEXT NOT NULL
	);
	ALTER TABLE deliveries ADD COLUMN rule_id INTEGER;
	ALTER TABLE deliveries ADD COLUMN bad_signature INTEGER NOT NULL DEFAULT 0;`,
}

// openStore opens (creating if needed) and migrates the SQLite file at path.
// The pragmas live in the DSN so every pooled connection gets them.
func openStore(ctx context.Context, path string) (*store, error) {
	dsn := "file:" + path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sandbox: open state: %w", err)
	}
	// Bound the pool: every modernc connection carries its own page cache,
	// and writers queue on SQLite's lock anyway.
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	s := &store{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *store) close() error { return s.db.Close() }

func (s *store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (n INTEGER PRIMARY KEY)`); err != nil {
		return fmt.Errorf("sandbox: migrate: %w", err)
	}
	for i, m := range migrations {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			var n int
			err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE n = ?`, i).Scan(&n)
			if err != nil || n > 0 {
				return err
			}
			if _, err := tx.ExecContext(ctx, m); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (n) VALUES (?)`, i)
			return err
		})
		if err != nil {
			return fmt.Errorf("sandbox: migrate %d: %w", i, err)
		}
	}
	return nil
}

// tx runs fn in a write transaction.
func (s *store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// dbTime and parseDBTime store timestamps as RFC 3339 UTC with nanoseconds.
func dbTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseDBTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// ---- link tokens ----

func (s *store) insertToken(ctx context.Context, spec *tokenSpec) error {
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx,
		`INSERT INTO link_tokens (id, created_at, expires_at, spec) VALUES (?, ?, ?, ?)`,
		spec.ID, dbTime(spec.CreatedAt), dbTime(spec.ExpiresAt), string(b))
	if err != nil {
		return fmt.Errorf("sandbox: insert token: %w", err)
	}
	return nil
}

// tokenRow is a stored link token with its use state.
type tokenRow struct {
	Spec tokenSpec
	Used bool
}

func (s *store) token(ctx context.Context, q querier, id string) (*tokenRow, error) {
	var spec string
	var used sql.NullString
	err := q.QueryRowContext(ctx, `SELECT spec, used_at FROM link_tokens WHERE id = ?`, id).Scan(&spec, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox: token %s: %w", id, err)
	}
	var t tokenRow
	if err := json.Unmarshal([]byte(spec), &t.Spec); err != nil {
		return nil, fmt.Errorf("sandbox: token %s: %w", id, err)
	}
	t.Used = used.Valid
	return &t, nil
}

// errTokenUsed is returned when a token was already consumed by another session.
var errTokenUsed = errors.New("sandbox: link token already used")

// consumeToken marks the token used; the conditional UPDATE decides races.
func consumeToken(ctx context.Context, tx *sql.Tx, id string, now time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE link_tokens SET used_at = ? WHERE id = ? AND used_at IS NULL`, dbTime(now), id)
	if err != nil {
		return fmt.Errorf("sandbox: consume token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errTokenUsed
	}
	return nil
}

// querier is satisfied by *sql.DB and *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// ---- sessions ----

func (s *store) saveSession(ctx context.Context, q querier, st *sessionState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx,
		`INSERT INTO sessions (id, token_id, created_at, state) VALUES (?, ?, ?, ?)
		 ON CONFLICT (id) DO UPDATE SET state = excluded.state`,
		st.ID, st.TokenID, dbTime(st.CreatedAt), string(b))
	if err != nil {
		return fmt.Errorf("sandbox: save session: %w", err)
	}
	return nil
}

func (s *store) session(ctx context.Context, id string) (*sessionState, error) {
	var state string
	err := s.db.QueryRowContext(ctx, `SELECT state FROM sessions WHERE id = ?`, id).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox: session %s: %w", id, err)
	}
	var st sessionState
	if err := json.Unmarshal([]byte(state), &st); err != nil {
		return nil, fmt.Errorf("sandbox: session %s: %w", id, err)
	}
	return &st, nil
}

// ---- accounts ----

// account is a stored payroll account.
type account struct {
	Seq              int64
	ID               string
	EndUserID        string
	PlatformID       string
	EmployerID       string
	Username         string
	LinkTokenID      string
	Jobs             []string
	Tags             map[string]string
	Connected        bool
	MonitoringStatus string
	CreatedAt        time.Time
	DataUpdatedAt    map[string]time.Time
	DataRefreshedAt  map[string]time.Time
	// SyncedThrough is the newest date whose paystubs and shifts were reported.
	SyncedThrough time.Time
	// Pay is the pay profile preset for the account; nil means the one
	// generated from its id (paydata.go).
	Pay *PayProfile
	// Extras and Deleted are the paystubs the emulator-only knobs added
	// and deleted; loaded by loadPayExtras where paystubs are served.
	Extras  []extraPaystub
	Deleted map[string]time.Time
}

const accountCols = `seq, id, end_user_id, platform_id, employer_id, username, link_token_id, jobs, tags,
	connected, monitoring_status, created_at, data_updated_at, data_refreshed_at, synced_through, pay_profile`

func scanAccount(sc interface{ Scan(...any) error }) (*account, error) {
	var a account
	var jobs, tags, created, upd, ref, synced, pay string
	err := sc.Scan(&a.Seq, &a.ID, &a.EndUserID, &a.PlatformID, &a.EmployerID, &a.Username, &a.LinkTokenID,
		&jobs, &tags, &a.Connected, &a.MonitoringStatus, &created, &upd, &ref, &synced, &pay)
	if err != nil {
		return nil, err
	}
	if pay != "" {
		var p PayProfile
		if json.Unmarshal([]byte(pay), &p) == nil {
			a.Pay = &p
		}
	}
	a.CreatedAt = parseDBTime(created)
	a.SyncedThrough = parseDBTime(synced)
	_ = json.Unmarshal([]byte(jobs), &a.Jobs)
	_ = json.Unmarshal([]byte(tags), &a.Tags)
	_ = json.Unmarshal([]byte(upd), &a.DataUpdatedAt)
	_ = json.Unmarshal([]byte(ref), &a.DataRefreshedAt)
	return &a, nil
}

func (s *store) account(ctx context.Context, q querier, id string) (*account, error) {
	a, err := scanAccount(q.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox: account %s: %w", id, err)
	}
	return a, nil
}

func accountByUserPlatform(ctx context.Context, tx *sql.Tx, endUserID, platformID string) (*account, error) {
	a, err := scanAccount(tx.QueryRowContext(ctx,
		`SELECT `+accountCols+` FROM accounts WHERE end_user_id = ? AND platform_id = ?`, endUserID, platformID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox: account by user: %w", err)
	}
	return a, nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func insertAccount(ctx context.Context, tx *sql.Tx, a *account) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO end_users (id, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING`,
		a.EndUserID, dbTime(a.CreatedAt)); err != nil {
		return fmt.Errorf("sandbox: insert end user: %w", err)
	}
	pay := ""
	if a.Pay != nil {
		pay = mustJSON(a.Pay)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO accounts (id, end_user_id, platform_id, employer_id, username,
		link_token_id, jobs, tags, connected, monitoring_status, created_at, data_updated_at, data_refreshed_at, synced_through, pay_profile)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.EndUserID, a.PlatformID, a.EmployerID, a.Username, a.LinkTokenID, mustJSON(a.Jobs), mustJSON(a.Tags),
		a.Connected, a.MonitoringStatus, dbTime(a.CreatedAt), mustJSON(a.DataUpdatedAt), mustJSON(a.DataRefreshedAt),
		dbTime(a.SyncedThrough), pay)
	if err != nil {
		return fmt.Errorf("sandbox: insert account: %w", err)
	}
	a.Seq, _ = res.LastInsertId()
	return nil
}

// updateAccount writes the mutable fields of a.
func updateAccount(ctx context.Context, tx *sql.Tx, a *account) error {
	_, err := tx.ExecContext(ctx, `UPDATE accounts SET username = ?, jobs = ?, connected = ?, monitoring_status = ?,
		data_updated_at = ?, data_refreshed_at = ?, synced_through = ? WHERE id = ?`,
		a.Username, mustJSON(a.Jobs), a.Connected, a.MonitoringStatus, mustJSON(a.DataUpdatedAt),
		mustJSON(a.DataRefreshedAt), dbTime(a.SyncedThrough), a.ID)
	if err != nil {
		return fmt.Errorf("sandbox: update account %s: %w", a.ID, err)
	}
	return nil
}

// accountFilter selects accounts for list endpoints; zero fields are unset.
type accountFilter struct {
	EndUserID        *string
	Connected        *bool
	MonitoringStatus *string
	BeforeSeq        int64 // keyset cursor: only seq < BeforeSeq (0 = from the newest)
	Limit            int
}

// listAccounts returns up to f.Limit+1 accounts, newest first, so the caller
// can tell whether a next page exists.
func (s *store) listAccounts(ctx context.Context, f accountFilter) ([]*account, error) {
	where, args := []string{"1 = 1"}, []any{}
	if f.EndUserID != nil {
		where, args = append(where, "end_user_id = ?"), append(args, *f.EndUserID)
	}
	if f.Connected != nil {
		where, args = append(where, "connected = ?"), append(args, *f.Connected)
	}
	if f.MonitoringStatus != nil {
		where, args = append(where, "monitoring_status = ?"), append(args, *f.MonitoringStatus)
	}
	if f.BeforeSeq > 0 {
		where, args = append(where, "seq < ?"), append(args, f.BeforeSeq)
	}
	args = append(args, f.Limit+1)
	rows, err := s.db.QueryContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE `+strings.Join(where, " AND ")+
		` ORDER BY seq DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("sandbox: list accounts: %w", err)
	}
	defer rows.Close()
	var out []*account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("sandbox: list accounts: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ---- allocations (the only data snapshot that changes) ----

// allocationSet is the stored direct deposit allocation snapshot of an account.
type allocationSet struct {
	ID          string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Allocations []allocation
}

// allocation is one direct deposit allocation row.
type allocation struct {
	AccountName         string   `json:"account_name"`
	AccountType         string   `json:"account_type"`
	AllocationType      string   `json:"allocation_type"`
	Amount              *int64   `json:"amount"`
	BankName            *string  `json:"bank_name"`
	Currency            string   `json:"currency"`
	MaskedAccountNumber string   `json:"masked_account_number"`
	Percentage          *float64 `json:"percentage"`
	Priority            int      `json:"priority"`
	RoutingNumber       string   `json:"routing_number"`
}

func (s *store) allocations(ctx context.Context, q querier, accountID string) (*allocationSet, error) {
	var a allocationSet
	var created, updated, data string
	err := q.QueryRowContext(ctx, `SELECT id, created_at, updated_at, allocations FROM allocations WHERE account_id = ?`,
		accountID).Scan(&a.ID, &created, &updated, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox: allocations %s: %w", accountID, err)
	}
	a.CreatedAt, a.UpdatedAt = parseDBTime(created), parseDBTime(updated)
	if err := json.Unmarshal([]byte(data), &a.Allocations); err != nil {
		return nil, fmt.Errorf("sandbox: allocations %s: %w", accountID, err)
	}
	return &a, nil
}

func saveAllocations(ctx context.Context, tx *sql.Tx, accountID string, a *allocationSet) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO allocations (account_id, id, created_at, updated_at, allocations)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET updated_at = excluded.updated_at,
		allocations = excluded.allocations`,
		accountID, a.ID, dbTime(a.CreatedAt), dbTime(a.UpdatedAt), mustJSON(a.Allocations))
	if err != nil {
		return fmt.Errorf("sandbox: save allocations: %w", err)
	}
	return nil
}

// ---- webhooks ----

// webhook is a registered webhook subscription.
type webhook struct {
	Seq           int64
	ID            string
	URL           string
	Status        string
	EnabledEvents []string
	Version       string
	CustomerID    *string
	CreatedAt     time.Time
	LastUpdated   time.Time
}

const webhookCols = `seq, id, url, status, enabled_events, version, customer_id, created_at, last_updated`

func scanWebhook(sc interface{ Scan(...any) error }) (*webhook, error) {
	var w webhook
	var events, created, updated string
	var customer sql.NullString
	if err := sc.Scan(&w.Seq, &w.ID, &w.URL, &w.Status, &events, &w.Version, &customer, &created, &updated); err != nil {
		return nil, err
	}
	_ = json.Unmarshal([]byte(events), &w.EnabledEvents)
	if customer.Valid {
		w.CustomerID = &customer.String
	}
	w.CreatedAt, w.LastUpdated = parseDBTime(created), parseDBTime(updated)
	return &w, nil
}

// maxWebhooks is Pinwheel's documented quota per API key.
const maxWebhooks = 10

// errWebhookQuota is returned when an 11th webhook is created.
var errWebhookQuota = errors.New("sandbox: webhook quota reached")

func (s *store) createWebhook(ctx context.Context, w *webhook) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhooks`).Scan(&n); err != nil {
			return err
		}
		if n >= maxWebhooks {
			return errWebhookQuota
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO webhooks (id, url, status, enabled_events, version, customer_id,
			created_at, last_updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			w.ID, w.URL, w.Status, mustJSON(w.EnabledEvents), w.Version, w.CustomerID, dbTime(w.CreatedAt),
			dbTime(w.LastUpdated))
		if err != nil {
			return fmt.Errorf("sandbox: create webhook: %w", err)
		}
		w.Seq, _ = res.LastInsertId()
		return nil
	})
}

func (s *store) webhook(ctx context.Context, id string) (*webhook, error) {
	w, err := scanWebhook(s.db.QueryRowContext(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox: webhook %s: %w", id, err)
	}
	return w, nil
}

func (s *store) updateWebhook(ctx context.Context, w *webhook) error {
	res, err := s.db.ExecContext(ctx, `UPDATE webhooks SET url = ?, status = ?, enabled_events = ?, customer_id = ?,
		last_updated = ? WHERE id = ?`, w.URL, w.Status, mustJSON(w.EnabledEvents), w.CustomerID, dbTime(w.LastUpdated), w.ID)
	if err != nil {
		return fmt.Errorf("sandbox: update webhook: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errNotFound
	}
	return nil
}

// deleteWebhook removes the webhook and cancels its pending deliveries.
func (s *store) deleteWebhook(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("sandbox: delete webhook: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errNotFound
		}
		_, err = tx.ExecContext(ctx, `UPDATE deliveries SET state = 'cancelled' WHERE webhook_id = ? AND state = 'pending'`, id)
		return err
	})
}

// listWebhooks returns up to limit+1 webhooks with seq > afterSeq, oldest first.
func (s *store) listWebhooks(ctx context.Context, q querier, afterSeq int64, limit int) ([]*webhook, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE seq > ? ORDER BY seq LIMIT ?`,
		afterSeq, limit+1)
	if err != nil {
		return nil, fmt.Errorf("sandbox: list webhooks: %w", err)
	}
	defer rows.Close()
	var out []*webhook
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// ---- deliveries ----

// enqueue turns events into delivery rows, one per active webhook that
// enabled the event, each body rendered for that webhook's version. Untidy
// delivery holds some rows back (docs/sandbox.md#delivery).
func (e *Emulator) enqueue(ctx context.Context, tx *sql.Tx, events []*event) error {
	if len(events) == 0 {
		return nil
	}
	hooks, err := e.store.listWebhooks(ctx, tx, 0, maxWebhooks*10)
	if err != nil {
		return err
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO deliveries (event_id, event, webhook_id, account_id, body, next_at,
		created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	now := dbTime(e.now())
	wall := time.Now()
	rules, err := loadRules(ctx, tx)
	if err != nil {
		return err
	}
	for _, ev := range events {
		var rule *DeliveryRule
		for _, w := range hooks {
			if w.Status != "active" || !slices.Contains(w.EnabledEvents, ev.Name) {
				continue
			}
			if rule == nil && len(rules) > 0 {
				if rule, err = applyRule(ctx, tx, rules, ev); err != nil {
					return err
				}
			}
			var id int64
			if err := stmt.QueryRowContext(ctx, ev.ID, ev.Name, w.ID, ev.AccountID, ev.body(w.Version), wall.UnixMilli(),
				now).Scan(&id); err != nil {
				return fmt.Errorf("sandbox: enqueue: %w", err)
			}
			switch {
			case rule != nil && rule.Action == RuleDrop:
				if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = 'dropped', rule_id = ?, last_error = 'dropped by an emulator delivery rule' WHERE id = ?`,
					rule.ID, id); err != nil {
					return fmt.Errorf("sandbox: enqueue: %w", err)
				}
				continue
			case rule != nil && rule.Action == RuleBadSignature:
				if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET bad_signature = 1, rule_id = ? WHERE id = ?`, rule.ID, id); err != nil {
					return fmt.Errorf("sandbox: enqueue: %w", err)
				}
			case rule != nil && rule.Action == RuleDelay:
				if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET next_at = ?, rule_id = ? WHERE id = ?`, ruleDelayUntil(rule, wall), rule.ID, id); err != nil {
					return fmt.Errorf("sandbox: enqueue: %w", err)
				}
				continue
			}
			if d, ok := e.cfg.Delivery.holdBack(id); ok {
				if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET next_at = ? WHERE id = ?`, wall.Add(d).UnixMilli(), id); err != nil {
					return fmt.Errorf("sandbox: enqueue: %w", err)
				}
			}
		}
	}
	return nil
}

// delivery is one queued webhook delivery joined with its webhook.
type delivery struct {
	ID int64
	// RedeliveryOf is the delivery this one repeats (untidy delivery), or 0.
	RedeliveryOf int64
	EventID      string
	Event        string
	WebhookID    string
	AccountID    string
	Body         []byte
	Attempts     int
	NextAt       int64 // unix ms, wall clock
	URL          string
	Version      string
	// BadSignature: an emulator rule spoils its signature (knobs.go).
	BadSignature bool
}

// pendingDeliveries returns pending deliveries of one active webhook, in
// generation order, or (byDue) in the order they fall due.
func (s *store) pendingDeliveries(ctx context.Context, webhookID string, limit int, byDue bool) ([]*delivery, error) {
	order := "d.id"
	if byDue {
		order = "d.next_at, d.id"
	}
	rows, err := s.db.QueryContext(ctx, `SELECT d.id, COALESCE(d.redelivery_of, 0), d.event_id, d.event, d.webhook_id,
		d.account_id, d.body, d.attempts, d.next_at, w.url, w.version, d.bad_signature FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id
		WHERE d.state = 'pending' AND d.webhook_id = ? AND w.status = 'active' ORDER BY `+order+` LIMIT ?`, webhookID, limit)
	if err != nil {
		return nil, fmt.Errorf("sandbox: pending deliveries: %w", err)
	}
	defer rows.Close()
	var out []*delivery
	for rows.Next() {
		var d delivery
		if err := rows.Scan(&d.ID, &d.RedeliveryOf, &d.EventID, &d.Event, &d.WebhookID, &d.AccountID, &d.Body, &d.Attempts,
			&d.NextAt, &d.URL, &d.Version, &d.BadSignature); err != nil {
			return nil, err
		}
		out = append(out, &d)
	}
	return out, rows.Err()
}

// dueWebhooks returns the ids of active webhooks with a pending delivery due
// at or before nowMs, and the earliest future due time (0 if none).
func (s *store) dueWebhooks(ctx context.Context, nowMs int64) (due []string, next int64, err error) {
	rows, err := s.db.QueryContext(ctx, `SELECT d.webhook_id, MIN(d.next_at) FROM deliveries d
		JOIN webhooks w ON w.id = d.webhook_id WHERE d.state = 'pending' AND w.status = 'active' GROUP BY d.webhook_id`)
	if err != nil {
		return nil, 0, fmt.Errorf("sandbox: due webhooks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var at int64
		if err := rows.Scan(&id, &at); err != nil {
			return nil, 0, err
		}
		if at <= nowMs {
			due = append(due, id)
		} else if next == 0 || at < next {
			next = at
		}
	}
	return due, next, rows.Err()
}

func (s *store) markDelivered(ctx context.Context, id int64, attempts int, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE deliveries SET state = 'delivered', attempts = ?, delivered_at = ?,
		last_error = '' WHERE id = ?`, attempts, dbTime(now), id)
	return err
}

// redeliver queues a second delivery of d (same event and body) at nextAt.
func (s *store) redeliver(ctx context.Context, d *delivery, nextAt int64, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO deliveries (event_id, event, webhook_id, account_id, body, next_at,
		created_at, redelivery_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, d.EventID, d.Event, d.WebhookID, d.AccountID, d.Body,
		nextAt, dbTime(now), d.ID)
	return err
}

// markRetry records a failed attempt. With keepOrder (tidy delivery) a
// delivery that will be retried also holds back the later pending deliveries
// of the same webhook and account until its retry time, so an account's
// events keep their order.
func (s *store) markRetry(ctx context.Context, d *delivery, attempts int, nextAt int64, failed, keepOrder bool, lastErr string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		state := "pending"
		if failed {
			state = "failed"
		}
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = ?, attempts = ?, next_at = ?, last_error = ?
			WHERE id = ?`, state, attempts, nextAt, lastErr, d.ID); err != nil {
			return err
		}
		if failed || !keepOrder {
			return nil
		}
		_, err := tx.ExecContext(ctx, `UPDATE deliveries SET next_at = ? WHERE webhook_id = ? AND account_id = ?
			AND state = 'pending' AND id > ? AND next_at < ?`, nextAt, d.WebhookID, d.AccountID, d.ID, nextAt)
		return err
	})
}

// ---- delayed tasks ----

func insertTask(ctx context.Context, tx *sql.Tx, kind string, runAt time.Time, data any) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO tasks (kind, run_at, data) VALUES (?, ?, ?)`,
		kind, runAt.UnixMilli(), mustJSON(data))
	if err != nil {
		return fmt.Errorf("sandbox: insert task: %w", err)
	}
	return nil
}

// task is a delayed piece of work (e.g. a user_pending job flipping to error).
type task struct {
	ID   int64
	Kind string
	Data string
}

// dueTasks returns tasks due at nowMs and the earliest future run time.
func (s *store) dueTasks(ctx context.Context, nowMs int64) ([]task, int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, kind, data, run_at FROM tasks WHERE done = 0 ORDER BY run_at, id LIMIT 200`)
	if err != nil {
		return nil, 0, fmt.Errorf("sandbox: due tasks: %w", err)
	}
	defer rows.Close()
	var due []task
	var next int64
	for rows.Next() {
		var t task
		var at int64
		if err := rows.Scan(&t.ID, &t.Kind, &t.Data, &at); err != nil {
			return nil, 0, err
		}
		if at <= nowMs {
			due = append(due, t)
		} else if next == 0 || at < next {
			next = at
		}
	}
	return due, next, rows.Err()
}

func finishTask(ctx context.Context, tx *sql.Tx, id int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE tasks SET done = 1 WHERE id = ?`, id)
	return err
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
