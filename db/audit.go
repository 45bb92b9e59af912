package db

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"
)

// The audit trail: append-only rows, each chained to the one before by a
// hash keyed with the audit key (LINKDESK_AUDIT_KEY), so that nobody
// without the key can change, remove or re-hash a row unnoticed; the head
// of the chain is published outside the database (the anchor file) after
// every commit that appended rows, so that removing the newest rows is
// caught too. The database refuses UPDATE and DELETE on the trail
// (migrations/040_audit_trail.sql).
//
// Each row's hash is HMAC-SHA-256 under the audit key of its canonical
// form: the previous row's hash, then its own fields, each written as
// "<length>:<value>\n" in a fixed order, so that no two different rows
// share a preimage. Rows written before the key existed were hashed with
// plain SHA-256 of the same form (scheme "sha256"); the first time a key
// is available, Linkdesk appends one keyed row, audit.chain_keyed, that
// links to the last of them, so they stay verifiable and become as
// tamper-evident as keyed rows: changing one breaks the link the keyed row
// seals. See audit_verify.go for the rules a verifier applies.

// Actor is who performs a state change, as recorded in the audit trail.
// StaffID is 0 for anonymous actions (a failed sign-in for an unknown email).
type Actor struct {
	StaffID   int64
	Email     string
	IP        string
	UserAgent string
}

// SystemActor is Linkdesk itself: background jobs and start-up.
var SystemActor = Actor{Email: "system", IP: "local"}

// AuditEntry is one row of the append-only audit trail.
type AuditEntry struct {
	ID         int64
	At         time.Time
	ActorID    int64
	ActorEmail string
	Action     string
	TargetType string
	TargetID   string
	IP         string
	UserAgent  string
	Detail     string // JSON object
	PrevHash   string
	Hash       string
	// ActorName and TargetName are the staff members' names (reads that
	// join staff fill them; they are not part of the row).
	ActorName, TargetName string
}

// Audit actions written by the foundation. Later features add their own,
// each beside its use case, and every one has a line in the catalogue
// (audit_actions.go).
const (
	ActionSignIn         = "staff.sign_in"
	ActionSignInFailed   = "staff.sign_in_failed"
	ActionSignOut        = "staff.sign_out"
	ActionStaffCreated   = "staff.created"
	ActionStaffUpdated   = "staff.updated"
	ActionPasswordChange = "staff.password_changed"
	ActionPasswordReset  = "staff.password_reset"
)

// Audit actions of the chain itself.
const (
	// ActionChainKeyed seals the rows hashed before the key existed.
	ActionChainKeyed = "audit.chain_keyed"
	// ActionChainKeyChanged moves the chain from a generated key kept in
	// the database to a configured one.
	ActionChainKeyChanged = "audit.key_changed"
	// ActionChainVerified records a verification (Verify now, the daily
	// check).
	ActionChainVerified = "audit.chain_verified"
)

// Hash schemes of the chain.
const (
	// SchemeSHA256 is the unkeyed scheme of rows written before the key.
	SchemeSHA256 = "sha256"
	// SchemeHMAC is HMAC-SHA-256 under the audit key.
	SchemeHMAC = "hmac-sha256"
)

// Audit actions of account health (the monitoring board, alerts and their
// notifications, reconciliation); their lines are in AuditActions.
const (
	ActionReconnectBatchCreated  = "reconnect.batch_created"
	ActionReconnectExported      = "reconnect.exported"
	ActionAlertAcknowledged      = "alert.acknowledged"
	ActionAlertSnoozed           = "alert.snoozed"
	ActionAlertResolved          = "alert.resolved"
	ActionAlertSettingsUpdated   = "alert.settings_updated"
	ActionDestinationCreated     = "alert.destination_created"
	ActionDestinationUpdated     = "alert.destination_updated"
	ActionDestinationTested      = "alert.destination_tested"
	ActionReconcileRequested     = "account.reconcile_requested"
	ActionAccountReconciled      = "account.reconciled"
	ActionAccountReconcileRefuse = "account.reconcile_refused"
)

// genesisHash is the prev_hash of the first row.
const genesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// AuditKeySize is the length of the audit key.
const AuditKeySize = 32

// Settings rows of the audit key: the generated key (emulator mode, no
// configured key) and the id of the key new rows are hashed with.
const (
	settingAuditKey   = "audit_key"
	settingAuditKeyID = "audit_key_id"
)

// ErrNoAuditKey means the Store has no audit key, so it cannot append to
// the trail: a tool opened a database without LINKDESK_AUDIT_KEY and
// without a key kept in it.
var ErrNoAuditKey = errors.New("db: no audit key: set LINKDESK_AUDIT_KEY to the key linkdesk serve uses")

// ChainHead is the newest row of the trail: what the anchor file and every
// export publish.
type ChainHead struct {
	Seq  int64     `json:"sequence"`
	Hash string    `json:"hash"`
	At   time.Time `json:"at"`
}

// AuditKeys are the keys a verifier knows, by key id, and the one new
// rows are hashed with.
type AuditKeys struct {
	// Current hashes new rows ("" when the Store has no key).
	Current string
	byID    map[string][]byte
}

// NewAuditKeys returns the ring of the given keys; the first is current.
func NewAuditKeys(keys ...[]byte) (*AuditKeys, error) {
	k := &AuditKeys{byID: map[string][]byte{}}
	for _, key := range keys {
		if key == nil {
			continue
		}
		if len(key) != AuditKeySize {
			return nil, fmt.Errorf("db: the audit key must be %d bytes, got %d", AuditKeySize, len(key))
		}
		id := AuditKeyID(key)
		k.byID[id] = key
		if k.Current == "" {
			k.Current = id
		}
	}
	return k, nil
}

// ParseAuditKey reads LINKDESK_AUDIT_KEY: 64 hex characters.
func ParseAuditKey(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != AuditKeySize {
		return nil, fmt.Errorf("want %d hex characters (%d bytes)", 2*AuditKeySize, AuditKeySize)
	}
	return b, nil
}

// AuditKeyID names a key without revealing it.
func AuditKeyID(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("linkdesk audit key id"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// key returns the key with id.
func (k *AuditKeys) key(id string) []byte {
	if k == nil {
		return nil
	}
	return k.byID[id]
}

// Has reports whether the ring knows the key with id.
func (k *AuditKeys) Has(id string) bool { return k.key(id) != nil }

// Signer is the Ed25519 key that signs evidence packs and exports, derived
// from the current audit key: a pack can then be checked offline with the
// public key alone (shown on /audit), or with the audit key.
func (k *AuditKeys) Signer() ed25519.PrivateKey { return signerOf(k.key(k.Current)) }

// PublicKeys are the Ed25519 public keys of every audit key of the ring.
func (k *AuditKeys) PublicKeys() []ed25519.PublicKey {
	if k == nil {
		return nil
	}
	var out []ed25519.PublicKey
	for _, key := range k.byID {
		out = append(out, signerOf(key).Public().(ed25519.PublicKey))
	}
	return out
}

func signerOf(key []byte) ed25519.PrivateKey {
	if key == nil {
		return nil
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("linkdesk evidence signing key"))
	return ed25519.NewKeyFromSeed(m.Sum(nil))
}

// chainRow is a row as stored (times as text): the input of its hash.
// Fields are bytes so that verification hashes rows straight from the
// driver's buffers.
type chainRow struct {
	ID, ActorID                        int64
	At, ActorEmail, Action, TargetType []byte
	TargetID, IP, UserAgent, Detail    []byte
	PrevHash, Hash                     []byte
}

func (e AuditEntry) chainRow() chainRow {
	return chainRow{ID: e.ID, At: []byte(FormatTime(e.At)), ActorID: e.ActorID, ActorEmail: []byte(e.ActorEmail), Action: []byte(e.Action),
		TargetType: []byte(e.TargetType), TargetID: []byte(e.TargetID), IP: []byte(e.IP), UserAgent: []byte(e.UserAgent),
		Detail: []byte(e.Detail), PrevHash: []byte(e.PrevHash), Hash: []byte(e.Hash)}
}

// canonical appends the row's canonical form to b: the previous hash, then
// the row's fields, each as "<length>:<value>\n".
func (r *chainRow) canonical(b []byte) []byte {
	var num [20]byte
	b = appendField(b, r.PrevHash)
	b = appendField(b, strconv.AppendInt(num[:0], r.ID, 10))
	b = appendField(b, r.At)
	b = appendField(b, strconv.AppendInt(num[:0], r.ActorID, 10))
	for _, f := range [...][]byte{r.ActorEmail, r.Action, r.TargetType, r.TargetID, r.IP, r.UserAgent, r.Detail} {
		b = appendField(b, f)
	}
	return b
}

func appendField(b, f []byte) []byte {
	b = strconv.AppendInt(b, int64(len(f)), 10)
	b = append(b, ':')
	b = append(b, f...)
	return append(b, '\n')
}

// hasher computes row hashes with reused buffers: one per goroutine.
type hasher struct {
	buf    []byte
	digest []byte
	out    []byte
	macs   map[string]hash.Hash
	keys   *AuditKeys
}

func newHasher(keys *AuditKeys) *hasher {
	return &hasher{keys: keys, macs: map[string]hash.Hash{}}
}

// sum returns the row's hash under scheme (and key id for SchemeHMAC) as
// hex, in a buffer reused by the next call; nil when the key is unknown.
func (h *hasher) sum(r *chainRow, scheme, keyID string) []byte {
	h.buf = r.canonical(h.buf[:0])
	switch scheme {
	case SchemeSHA256:
		s := sha256.Sum256(h.buf)
		h.digest = append(h.digest[:0], s[:]...)
	default:
		m, ok := h.macs[keyID]
		if !ok {
			key := h.keys.key(keyID)
			if key == nil {
				return nil
			}
			m = hmac.New(sha256.New, key)
			h.macs[keyID] = m
		}
		m.Reset()
		m.Write(h.buf)
		h.digest = m.Sum(h.digest[:0])
	}
	h.out = hex.AppendEncode(h.out[:0], h.digest)
	return h.out
}

// auditChain is the Store's side of the trail: its keys, the anchor file,
// and the heads appended by transactions not yet committed.
type auditChain struct {
	keys   *AuditKeys
	anchor string

	mu        sync.Mutex
	pending   map[*sql.Tx]ChainHead
	anchorErr error
}

// AnchorPath is the anchor file the Store publishes the chain head to.
func (s *Store) AnchorPath() string { return s.chain.anchor }

// AuditKeys returns the Store's audit keys (for exports, packs and
// verification).
func (s *Store) AuditKeys() *AuditKeys { return s.chain.keys }

// AnchorError is the last failure to write the anchor file (nil when the
// last write succeeded).
func (s *Store) AnchorError() error {
	s.chain.mu.Lock()
	defer s.chain.mu.Unlock()
	return s.chain.anchorErr
}

// initAudit sets up the audit keys and the anchor file, and makes the
// chain keyed: a first key seals the unkeyed rows of an older trail
// (audit.chain_keyed); a configured key replacing the generated one kept
// in the database, or an older configured key (a rotation: the new key
// first in LINKDESK_AUDIT_KEY, the old one after it), is recorded as
// audit.key_changed. A configured key that neither is the chain's key nor
// replaces a key the Store holds is refused: the rows hashed before it
// could not be verified.
func (s *Store) initAudit(ctx context.Context, configured []byte, old [][]byte, generate bool, anchor string) error {
	s.chain = &auditChain{anchor: defaultAnchor(s.path, anchor), pending: map[*sql.Tx]ChainHead{}}
	if configured != nil && len(configured) != AuditKeySize {
		return fmt.Errorf("db: the audit key must be %d bytes, got %d", AuditKeySize, len(configured))
	}
	var stored string
	var err error
	if configured == nil && generate {
		stored, err = s.SettingOrCreate(ctx, settingAuditKey, func() (string, error) { return RandomHex(AuditKeySize), nil })
	} else if stored, err = s.Setting(ctx, settingAuditKey); errors.Is(err, ErrNotFound) {
		stored, err = "", nil
	}
	if err != nil {
		return err
	}
	var kept []byte
	if stored != "" {
		if kept, err = hex.DecodeString(stored); err != nil || len(kept) != AuditKeySize {
			return errors.New("db: the stored audit key is not 32 bytes of hex")
		}
	}
	if s.chain.keys, err = NewAuditKeys(slices.Concat([][]byte{configured}, old, [][]byte{kept})...); err != nil {
		return err
	}
	if s.chain.keys.Current == "" {
		return nil // a read-only tool: it may verify with keys it is given
	}
	if configured == nil {
		// Only the kept key: if the trail has moved to a configured key,
		// this Store reads and verifies but cannot append (a tool run
		// without LINKDESK_AUDIT_KEY).
		cur, err := s.Setting(ctx, settingAuditKeyID)
		if err == nil && cur != s.chain.keys.Current {
			s.chain.keys.Current = ""
			return nil
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var cur string
		err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, settingAuditKeyID).Scan(&cur)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		id := s.chain.keys.Current
		switch {
		case cur == id:
			return nil
		case cur == "":
			var rows int64
			var last string
			err := tx.QueryRowContext(ctx, `SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&rows, &last)
			switch {
			case err == nil:
				if err := s.appendAudit(ctx, tx, SystemActor, ActionChainKeyed, "audit", "", map[string]any{
					"scheme": SchemeHMAC, "key_id": id, "unkeyed_rows": rows, "unkeyed_scheme": SchemeSHA256, "last_unkeyed_hash": last,
				}); err != nil {
					return err
				}
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
		case s.chain.keys.Has(cur):
			if err := s.appendAudit(ctx, tx, SystemActor, ActionChainKeyChanged, "audit", "", map[string]any{
				"scheme": SchemeHMAC, "from_key_id": cur, "to_key_id": id,
			}); err != nil {
				return err
			}
		default:
			return fmt.Errorf("db: LINKDESK_AUDIT_KEY (key id %s) is not the key this database's audit trail is hashed with (key id %s)", id, cur)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, settingAuditKeyID, id, FormatTime(s.now()))
		return err
	})
}

// initReadOnly sets up the keys of a read-only Store (a check): the
// configured key and the one kept in the database, if any; nothing is
// written.
func (s *Store) initReadOnly(ctx context.Context, configured []byte, old [][]byte, anchor string) error {
	s.chain = &auditChain{anchor: defaultAnchor(s.path, anchor), pending: map[*sql.Tx]ChainHead{}}
	var kept []byte
	if v, err := s.Setting(ctx, settingAuditKey); err == nil {
		if kept, err = hex.DecodeString(v); err != nil || len(kept) != AuditKeySize {
			return errors.New("db: the stored audit key is not 32 bytes of hex")
		}
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	var err error
	s.chain.keys, err = NewAuditKeys(slices.Concat([][]byte{configured}, old, [][]byte{kept})...)
	return err
}

// appendAudit writes one audit row inside tx, chained to the previous row.
// It is the only writer of audit_log. Appends are serialized, so reading
// the last hash and inserting cannot interleave with another append and
// the chain's order is total: on SQLite by the single writer connection
// (transactions are IMMEDIATE), on PostgreSQL by the dialect's "audit"
// lock, held until the transaction ends, whatever instance writes. After
// the commit, s.tx publishes the new head to the anchor file.
func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, a Actor, action, targetType, targetID string, detail map[string]any) error {
	keys := s.chain.keys
	if keys == nil || keys.Current == "" {
		return ErrNoAuditKey
	}
	if detail == nil {
		detail = map[string]any{}
	}
	d, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("db: audit detail: %w", err)
	}
	if err := s.d.lock(ctx, tx, "audit"); err != nil {
		return fmt.Errorf("db: audit lock: %w", err)
	}
	prev := genesisHash
	var lastID int64
	err = tx.QueryRowContext(ctx, `SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&lastID, &prev)
	if err != nil && err != sql.ErrNoRows {
		return fmt.Errorf("db: audit last hash: %w", err)
	}
	at := s.now().UTC()
	e := AuditEntry{
		ID: lastID + 1, At: at, ActorID: a.StaffID, ActorEmail: a.Email,
		Action: action, TargetType: targetType, TargetID: targetID,
		IP: a.IP, UserAgent: truncate(a.UserAgent, 512), Detail: string(d), PrevHash: prev,
	}
	r := e.chainRow()
	e.Hash = string(newHasher(keys).sum(&r, SchemeHMAC, keys.Current))
	var actor any
	if a.StaffID != 0 {
		actor = a.StaffID
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO audit_log (id, at, actor_id, actor_email, action, target_type, target_id, ip, user_agent, detail, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, FormatTime(e.At), actor, e.ActorEmail, e.Action, e.TargetType, e.TargetID, e.IP, e.UserAgent, e.Detail, e.PrevHash, e.Hash)
	if err != nil {
		return fmt.Errorf("db: append audit: %w", err)
	}
	s.chain.mu.Lock()
	s.chain.pending[tx] = ChainHead{Seq: e.ID, Hash: e.Hash, At: at}
	s.chain.mu.Unlock()
	return s.changed(ctx, tx, TopicAudit)
}

// txDone is called by s.tx when tx ends: after a commit the head it
// appended (if any) is published to the anchor file; after a rollback it
// is forgotten.
func (s *Store) txDone(tx *sql.Tx, committed bool) {
	if s.chain == nil {
		return
	}
	s.chain.mu.Lock()
	head, ok := s.chain.pending[tx]
	delete(s.chain.pending, tx)
	s.chain.mu.Unlock()
	if ok && committed {
		s.publishHead(head)
	}
}

// AnchorLine is one line of the anchor file: a head of the chain and when
// it was published.
type AnchorLine struct {
	ChainHead
	PublishedAt time.Time `json:"published_at"`
}

// defaultAnchor is the anchor file of the database at path: the one
// configured, else the SQLite file's path + ".audit-anchor". A PostgreSQL
// database has no file beside it (and several instances may write it), so
// there the anchor is only what LINKDESK_AUDIT_ANCHOR names, per instance:
// each instance publishes the heads it appended, and a check against any
// of those files still catches rows removed after them. "" means none.
func defaultAnchor(path, configured string) string {
	if configured != "" || IsPostgresURL(path) {
		return configured
	}
	return path + ".audit-anchor"
}

// publishHead appends head to the anchor file and syncs it. A failure is
// kept (AnchorError, shown on /audit) rather than failing a change that
// has committed.
func (s *Store) publishHead(head ChainHead) {
	if s.chain.anchor == "" {
		return
	}
	line, _ := json.Marshal(AnchorLine{ChainHead: head, PublishedAt: s.now().UTC()})
	err := appendLine(s.chain.anchor, line)
	s.chain.mu.Lock()
	s.chain.anchorErr = err
	s.chain.mu.Unlock()
}

// appendLine appends line and a newline to the file at path, creating it
// (mode 0600), and syncs it.
func appendLine(path string, line []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("db: anchor file: %w", err)
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("db: anchor file: %w", err)
	}
	return nil
}

// ChainHead returns the newest row of the trail (the zero head of an empty
// trail).
func (s *Store) ChainHead(ctx context.Context) (ChainHead, error) {
	return chainHead(ctx, s.r)
}

func chainHead(ctx context.Context, q readQuerier) (ChainHead, error) {
	var h ChainHead
	var at string
	err := q.QueryRowContext(ctx, `SELECT id, hash, at FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&h.Seq, &h.Hash, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return ChainHead{Hash: genesisHash}, nil
	}
	if err != nil {
		return ChainHead{}, fmt.Errorf("db: chain head: %w", err)
	}
	h.At = ParseTime(at)
	return h, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
