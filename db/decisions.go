package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Underwriting decisions: an operator's approved, declined or more
// information needed on an income report, with a note, bound to the exact
// snapshots, paystubs and shifts the report was built from (their ids and
// SHA-256 hashes), audited in the same transaction. A decision never
// changes; a later one supersedes it in the reader's eyes only.

// Decision outcomes.
const (
	OutcomeApproved        = "approved"
	OutcomeDeclined        = "declined"
	OutcomeMoreInformation = "more_information"
)

// DecisionOutcomes lists the outcomes in form order.
var DecisionOutcomes = []string{OutcomeApproved, OutcomeDeclined, OutcomeMoreInformation}

// ActionUnderwritingDecision is the audit action of a recorded decision;
// its target is the decision ("underwriting_decision", its id).
const ActionUnderwritingDecision = "underwriting.decision_recorded"

// maxDecisionNote bounds a decision's note.
const maxDecisionNote = 2000

// Decision is one recorded underwriting decision.
type Decision struct {
	ID int64 `json:"id"`
	// Scope is the report it was made on: account or end_user; SubjectID
	// that account's or end user's id.
	Scope      string    `json:"scope"`
	SubjectID  string    `json:"subject_id"`
	EndUserID  string    `json:"end_user_id,omitempty"`
	Outcome    string    `json:"outcome"`
	Note       string    `json:"note"`
	StaffID    int64     `json:"staff_id"`
	StaffEmail string    `json:"staff_email"`
	DecidedAt  time.Time `json:"decided_at"`
	// Fingerprint is the SHA-256 of the bound data (DecisionBasis).
	Fingerprint string `json:"fingerprint"`
	// Summary is the report's figures when it was decided.
	Summary json.RawMessage `json:"summary"`
	// Items counts the bound data; Bindings lists it (AccountDecisions
	// only).
	Items    int         `json:"items"`
	Bindings []BasisItem `json:"bindings,omitempty"`
}

// OutcomeLabel names an outcome for people.
func OutcomeLabel(o string) string {
	switch o {
	case OutcomeApproved:
		return "Approved"
	case OutcomeDeclined:
		return "Declined"
	case OutcomeMoreInformation:
		return "More information needed"
	}
	return o
}

// DecisionInput is the decision form.
type DecisionInput struct {
	Scope     string
	SubjectID string
	Outcome   string
	Note      string
	// Fingerprint is the basis the report showed when the operator
	// decided; the decision is refused when the data changed since.
	Fingerprint string
}

// validate checks the form; FieldErrors keyed outcome and note.
func (in DecisionInput) validate() FieldErrors {
	fe := FieldErrors{}
	if !oneOf(in.Outcome, DecisionOutcomes) {
		fe["outcome"] = "Choose approved, declined or more information needed."
	}
	note := strings.TrimSpace(in.Note)
	switch {
	case utf8.RuneCountInString(note) > maxDecisionNote:
		fe["note"] = fmt.Sprintf("Keep the note under %d characters.", maxDecisionNote)
	case note == "" && (in.Outcome == OutcomeDeclined || in.Outcome == OutcomeMoreInformation):
		fe["note"] = "Say why, or what information is needed: the note goes with the decision."
	}
	if in.Fingerprint == "" {
		fe["_form"] = "The form lost track of the report it was on; open the report again."
	}
	if len(fe) > 0 {
		return fe
	}
	return nil
}

// ErrBasisChanged refuses a decision on a report whose data changed
// after the operator opened it.
var ErrBasisChanged = errors.New("db: the report's data changed")

// RecordDecision records a decision on an account's or end user's report,
// bound to the data the report is built from now, which must be the data
// the operator saw (in.Fingerprint), else ErrBasisChanged. The decision,
// its bound items and the audit row are written in one transaction.
func (s *Store) RecordDecision(ctx context.Context, a Actor, in DecisionInput) (Decision, error) {
	if fe := in.validate(); fe != nil {
		return Decision{}, fe
	}
	if in.Scope != ScopeAccount && in.Scope != ScopeEndUser {
		return Decision{}, fmt.Errorf("db: decision on %q: %w", in.Scope, ErrNotFound)
	}
	staleDays, err := s.StaleDays(ctx)
	if err != nil {
		return Decision{}, err
	}
	now := s.now().UTC()
	d := Decision{Scope: in.Scope, SubjectID: in.SubjectID, Outcome: in.Outcome, Note: strings.TrimSpace(in.Note),
		StaffID: a.StaffID, StaffEmail: a.Email, DecidedAt: now}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		data, err := readReportData(ctx, tx, in.Scope, in.SubjectID, now)
		if err != nil {
			return err
		}
		basis := basisOf(data)
		if basis.Fingerprint != in.Fingerprint {
			return ErrBasisChanged
		}
		d.Fingerprint, d.Items = basis.Fingerprint, len(basis.Items)
		if in.Scope == ScopeEndUser {
			d.EndUserID = in.SubjectID
		} else if len(data) > 0 {
			d.EndUserID = data[0].endUserID
		}
		d.Summary = decisionSummary(data, now, time.Duration(staleDays)*24*time.Hour)
		var staff any
		if a.StaffID != 0 {
			staff = a.StaffID
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO underwriting_decisions (scope, subject_id, end_user_id, outcome, note, staff_id, staff_email,
  basis_sha256, summary, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			d.Scope, d.SubjectID, nullStr(d.EndUserID), d.Outcome, d.Note, staff, a.Email, d.Fingerprint, string(d.Summary), FormatTime(now)).Scan(&d.ID); err != nil {
			return err
		}
		for _, it := range basis.Items {
			if _, err := tx.ExecContext(ctx, `INSERT INTO underwriting_decision_items (decision_id, account_id, kind, ref, sha256) VALUES (?, ?, ?, ?, ?)`,
				d.ID, it.AccountID, it.Kind, it.Ref, it.SHA256); err != nil {
				return err
			}
		}
		// The figures themselves (pay, employer) stay in the decision's
		// row, which erasure can reach; the append-only trail keeps the
		// fingerprint that binds them.
		return s.appendAudit(ctx, tx, a, ActionUnderwritingDecision, "underwriting_decision", strconv.FormatInt(d.ID, 10), map[string]any{
			"outcome": d.Outcome, "note": d.Note, "scope": d.Scope, "subject": d.SubjectID, "fingerprint": d.Fingerprint,
			"items": d.Items,
		})
	})
	if errors.Is(err, ErrBasisChanged) {
		return Decision{}, err
	}
	if err != nil {
		return Decision{}, fmt.Errorf("db: record decision: %w", notFound(err))
	}
	return d, nil
}

// decisionSummary is what the report said when the decision was made:
// each account's employer, frequency, annualised figures and flagged
// paystubs.
func decisionSummary(data []accountData, now time.Time, staleAfter time.Duration) json.RawMessage {
	type acct struct {
		AccountID  string       `json:"account_id"`
		Employer   string       `json:"employer,omitempty"`
		Frequency  string       `json:"frequency"`
		Annualised []Annualised `json:"annualised"`
		Flagged    int          `json:"flagged"`
	}
	var out struct {
		Accounts []acct `json:"accounts"`
	}
	for _, d := range data {
		ai, _ := buildAccountIncome(d, now, staleAfter)
		x := acct{AccountID: ai.AccountID, Frequency: ai.Frequency, Annualised: ai.Annualised, Flagged: len(ai.Flagged)}
		if ai.Employment != nil {
			x.Employer = ai.Employment.EmployerName
		}
		out.Accounts = append(out.Accounts, x)
	}
	b, _ := json.Marshal(out)
	return b
}

const decisionColumns = `d.id, d.scope, d.subject_id, COALESCE(d.end_user_id, ''), d.outcome, d.note, COALESCE(d.staff_id, 0), d.staff_email,
  d.basis_sha256, d.summary, d.decided_at, (SELECT COUNT(*) FROM underwriting_decision_items i WHERE i.decision_id = d.id)`

func scanDecision(sc interface{ Scan(...any) error }) (Decision, error) {
	var d Decision
	var summary, at string
	err := sc.Scan(&d.ID, &d.Scope, &d.SubjectID, &d.EndUserID, &d.Outcome, &d.Note, &d.StaffID, &d.StaffEmail, &d.Fingerprint, &summary, &at, &d.Items)
	d.Summary, d.DecidedAt = json.RawMessage(summary), ParseTime(at)
	return d, err
}

// decisionsOf lists the decisions of a report's subject, newest first: for
// an account those bound to it (its own, and its end user's that covered
// it); for an end user every decision about them.
func decisionsOf(ctx context.Context, tx *sql.Tx, scope, id string) ([]Decision, error) {
	q := `SELECT ` + decisionColumns + ` FROM underwriting_decisions d WHERE d.end_user_id = ? ORDER BY d.id DESC LIMIT 50`
	if scope == ScopeAccount {
		q = `SELECT ` + decisionColumns + ` FROM underwriting_decisions d
WHERE d.id IN (SELECT decision_id FROM underwriting_decision_items WHERE account_id = ?) ORDER BY d.id DESC LIMIT 50`
	}
	rows, err := tx.QueryContext(ctx, q, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Decision{}
	for rows.Next() {
		d, err := scanDecision(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// EndUserDecisions lists the decisions about an end user, newest first
// (the end user's page shows them).
func (s *Store) EndUserDecisions(ctx context.Context, endUserID string) ([]Decision, error) {
	var out []Decision
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = decisionsOf(ctx, tx, ScopeEndUser, endUserID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("db: decisions of %s: %w", endUserID, err)
	}
	return out, nil
}

// AccountDecisions lists every decision bound to an account's data (its
// own and its end user's), newest first, each with all its bindings: the
// snapshots, paystubs and shifts with their hashes. Evidence packs include
// them.
func (s *Store) AccountDecisions(ctx context.Context, accountID string) ([]Decision, error) {
	var out []Decision
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		var err error
		if out, err = decisionsOf(ctx, tx, ScopeAccount, accountID); err != nil {
			return err
		}
		for i := range out {
			rows, err := tx.QueryContext(ctx, `SELECT account_id, kind, ref, sha256 FROM underwriting_decision_items WHERE decision_id = ?
ORDER BY account_id, kind, ref, sha256`, out[i].ID)
			if err != nil {
				return err
			}
			for rows.Next() {
				var b BasisItem
				if err := rows.Scan(&b.AccountID, &b.Kind, &b.Ref, &b.SHA256); err != nil {
					rows.Close()
					return err
				}
				out[i].Bindings = append(out[i].Bindings, b)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("db: decisions of %s: %w", accountID, err)
	}
	return out, nil
}

// VerifyDecision recomputes a decision's fingerprint from its bindings and
// checks each binding against what is stored: a snapshot by id and hash,
// a paystub or shift by id and hash (current or superseded). It returns
// the bindings whose data is no longer stored as bound.
func (s *Store) VerifyDecision(ctx context.Context, d Decision) ([]BasisItem, error) {
	if newBasis(append([]BasisItem(nil), d.Bindings...)).Fingerprint != d.Fingerprint {
		return d.Bindings, errors.New("db: the bindings do not match the decision's fingerprint")
	}
	var bad []BasisItem
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		for _, b := range d.Bindings {
			var n int
			var err error
			switch b.Kind {
			case FetchEmployment, FetchIncome:
				err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM data_snapshots s JOIN accounts a ON a.id = s.account_ref
WHERE a.account_id = ? AND s.id = ? AND s.kind = ? AND s.body_sha256 = ?`, b.AccountID, b.Ref, b.Kind, b.SHA256).Scan(&n)
			default:
				err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pay_items p JOIN accounts a ON a.id = p.account_ref
WHERE a.account_id = ? AND p.kind = ? AND p.item_id = ? AND p.body_sha256 = ?`, b.AccountID, b.Kind, b.Ref, b.SHA256).Scan(&n)
			}
			if err != nil {
				return err
			}
			if n == 0 {
				bad = append(bad, b)
			}
		}
		return nil
	})
	return bad, err
}

// DecisionsAbout lists the decisions of an account (those bound to its
// data) or of an end user, newest first, without their bindings.
func (s *Store) DecisionsAbout(ctx context.Context, scope, id string) ([]Decision, error) {
	var out []Decision
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = decisionsOf(ctx, tx, scope, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("db: decisions of %s %s: %w", scope, id, err)
	}
	return out, nil
}
