package db

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"
)

// Verification of the audit chain. A verifier walks the trail in sequence
// order and holds each row to these rules; the first row that breaks one
// is reported:
//
//   - rows are numbered 1, 2, 3, … without a gap (a gap is a removed row);
//   - each row's prev_hash is the previous row's hash (the first row's is
//     64 zeros);
//   - each row's hash is HMAC-SHA-256 under an audit key of its canonical
//     form (audit.go). Rows before the key existed may carry the unkeyed
//     SHA-256 of the same form, but only as a prefix of the trail, ended by
//     the keyed audit.chain_keyed row that seals them; an unkeyed row after
//     a keyed one was re-hashed by someone without the key. A trail whose
//     newest row is unkeyed was rewritten (or was never sealed);
//   - a keyed row changes key only at an audit.key_changed row;
//   - every head named in the anchor file exists with the same hash, and
//     the trail reaches the newest of them (else its newest rows were
//     removed).

// ChainError says where the audit chain breaks: the first bad row and why.
type ChainError struct {
	ID     int64
	Reason string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("db: audit chain broken at row %d: %s", e.ID, e.Reason)
}

// Verification is the outcome of a walk of the chain.
type Verification struct {
	// Rows is how many rows were checked.
	Rows int64
	// Head is the newest row checked.
	Head ChainHead
	// Anchor says what the anchor file held ("" when none was checked).
	Anchor string
	// Bad is the first broken row, nil when the chain is intact.
	Bad                   *ChainError
	StartedAt, FinishedAt time.Time
}

// OK reports whether the chain verified.
func (v Verification) OK() bool { return v.Bad == nil }

// VerifyOptions tune VerifyChain.
type VerifyOptions struct {
	// Keys are the audit keys to check with; nil means the Store's.
	Keys *AuditKeys
	// Anchor is the anchor file to check against: "" means the Store's,
	// "-" none.
	Anchor string
}

// chainWalker applies the rules to rows given in sequence order.
type chainWalker struct {
	keys      *AuditKeys
	h         *hasher
	rows      int64
	lastID    int64
	prev      []byte
	keyed     bool
	unkeyed   bool
	keyID     string
	lastAt    []byte
	anchor    []AnchorLine
	anchorPos int
}

func newChainWalker(keys *AuditKeys, anchor []AnchorLine) *chainWalker {
	return &chainWalker{keys: keys, h: newHasher(keys), prev: []byte(genesisHash), anchor: anchor}
}

// row checks the next row.
func (w *chainWalker) row(r *chainRow) *ChainError {
	switch {
	case r.ID > w.lastID+1:
		if r.ID == w.lastID+2 {
			return &ChainError{w.lastID + 1, fmt.Sprintf("row %d is missing: the trail goes from row %d to row %d", w.lastID+1, w.lastID, r.ID)}
		}
		return &ChainError{w.lastID + 1, fmt.Sprintf("rows %d to %d are missing: the trail goes from row %d to row %d", w.lastID+1, r.ID-1, w.lastID, r.ID)}
	case r.ID != w.lastID+1:
		return &ChainError{r.ID, fmt.Sprintf("out of sequence after row %d", w.lastID)}
	case !bytes.Equal(r.PrevHash, w.prev):
		if w.lastID == 0 {
			return &ChainError{r.ID, "the first row does not start the chain (its prev_hash is not 64 zeros)"}
		}
		return &ChainError{r.ID, fmt.Sprintf("its prev_hash does not match the hash of row %d: a row before it was changed or replaced", w.lastID)}
	}
	if reason := w.checkHash(r); reason != "" {
		return &ChainError{r.ID, reason}
	}
	for w.anchorPos < len(w.anchor) && w.anchor[w.anchorPos].Seq <= r.ID {
		a := w.anchor[w.anchorPos]
		if a.Seq == r.ID && a.Hash != string(r.Hash) {
			return &ChainError{r.ID, fmt.Sprintf("its hash differs from the one the anchor file published for it at %s", a.PublishedAt.Format(time.RFC3339))}
		}
		w.anchorPos++
	}
	w.rows++
	w.lastID = r.ID
	w.prev = append(w.prev[:0], r.Hash...)
	w.lastAt = append(w.lastAt[:0], r.At...)
	return nil
}

// headNow is the newest row checked so far.
func (w *chainWalker) headNow() ChainHead {
	if w.rows == 0 {
		return ChainHead{Hash: genesisHash}
	}
	return ChainHead{Seq: w.lastID, Hash: string(w.prev), At: ParseTime(string(w.lastAt))}
}

// checkHash applies the hash rules to r; "" means it holds.
func (w *chainWalker) checkHash(r *chainRow) string {
	if w.keyed {
		if sum := w.h.sum(r, SchemeHMAC, w.keyID); bytes.Equal(sum, r.Hash) {
			return ""
		}
		if string(r.Action) == ActionChainKeyChanged {
			var d struct {
				To string `json:"to_key_id"`
			}
			if json.Unmarshal(r.Detail, &d) == nil && w.keys.Has(d.To) && bytes.Equal(w.h.sum(r, SchemeHMAC, d.To), r.Hash) {
				w.keyID = d.To
				return ""
			}
			if !w.keys.Has(d.To) {
				return "the trail moved to key " + d.To + ", which this check does not have"
			}
		}
		if bytes.Equal(w.h.sum(r, SchemeSHA256, ""), r.Hash) {
			return "it was hashed without the key (re-hashed or inserted by someone who does not hold it)"
		}
		return "its content does not match its hash: the row was changed"
	}
	if bytes.Equal(w.h.sum(r, SchemeSHA256, ""), r.Hash) {
		if string(r.Action) == ActionChainKeyed {
			return "the row that seals the unkeyed rows is itself unkeyed: it was rewritten without the key"
		}
		w.unkeyed = true
		return ""
	}
	if w.keys == nil || len(w.keys.byID) == 0 {
		return "it is keyed, and this check has no audit key (set LINKDESK_AUDIT_KEY)"
	}
	for id := range w.keys.byID {
		if bytes.Equal(w.h.sum(r, SchemeHMAC, id), r.Hash) {
			if w.unkeyed && string(r.Action) != ActionChainKeyed {
				return "keyed rows follow unkeyed ones without the row that seals them"
			}
			w.keyed, w.keyID = true, id
			return ""
		}
	}
	return "its content does not match its hash under any known key: the row was changed, or the key is not the trail's"
}

// finish applies the rules about the end of the trail.
func (w *chainWalker) finish() *ChainError {
	if w.rows > 0 && !w.keyed {
		return &ChainError{w.lastID, "the newest rows are not keyed: the trail was rewritten without the key (or never sealed)"}
	}
	if n := len(w.anchor); n > 0 {
		top := w.anchor[n-1]
		if top.Seq > w.lastID {
			missing := fmt.Sprintf("row %d is", top.Seq)
			if top.Seq > w.lastID+1 {
				missing = fmt.Sprintf("rows %d to %d are", w.lastID+1, top.Seq)
			}
			return &ChainError{w.lastID + 1, fmt.Sprintf("%s missing: the anchor file published row %d (hash %s…) at %s, but the trail ends at row %d",
				missing, top.Seq, top.Hash[:min(12, len(top.Hash))], top.PublishedAt.Format(time.RFC3339), w.lastID)}
		}
	}
	return nil
}

// ReadAnchor reads an anchor file: its lines sorted by sequence. A missing
// file is no lines; a line that does not parse is an error naming it.
func ReadAnchor(path string) ([]AnchorLine, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("anchor file: %w", err)
	}
	defer f.Close()
	return parseAnchor(f, path)
}

func parseAnchor(r io.Reader, name string) ([]AnchorLine, error) {
	var out []AnchorLine
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var l AnchorLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Seq <= 0 || len(l.Hash) != 64 {
			return nil, fmt.Errorf("anchor file %s: line %d is not a chain head", name, n)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("anchor file %s: %w", name, err)
	}
	slices.SortStableFunc(out, func(a, b AnchorLine) int { return int(a.Seq - b.Seq) })
	return out, nil
}

// verifyChunk is how many rows one read of a verification returns.
const verifyChunk = 20000

// VerifyChain walks the whole trail in sequence order and checks every
// row against the rules above, and the anchor file against the trail. It
// reads in keyset chunks on a reader connection with a small cache, so
// memory stays flat; rows appended during the walk are left for the next
// one. A broken chain is reported in Verification.Bad; the error is for
// failures to read.
func (s *Store) VerifyChain(ctx context.Context, opt VerifyOptions) (Verification, error) {
	v := Verification{StartedAt: s.now().UTC()}
	keys := opt.Keys
	if keys == nil {
		keys = s.chain.keys
	}
	var anchor []AnchorLine
	switch opt.Anchor {
	case "-":
	case "":
		if opt.Anchor = s.chain.anchor; opt.Anchor == "" {
			break // no anchor file (PostgreSQL without LINKDESK_AUDIT_ANCHOR)
		}
		fallthrough
	default:
		var err error
		if anchor, err = ReadAnchor(opt.Anchor); err != nil {
			return v, err
		}
		v.Anchor = describeAnchor(anchor)
	}
	head, err := s.ChainHead(ctx)
	if err != nil {
		return v, err
	}
	conn, err := s.exportConn(ctx)
	if err != nil {
		return v, fmt.Errorf("db: verify audit: %w", err)
	}
	defer s.releaseExportConn(conn)
	w := newChainWalker(keys, anchor)
	var r chainRow
	var id, actor int64
	var at, email, action, tt, tid, ip, ua, detail, prev, hash sql.RawBytes
	dst := []any{&id, &at, &actor, &email, &action, &tt, &tid, &ip, &ua, &detail, &prev, &hash}
	for after := int64(0); after < head.Seq && v.Bad == nil; {
		rows, err := conn.QueryContext(ctx, `SELECT id, at, COALESCE(actor_id, 0), actor_email, action, target_type, target_id, ip, user_agent, detail, prev_hash, hash
FROM audit_log WHERE id > ? AND id <= ? ORDER BY id LIMIT ?`, after, head.Seq, verifyChunk)
		if err != nil {
			return v, fmt.Errorf("db: verify audit: %w", err)
		}
		got := 0
		for rows.Next() {
			if err := rows.Scan(dst...); err != nil {
				rows.Close()
				return v, fmt.Errorf("db: verify audit: %w", err)
			}
			r = chainRow{ID: id, At: at, ActorID: actor, ActorEmail: email, Action: action, TargetType: tt, TargetID: tid,
				IP: ip, UserAgent: ua, Detail: detail, PrevHash: prev, Hash: hash}
			got++
			after = id
			if bad := w.row(&r); bad != nil {
				v.Bad = bad
				break
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return v, fmt.Errorf("db: verify audit: %w", err)
		}
		if got == 0 {
			break
		}
	}
	if v.Bad == nil {
		v.Bad = w.finish()
	}
	v.Rows, v.Head, v.FinishedAt = w.rows, w.headNow(), s.now().UTC()
	return v, nil
}

func describeAnchor(lines []AnchorLine) string {
	if len(lines) == 0 {
		return "no anchor file yet"
	}
	top := lines[len(lines)-1]
	return fmt.Sprintf("%d published heads, the newest row %d at %s", len(lines), top.Seq, top.PublishedAt.Format(time.RFC3339))
}

// Verification sources, as recorded.
const (
	VerifyManual = "manual"
	VerifyDaily  = "daily"
)

// VerificationRecord is a recorded verification, as /audit shows it.
type VerificationRecord struct {
	ID         int64
	StartedAt  time.Time
	FinishedAt time.Time
	Source     string
	ActorEmail string
	Rows       int64
	Head       ChainHead
	Anchor     string
	OK         bool
	BadSeq     int64
	Reason     string
}

// VerifyNow verifies the chain and records the outcome (audit_verifications
// and an audit.chain_verified row, in one transaction); the new head is
// then published to the anchor file.
func (s *Store) VerifyNow(ctx context.Context, a Actor, source string) (VerificationRecord, error) {
	v, err := s.VerifyChain(ctx, VerifyOptions{})
	if err != nil {
		return VerificationRecord{}, err
	}
	rec := VerificationRecord{StartedAt: v.StartedAt, FinishedAt: v.FinishedAt, Source: source, ActorEmail: a.Email, Rows: v.Rows,
		Head: v.Head, Anchor: v.Anchor, OK: v.OK(), Reason: "every row verified"}
	if v.Bad != nil {
		rec.BadSeq, rec.Reason = v.Bad.ID, v.Bad.Reason
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var actor, bad any
		if a.StaffID != 0 {
			actor = a.StaffID
		}
		if rec.BadSeq != 0 {
			bad = rec.BadSeq
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO audit_verifications (started_at, finished_at, source, actor_id, actor_email, rows_checked,
  head_seq, head_hash, head_at, anchor, ok, bad_seq, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			FormatTime(rec.StartedAt), FormatTime(rec.FinishedAt), source, actor, a.Email, rec.Rows, rec.Head.Seq, rec.Head.Hash,
			FormatTime(rec.Head.At), rec.Anchor, boolInt(rec.OK), bad, rec.Reason).Scan(&rec.ID)
		if err != nil {
			return err
		}
		// The alert rule's seam (alert_rules.go): every check is recorded
		// there too, so a broken chain found by Verify now raises the alert.
		var broken any
		if !rec.OK {
			broken = rec.BadSeq
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_chain_checks (checked_at, ok, rows_checked, broken_at, reason) VALUES (?, ?, ?, ?, ?)`,
			FormatTime(rec.FinishedAt), boolInt(rec.OK), rec.Rows, broken, truncate(rec.Reason, 500)); err != nil {
			return err
		}
		detail := map[string]any{"source": source, "rows": rec.Rows, "head_sequence": rec.Head.Seq, "head_hash": rec.Head.Hash, "ok": rec.OK}
		if !rec.OK {
			detail["bad_sequence"], detail["reason"] = rec.BadSeq, rec.Reason
		}
		return s.appendAudit(ctx, tx, a, ActionChainVerified, "audit", "", detail)
	})
	if err != nil {
		return VerificationRecord{}, fmt.Errorf("db: record verification: %w", err)
	}
	return rec, nil
}

// LastVerification returns the newest recorded verification, or
// ErrNotFound.
func (s *Store) LastVerification(ctx context.Context) (VerificationRecord, error) {
	var r VerificationRecord
	var started, finished, headAt string
	var ok int
	var bad sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT id, started_at, finished_at, source, actor_email, rows_checked, head_seq, head_hash, head_at, anchor, ok, bad_seq, reason
FROM audit_verifications ORDER BY id DESC LIMIT 1`).Scan(&r.ID, &started, &finished, &r.Source, &r.ActorEmail, &r.Rows, &r.Head.Seq, &r.Head.Hash,
		&headAt, &r.Anchor, &ok, &bad, &r.Reason)
	if err != nil {
		return VerificationRecord{}, fmt.Errorf("db: last verification: %w", notFound(err))
	}
	r.StartedAt, r.FinishedAt, r.Head.At, r.OK, r.BadSeq = ParseTime(started), ParseTime(finished), ParseTime(headAt), ok == 1, bad.Int64
	return r, nil
}
