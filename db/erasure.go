package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Erasure: an admin's request to remove an end user's personal data (a
// right-to-erasure request). What Linkdesk holds about the person is
// replaced by what identifies it, in one secure-delete transaction:
//
//   - raw webhook bodies of the end user and their accounts keep their
//     ids, types, times and outcomes (redactWebhookBody);
//   - data snapshots (identity, income, employment, allocations) become
//     empty objects, with their kind and times;
//   - the customer record is deleted, and so are identity verdicts (which
//     copy the identity compared);
//   - launch events' payloads of their links become {};
//   - paystubs and shifts keep their ids, kinds and pay dates, losing their
//     bodies, amounts and employer; underwriting decisions keep their
//     outcome, note and fingerprint, losing the figures they summarised;
//   - the deposit switch facts lose the target's name and last four;
//   - refused deliveries naming them lose their bodies; pending customer
//     imports that name them lose their rows;
//   - queued data fetches of their accounts are cancelled, and a fetch
//     already running stores nothing (SnapshotFetched checks).
//
// Ids (end_user_id, account_id, event_id) stay: they are the keys the
// organisation and Pinwheel use, and the tombstone and the audit trail
// name the person by them. Audit rows hold no personal values (their
// details name fields, not values), so the trail is untouched and still
// verifies. After the commit the WAL is truncated, and the first erasure
// of a database also VACUUMs it, so that no value survives in the file
// (secure_delete zeroes what later changes overwrite).

// ActionEndUserErased is the audit action of an erasure.
const ActionEndUserErased = "end_user.erased"

// settingVacuumed records that the file was rewritten since secure
// deletion became the rule for erasure.
const settingVacuumed = "erasure_vacuumed_at"

// Erasure is a tombstone: whose data was erased, why, by whom, when, and
// how much of each kind.
type Erasure struct {
	ID        int64
	EndUserID string
	Reason    string
	ByEmail   string
	At        time.Time
	Erased    ErasureCounts
}

// ErasureCounts counts what an erasure removes, by kind.
type ErasureCounts struct {
	WebhookBodies    int64 `json:"webhook_bodies"`
	Snapshots        int64 `json:"snapshots"`
	CustomerRecords  int64 `json:"customer_records"`
	IdentityVerdicts int64 `json:"identity_verdicts"`
	LaunchPayloads   int64 `json:"launch_payloads"`
	SwitchTargets    int64 `json:"switch_targets"`
	Rejections       int64 `json:"refused_deliveries"`
	Imports          int64 `json:"customer_imports"`
	PayItems         int64 `json:"pay_items"`
	Decisions        int64 `json:"decision_summaries"`
	FetchesCancelled int64 `json:"fetches_cancelled"`
}

// Total is the number of things erased.
func (c ErasureCounts) Total() int64 {
	return c.WebhookBodies + c.Snapshots + c.CustomerRecords + c.IdentityVerdicts + c.LaunchPayloads + c.SwitchTargets + c.Rejections + c.Imports +
		c.PayItems + c.Decisions
}

// ErasurePreview is what the confirmation page shows before an erasure.
type ErasurePreview struct {
	EndUserID string
	Accounts  []string
	Counts    ErasureCounts
	// Earlier erasures of the same end user.
	Earlier []Erasure
}

// erasureScope is what an erasure touches.
type erasureScope struct {
	endUserRef int64 // 0: no end_users row
	accounts   []int64
	accountIDs []string
	customer   bool
}

// scopeOf finds what Linkdesk holds about endUserID; ErrNotFound when
// nothing (no end user seen in webhooks, no customer record).
func scopeOf(ctx context.Context, q queryer, endUserID string) (erasureScope, error) {
	var sc erasureScope
	err := q.QueryRowContext(ctx, `SELECT id FROM end_users WHERE end_user_id = ?`, endUserID).Scan(&sc.endUserRef)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return sc, err
	}
	if sc.endUserRef != 0 {
		rows, err := q.QueryContext(ctx, `SELECT id, account_id FROM accounts WHERE end_user_ref = ? ORDER BY id`, sc.endUserRef)
		if err != nil {
			return sc, err
		}
		for rows.Next() {
			var id int64
			var aid string
			if err := rows.Scan(&id, &aid); err != nil {
				rows.Close()
				return sc, err
			}
			sc.accounts, sc.accountIDs = append(sc.accounts, id), append(sc.accountIDs, aid)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return sc, err
		}
	}
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM customers WHERE end_user_id = ?`, endUserID).Scan(&n); err != nil {
		return sc, err
	}
	sc.customer = n > 0
	if sc.endUserRef == 0 && !sc.customer {
		return sc, ErrNotFound
	}
	return sc, nil
}

// refsIn is "(?, ?, …)" over the account refs, with its arguments.
func (sc erasureScope) refsIn() (string, []any) {
	if len(sc.accounts) == 0 {
		return "(NULL)", nil
	}
	args := make([]any, len(sc.accounts))
	for i, r := range sc.accounts {
		args[i] = r
	}
	return "(" + sqlParams(len(args)) + ")", args
}

func (sc erasureScope) idsIn() (string, []any) {
	if len(sc.accountIDs) == 0 {
		return "(NULL)", nil
	}
	args := make([]any, len(sc.accountIDs))
	for i, r := range sc.accountIDs {
		args[i] = r
	}
	return "(" + sqlParams(len(args)) + ")", args
}

// PreviewErasure says what erasing endUserID would remove; ErrNotFound
// when Linkdesk holds nothing about them.
func (s *Store) PreviewErasure(ctx context.Context, endUserID string) (ErasurePreview, error) {
	p := ErasurePreview{EndUserID: endUserID}
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		sc, err := scopeOf(ctx, tx, endUserID)
		if err != nil {
			return err
		}
		p.Accounts = sc.accountIDs
		refs, rargs := sc.refsIn()
		ids, iargs := sc.idsIn()
		for _, c := range []struct {
			dst  *int64
			q    string
			args []any
		}{
			{&p.Counts.WebhookBodies, `SELECT COUNT(*) FROM events WHERE (end_user_ref = ? OR account_ref IN ` + refs + `) AND (body_removed IS NULL OR body_removed <> 'erasure')`, append([]any{sc.endUserRef}, rargs...)},
			{&p.Counts.Snapshots, `SELECT COUNT(*) FROM data_snapshots WHERE account_ref IN ` + refs + ` AND erased_at IS NULL`, rargs},
			{&p.Counts.CustomerRecords, `SELECT COUNT(*) FROM customers WHERE end_user_id = ?`, []any{endUserID}},
			{&p.Counts.IdentityVerdicts, `SELECT COUNT(*) FROM identity_verdicts WHERE end_user_id = ? OR account_id IN ` + ids, append([]any{endUserID}, iargs...)},
			{&p.Counts.LaunchPayloads, `SELECT COUNT(*) FROM launch_events WHERE (end_user_id = ? OR account_id IN ` + ids + `) AND payload <> '{}'`, append([]any{endUserID}, iargs...)},
			{&p.Counts.PayItems, `SELECT COUNT(*) FROM pay_items WHERE account_ref IN ` + refs + ` AND body <> '{}'`, rargs},
			{&p.Counts.Decisions, `SELECT COUNT(*) FROM underwriting_decisions WHERE (end_user_id = ? OR (scope = 'account' AND subject_id IN ` + ids + `)) AND summary <> '{}'`,
				append([]any{endUserID}, iargs...)},
		} {
			if err := tx.QueryRowContext(ctx, c.q, c.args...).Scan(c.dst); err != nil {
				return err
			}
		}
		p.Earlier, err = erasuresOf(ctx, tx, endUserID)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return p, err
		}
		return p, fmt.Errorf("db: preview erasure of %q: %w", endUserID, err)
	}
	return p, nil
}

// maxErasureReason bounds the reason's length.
const maxErasureReason = 500

// EraseEndUser erases the personal data of endUserID (see the top of this
// file), records the tombstone and the audit row in the same transaction,
// and scrubs the file. An end user Linkdesk knows nothing about is refused
// with ErrNotFound; a missing reason with a field error.
func (s *Store) EraseEndUser(ctx context.Context, a Actor, endUserID, reason string) (Erasure, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return Erasure{}, FieldErrors{"reason": "Say why (the request's reference, who asked): it is kept with the tombstone."}
	case utf8.RuneCountInString(reason) > maxErasureReason:
		return Erasure{}, FieldErrors{"reason": fmt.Sprintf("Use at most %d characters.", maxErasureReason)}
	}
	e := Erasure{EndUserID: endUserID, Reason: reason, ByEmail: a.Email, At: s.now().UTC()}
	err := s.secureTx(ctx, erasureTables, func(tx *sql.Tx) error {
		sc, err := scopeOf(ctx, tx, endUserID)
		if err != nil {
			return err
		}
		if e.Erased, err = s.erase(ctx, tx, endUserID, sc, FormatTime(e.At)); err != nil {
			return err
		}
		erased, _ := json.Marshal(e.Erased)
		var by any
		if a.StaffID != 0 {
			by = a.StaffID
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO erasures (end_user_id, reason, requested_by, requested_email, at, erased)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, endUserID, reason, by, a.Email, FormatTime(e.At), string(erased)).Scan(&e.ID); err != nil {
			return err
		}
		detail := map[string]any{"reason": reason, "erased": e.Erased, "accounts": sc.accountIDs, "tombstone": e.ID}
		return s.appendAudit(ctx, tx, a, ActionEndUserErased, "end_user", endUserID, detail)
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Erasure{}, err
		}
		return Erasure{}, fmt.Errorf("db: erase end user %q: %w", endUserID, err)
	}
	if err := s.vacuumOnce(ctx); err != nil {
		return e, fmt.Errorf("db: erased %q, but the file was not rewritten: %w", endUserID, err)
	}
	return e, nil
}

// erase removes the data in scope inside tx and counts it.
func (s *Store) erase(ctx context.Context, tx *sql.Tx, endUserID string, sc erasureScope, at string) (ErasureCounts, error) {
	var c ErasureCounts
	refs, rargs := sc.refsIn()
	ids, iargs := sc.idsIn()
	exec := func(dst *int64, q string, args ...any) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		*dst += n
		return nil
	}

	// Webhook bodies, one by one (each is rewritten from itself).
	rows, err := tx.QueryContext(ctx, `SELECT id, body FROM events WHERE (end_user_ref = ? OR account_ref IN `+refs+`)
		AND (body_removed IS NULL OR body_removed <> 'erasure') ORDER BY id`, append([]any{sc.endUserRef}, rargs...)...)
	if err != nil {
		return c, err
	}
	type body struct {
		id   int64
		body string
	}
	var bodies []body
	for rows.Next() {
		var b body
		if err := rows.Scan(&b.id, &b.body); err != nil {
			rows.Close()
			return c, err
		}
		bodies = append(bodies, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return c, err
	}
	for _, b := range bodies {
		if err := exec(&c.WebhookBodies, `UPDATE events SET body = ?, body_removed = 'erasure', body_removed_at = ? WHERE id = ?`,
			string(redactWebhookBody([]byte(b.body), "erasure")), at, b.id); err != nil {
			return c, err
		}
	}

	empty := sha256.Sum256([]byte("{}"))
	if err := exec(&c.Snapshots, `UPDATE data_snapshots SET body = '{}', body_sha256 = ?, erased_at = ? WHERE account_ref IN `+refs+` AND erased_at IS NULL`,
		append([]any{hex.EncodeToString(empty[:]), at}, rargs...)...); err != nil {
		return c, err
	}
	if err := exec(&c.CustomerRecords, `DELETE FROM customers WHERE end_user_id = ?`, endUserID); err != nil {
		return c, err
	}
	// The search index holds names, emails and phones of the records and
	// identities just erased (the identities' rows are kept, emptied, so
	// their delete trigger does not fire).
	var searchTerms int64
	if err := exec(&searchTerms, `DELETE FROM search_terms WHERE person = ?`, endUserID); err != nil {
		return c, err
	}
	if err := exec(&c.IdentityVerdicts, `DELETE FROM identity_verdicts WHERE end_user_id = ? OR account_id IN `+ids, append([]any{endUserID}, iargs...)...); err != nil {
		return c, err
	}
	if err := exec(&c.LaunchPayloads, `UPDATE launch_events SET payload = '{}', payload_removed = 'erasure', payload_removed_at = ?
		WHERE (end_user_id = ? OR account_id IN `+ids+`) AND (payload <> '{}' OR payload_removed IS NULL)`, append([]any{at, endUserID}, iargs...)...); err != nil {
		return c, err
	}
	if err := exec(&c.SwitchTargets, `UPDATE dd_switches SET target_name = NULL, target_last4 = NULL, card_name = NULL
		WHERE (end_user_ref = ? OR account_ref IN `+refs+`) AND (target_name IS NOT NULL OR target_last4 IS NOT NULL OR card_name IS NOT NULL)`,
		append([]any{sc.endUserRef}, rargs...)...); err != nil {
		return c, err
	}
	if err := exec(&c.PayItems, `UPDATE pay_items SET body = '{}', lines = '{}', body_sha256 = 'erased:' || id, employer_name = NULL, document_id = NULL,
		gross = NULL, net = NULL, taxes = NULL, deductions = NULL, hours = NULL, overtime_hours = NULL, overtime_amount = NULL, rate = NULL
		WHERE account_ref IN `+refs+` AND body <> '{}'`, rargs...); err != nil {
		return c, err
	}
	if err := exec(&c.Decisions, `UPDATE underwriting_decisions SET summary = '{}'
		WHERE (end_user_id = ? OR (scope = 'account' AND subject_id IN `+ids+`)) AND summary <> '{}'`, append([]any{endUserID}, iargs...)...); err != nil {
		return c, err
	}
	// Refused deliveries and pending imports are found by the id in their
	// text: few rows (rejections are pruned, imports expire).
	if err := exec(&c.Rejections, `UPDATE webhook_rejections SET body = NULL WHERE body IS NOT NULL AND instr(CAST(body AS TEXT), ?) > 0`,
		`"`+endUserID+`"`); err != nil {
		return c, err
	}
	if err := exec(&c.Imports, `UPDATE customer_imports SET rows = '[]', bad_rows = '[]' WHERE instr(rows, ?) > 0 OR instr(bad_rows, ?) > 0`,
		`"`+jsonEscape(endUserID)+`"`, jsonEscape(endUserID)); err != nil {
		return c, err
	}
	if len(sc.accountIDs) > 0 {
		if err := exec(&c.FetchesCancelled, `UPDATE jobs SET state = 'failed', last_error = 'cancelled: the end user was erased', updated_at = ?, finished_at = ?
			WHERE state = 'queued' AND kind LIKE 'fetch.%' AND dedupe_key IN `+ids, append([]any{at, at}, iargs...)...); err != nil {
			return c, err
		}
	}
	return c, nil
}

// erasureTables are the tables an erasure changes: on PostgreSQL they are
// VACUUMed after it (the dialect's scrub), on SQLite the WAL is truncated.
var erasureTables = []string{"events", "launch_events", "data_snapshots", "customers", "customer_imports", "dd_switches",
	"pay_items", "underwriting_decisions", "identity_verdicts", "webhook_rejections", "jobs"}

// jsonEscape is s as it appears inside a JSON string.
func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// vacuumOnce rewrites the database file the first time an erasure runs, so
// that values deleted before secure deletion was in force leave the file
// too; later erasures rely on secure_delete and the WAL truncation.
func (s *Store) vacuumOnce(ctx context.Context) error {
	if _, err := s.Setting(ctx, settingVacuumed); err == nil {
		return nil
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := s.d.rewrite(ctx, conn); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING`,
		settingVacuumed, FormatTime(s.now()), FormatTime(s.now()))
	return err
}

// Erasures returns the tombstones of endUserID, newest first.
func (s *Store) Erasures(ctx context.Context, endUserID string) ([]Erasure, error) {
	out, err := erasuresOf(ctx, s.r, endUserID)
	if err != nil {
		return nil, fmt.Errorf("db: erasures of %q: %w", endUserID, err)
	}
	return out, nil
}

func erasuresOf(ctx context.Context, q queryer, endUserID string) ([]Erasure, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, end_user_id, reason, requested_email, at, erased FROM erasures WHERE end_user_id = ? ORDER BY id DESC`, endUserID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Erasure
	for rows.Next() {
		var e Erasure
		var at, erased string
		if err := rows.Scan(&e.ID, &e.EndUserID, &e.Reason, &e.ByEmail, &at, &erased); err != nil {
			return nil, err
		}
		e.At = ParseTime(at)
		json.Unmarshal([]byte(erased), &e.Erased)
		out = append(out, e)
	}
	return out, rows.Err()
}

// erasedSince reports whether the end user of the account was erased at
// or after since (a fetch that began before an erasure must not store
// what it fetched).
func erasedSince(ctx context.Context, tx *sql.Tx, accountID string, since string) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM erasures r JOIN end_users u ON u.end_user_id = r.end_user_id
JOIN accounts a ON a.end_user_ref = u.id WHERE a.account_id = ? AND r.at >= ?`, accountID, since).Scan(&n)
	return n > 0, err
}
