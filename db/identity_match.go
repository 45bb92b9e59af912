package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Identity verdicts: does the identity Pinwheel returned for a payroll
// account belong to the customer we hold under its end_user_id?

// Verdict results.
const (
	VerdictMatch            = "match"
	VerdictPartial          = "partial"
	VerdictMismatch         = "mismatch"
	VerdictNoCustomerRecord = "no_customer_record"
)

// How a field disagrees, the values of Verdict.Fields.
const (
	FieldDiffers = "differs" // both sides have a value and they disagree
	FieldClose   = "close"   // the names are similar but not similar enough
	FieldMissing = "missing" // one side has no value
)

// Name score thresholds: at or above NameAgree the names agree; from
// NameClose they are close (a partial verdict at best).
const (
	NameAgree = 0.90
	NameClose = 0.75
)

// IdentityData is the part of an account's identity compared with the
// customer record.
type IdentityData struct {
	FullName    string
	DateOfBirth string // YYYY-MM-DD, empty when Pinwheel has none
	LastFourSSN string // empty when Pinwheel has none
}

// Verdict is the outcome of MatchIdentity. Fields names each disagreeing
// field (full_name, date_of_birth, ssn_last4) and how: differs, close or
// missing. It is empty for a match.
type Verdict struct {
	Result    string
	NameScore float64
	Fields    map[string]string

	// Set on stored verdicts.
	AccountID   string
	EndUserID   string
	SnapshotRef string
	ComputedAt  time.Time
}

// MatchIdentity compares identity data with a customer record; a nil
// customer gives no_customer_record.
//
//   - match: the names agree (score ≥ NameAgree), and DOB and SSN last four
//     are equal.
//   - partial: the names agree and at most one of DOB and last four
//     differs (a missing value counts as missing, not as differing); or the
//     names are close (NameClose to NameAgree) or missing while DOB and last
//     four are equal.
//   - mismatch: anything else. The same name with both a different DOB and
//     different last four is another person, not a partial match.
func MatchIdentity(c *Customer, id IdentityData) Verdict {
	if c == nil {
		return Verdict{Result: VerdictNoCustomerRecord, Fields: map[string]string{}}
	}
	v := Verdict{Fields: map[string]string{}}
	v.NameScore = NameScore(c.FullName, id.FullName)
	name := "agree"
	switch {
	case strings.TrimSpace(c.FullName) == "" || strings.TrimSpace(id.FullName) == "":
		name = FieldMissing
	case v.NameScore < NameClose:
		name = FieldDiffers
	case v.NameScore < NameAgree:
		name = FieldClose
	}
	if name != "agree" {
		v.Fields["full_name"] = name
	}
	dob := compareExact(c.DateOfBirth, id.DateOfBirth)
	last4 := compareExact(c.SSNLast4, id.LastFourSSN)
	if dob != "" {
		v.Fields["date_of_birth"] = dob
	}
	if last4 != "" {
		v.Fields["ssn_last4"] = last4
	}

	switch {
	case name == "agree" && dob == "" && last4 == "":
		v.Result = VerdictMatch
	case name == "agree" && !(dob == FieldDiffers && last4 == FieldDiffers):
		v.Result = VerdictPartial
	case (name == FieldClose || name == FieldMissing) && dob == "" && last4 == "":
		v.Result = VerdictPartial
	default:
		v.Result = VerdictMismatch
	}
	return v
}

// compareExact returns "" when a and b are equal and present, else missing
// or differs.
func compareExact(a, b string) string {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	switch {
	case a == "" || b == "":
		return FieldMissing
	case a != b:
		return FieldDiffers
	}
	return ""
}

// NameScore rates how alike two personal names are, from 0 to 1, after
// folding case, accents and punctuation and dropping initials and
// honorifics. It takes the best of several views of the names, so that a
// reordered name, an added middle name or second surname, or a hyphen
// written as a space all score 1, while a typo costs in proportion to its
// share of the name.
func NameScore(a, b string) float64 {
	ta, tb := nameTokens(a), nameTokens(b)
	if len(ta) == 0 || len(tb) == 0 {
		return 0
	}
	best := 0.0
	try := func(x, y string) {
		if s := similarity(x, y); s > best {
			best = s
		}
	}
	// In the order written, and with every space removed ("Smith-Jones" vs
	// "Smithjones", "Mary Ann" vs "Maryann").
	try(strings.Join(ta, " "), strings.Join(tb, " "))
	try(strings.Join(ta, ""), strings.Join(tb, ""))
	// Token order ignored ("Userton Ash" vs "Ash Userton").
	try(sortedJoin(ta), sortedJoin(tb))
	// First and last tokens only, in either order (middle names).
	try(sortedJoin(firstLast(ta)), sortedJoin(firstLast(tb)))
	// Every token of the shorter name (two at least) in the longer one: a
	// dropped middle name or second surname.
	if subset(ta, tb) || subset(tb, ta) {
		best = 1
	}
	return math.Round(best*1000) / 1000
}

func sortedJoin(t []string) string {
	c := append([]string(nil), t...)
	sort.Strings(c)
	return strings.Join(c, " ")
}

func firstLast(t []string) []string {
	if len(t) < 2 {
		return t
	}
	return []string{t[0], t[len(t)-1]}
}

// subset reports whether every token of a (at least two) appears in b.
func subset(a, b []string) bool {
	if len(a) < 2 || len(a) > len(b) {
		return false
	}
	have := map[string]int{}
	for _, t := range b {
		have[t]++
	}
	for _, t := range a {
		if have[t] == 0 {
			return false
		}
		have[t]--
	}
	return true
}

// ignoredNameTokens are honorifics and generational suffixes.
var ignoredNameTokens = map[string]bool{
	"mr": true, "mrs": true, "ms": true, "miss": true, "mx": true, "dr": true,
	"jr": true, "sr": true, "ii": true, "iii": true, "iv": true,
}

// nameTokens folds a name to lowercase ASCII-like tokens. Apostrophes join
// ("O'Brien" → "obrien"), other punctuation separates ("García-López" →
// "garcia", "lopez"). Single letters (initials) and honorifics are dropped
// unless nothing else is left.
func nameTokens(s string) []string {
	all := foldWords(s)
	var kept []string
	for _, t := range all {
		if len([]rune(t)) > 1 && !ignoredNameTokens[t] {
			kept = append(kept, t)
		}
	}
	if len(kept) == 0 {
		return all
	}
	return kept
}

// foldSpecial maps letters that NFD does not decompose to their usual
// ASCII spelling.
var foldSpecial = map[rune]string{
	'ß': "ss", 'æ': "ae", 'œ': "oe", 'ø': "o", 'ł': "l", 'đ': "d", 'ð': "d", 'þ': "th", 'ı': "i", 'ħ': "h", 'ŧ': "t", 'ŀ': "l",
}

// similarity is 1 minus the Levenshtein distance over the longer length,
// counted in runes.
func similarity(a, b string) float64 {
	ra, rb := []rune(a), []rune(b)
	n := max(len(ra), len(rb))
	if n == 0 {
		return 1
	}
	return 1 - float64(levenshtein(ra, rb))/float64(n)
}

func levenshtein(a, b []rune) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

const verdictColumns = `account_id, end_user_id, result, name_score, fields, COALESCE(identity_snapshot_ref, ''), computed_at`

func scanVerdict(sc interface{ Scan(...any) error }) (Verdict, error) {
	var v Verdict
	var fields, computed string
	if err := sc.Scan(&v.AccountID, &v.EndUserID, &v.Result, &v.NameScore, &fields, &v.SnapshotRef, &computed); err != nil {
		return Verdict{}, err
	}
	v.ComputedAt = ParseTime(computed)
	if err := json.Unmarshal([]byte(fields), &v.Fields); err != nil {
		return Verdict{}, fmt.Errorf("fields: %w", err)
	}
	return v, nil
}

// RecordIdentityVerdict compares an account's identity data with the
// customer record of endUserID and stores the verdict, replacing the
// account's previous one. The identity data compared is stored with it, so
// that a later customer edit can recompute the verdict. snapshotRef points
// at the identity snapshot it came from (empty for none).
func (s *Store) RecordIdentityVerdict(ctx context.Context, accountID, endUserID string, id IdentityData, snapshotRef string) (Verdict, error) {
	var v Verdict
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		v, err = s.recordIdentityVerdict(ctx, tx, accountID, endUserID, id, snapshotRef)
		return err
	})
	if err != nil {
		return Verdict{}, fmt.Errorf("db: record identity verdict of %s: %w", accountID, err)
	}
	return v, nil
}

// recordIdentityVerdict computes and upserts a verdict inside tx, so that
// a finished identity fetch stores its snapshot and its verdict in one
// transaction.
func (s *Store) recordIdentityVerdict(ctx context.Context, tx *sql.Tx, accountID, endUserID string, id IdentityData, snapshotRef string) (Verdict, error) {
	var c *Customer
	cu, err := s.scanCustomer(tx.QueryRowContext(ctx, `SELECT `+customerColumns+` FROM customers WHERE end_user_id = ?`, endUserID))
	switch {
	case err == nil:
		c = &cu
	case err != sql.ErrNoRows:
		return Verdict{}, err
	}
	v := MatchIdentity(c, id)
	v.AccountID, v.EndUserID, v.SnapshotRef, v.ComputedAt = accountID, endUserID, snapshotRef, s.now().UTC()
	fields, err := json.Marshal(v.Fields)
	if err != nil {
		return Verdict{}, err
	}
	var ref any
	if snapshotRef != "" {
		ref = snapshotRef
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO identity_verdicts
		(account_id, end_user_id, result, name_score, fields, id_full_name, id_dob, id_last4, identity_snapshot_ref, computed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (account_id) DO UPDATE SET end_user_id = excluded.end_user_id, result = excluded.result,
			name_score = excluded.name_score, fields = excluded.fields, id_full_name = excluded.id_full_name,
			id_dob = excluded.id_dob, id_last4 = excluded.id_last4,
			identity_snapshot_ref = excluded.identity_snapshot_ref, computed_at = excluded.computed_at`,
		accountID, endUserID, v.Result, v.NameScore, string(fields), id.FullName, id.DateOfBirth, id.LastFourSSN, ref, FormatTime(v.ComputedAt))
	return v, err
}

// IdentityVerdict returns the stored verdict of an account, or ErrNotFound
// when its identity has not been compared yet.
func (s *Store) IdentityVerdict(ctx context.Context, accountID string) (Verdict, error) {
	v, err := scanVerdict(s.r.QueryRowContext(ctx, `SELECT `+verdictColumns+` FROM identity_verdicts WHERE account_id = ?`, accountID))
	if err != nil {
		return Verdict{}, fmt.Errorf("db: identity verdict of %s: %w", accountID, notFound(err))
	}
	return v, nil
}

// IdentityVerdictsOf returns the stored verdicts of an end user's accounts.
func (s *Store) IdentityVerdictsOf(ctx context.Context, endUserID string) ([]Verdict, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+verdictColumns+` FROM identity_verdicts WHERE end_user_id = ? ORDER BY account_id`, endUserID)
	if err != nil {
		return nil, fmt.Errorf("db: identity verdicts of %q: %w", endUserID, err)
	}
	defer rows.Close()
	var out []Verdict
	for rows.Next() {
		v, err := scanVerdict(rows)
		if err != nil {
			return nil, fmt.Errorf("db: identity verdicts of %q: %w", endUserID, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// recomputeVerdicts re-matches every stored verdict of c's end user
// against the changed record c, from the identity data kept in the verdict
// rows. It returns how many verdicts it updated.
func (ct *customerTx) recomputeVerdicts(ctx context.Context, c Customer) (int, error) {
	rows, err := ct.verdicts.QueryContext(ctx, c.EndUserID)
	if err != nil {
		return 0, err
	}
	type pending struct {
		account string
		id      IdentityData
	}
	var todo []pending
	for rows.Next() {
		var p pending
		if err := rows.Scan(&p.account, &p.id.FullName, &p.id.DateOfBirth, &p.id.LastFourSSN); err != nil {
			rows.Close()
			return 0, err
		}
		todo = append(todo, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	now := FormatTime(ct.s.now())
	for _, p := range todo {
		v := MatchIdentity(&c, p.id)
		fields, err := json.Marshal(v.Fields)
		if err != nil {
			return 0, err
		}
		if _, err := ct.setVerdict.ExecContext(ctx, v.Result, v.NameScore, string(fields), now, p.account); err != nil {
			return 0, err
		}
	}
	return len(todo), nil
}
