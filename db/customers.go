package db

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Audit actions of customer records. Their details name the fields that
// changed, never the values: a date of birth or SSN digits do not belong in
// an append-only trail.
const (
	ActionCustomerCreated   = "customer.created"
	ActionCustomerUpdated   = "customer.updated"
	ActionCustomersImported = "customer.imported"
)

// Customer is the organisation's own record of an end user, keyed by the
// end_user_id given to Pinwheel. Identity data Pinwheel returns is matched
// against it (MatchIdentity).
type Customer struct {
	EndUserID   string
	FullName    string
	DateOfBirth string // YYYY-MM-DD
	SSNLast4    string // 4 digits
	Email       string // may be empty
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// CustomerInput is a customer record as typed in a form or read from a CSV
// row; every field is raw text.
type CustomerInput struct {
	EndUserID   string `json:"end_user_id"`
	FullName    string `json:"full_name"`
	DateOfBirth string `json:"date_of_birth"`
	SSNLast4    string `json:"ssn_last4"`
	Email       string `json:"email"`
}

// CustomerFields lists the fields of a customer record in form and CSV order.
var CustomerFields = []string{"end_user_id", "full_name", "date_of_birth", "ssn_last4", "email"}

// normalize trims every field and lowercases the email.
func (in CustomerInput) normalize() CustomerInput {
	return CustomerInput{
		EndUserID:   strings.TrimSpace(in.EndUserID),
		FullName:    strings.Join(strings.Fields(in.FullName), " "),
		DateOfBirth: strings.TrimSpace(in.DateOfBirth),
		SSNLast4:    strings.TrimSpace(in.SSNLast4),
		Email:       normalizeEmail(in.Email),
	}
}

// ValidateCustomer checks a customer record; today bounds the date of birth.
// Email is optional. The messages say what to do, including the usual
// spreadsheet traps (dropped leading zeros, reformatted dates).
func ValidateCustomer(in CustomerInput, today time.Time) FieldErrors {
	in = in.normalize()
	fe := FieldErrors{}
	switch n := utf8.RuneCountInString(in.EndUserID); {
	case n == 0:
		fe["end_user_id"] = "Enter the end user ID you give Pinwheel."
	case n > 255:
		fe["end_user_id"] = "Use at most 255 characters for the end user ID."
	case strings.ContainsFunc(in.EndUserID, unicode.IsControl):
		fe["end_user_id"] = "The end user ID contains control characters; remove them."
	}
	if n := utf8.RuneCountInString(in.FullName); n == 0 || n > 200 {
		fe["full_name"] = "Enter the full name (1 to 200 characters)."
	}
	if msg := validateDOB(in.DateOfBirth, today); msg != "" {
		fe["date_of_birth"] = msg
	}
	switch {
	case in.SSNLast4 == "":
		fe["ssn_last4"] = "Enter the last four digits of the SSN."
	case !allDigits(in.SSNLast4):
		fe["ssn_last4"] = "Use digits only: the last four digits of the SSN."
	case len(in.SSNLast4) < 4:
		fe["ssn_last4"] = "Enter exactly 4 digits. Spreadsheets drop leading zeros: format the column as text."
	case len(in.SSNLast4) > 4:
		fe["ssn_last4"] = "Enter only the last 4 digits of the SSN, not the whole number."
	}
	if in.Email != "" {
		if addr, err := mail.ParseAddress(in.Email); err != nil || addr.Address != in.Email || len(in.Email) > 254 {
			fe["email"] = "Enter a valid email address, or leave it empty."
		}
	}
	if len(fe) == 0 {
		return nil
	}
	return fe
}

// validateDOB accepts a real past date as YYYY-MM-DD, after 1900.
func validateDOB(s string, today time.Time) string {
	if s == "" {
		return "Enter the date of birth as YYYY-MM-DD."
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return "Enter a real date as YYYY-MM-DD, e.g. 1984-07-31."
	}
	y, m, dd := today.UTC().Date()
	if !d.Before(time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)) {
		return "The date of birth must be in the past."
	}
	if d.Year() < 1900 {
		return "Enter a date of birth after 1900."
	}
	return ""
}

const customerColumns = `end_user_id, full_name, date_of_birth, ssn_last4, email, created_at, updated_at`

// A customer's date of birth and SSN last four are encrypted at rest, each
// sealed for its own column (crypto.go), so a copy of the database without
// the key does not hold them; the identity match and the audited Reveal
// decrypt them in the process. Rows written before encryption are sealed at
// the next start (encryptLegacyRows); until then a value without the
// sealed prefix is read as it is.
const (
	purposeCustomerDOB  = "customers.date_of_birth"
	purposeCustomerSSN4 = "customers.ssn_last4"
)

// scanCustomer reads a customer row and decrypts its sealed fields.
func (s *Store) scanCustomer(sc interface{ Scan(...any) error }) (Customer, error) {
	var c Customer
	var created, updated string
	if err := sc.Scan(&c.EndUserID, &c.FullName, &c.DateOfBirth, &c.SSNLast4, &c.Email, &created, &updated); err != nil {
		return c, err
	}
	c.CreatedAt, c.UpdatedAt = ParseTime(created), ParseTime(updated)
	var err error
	if c.DateOfBirth, err = s.keys.openLegacy(purposeCustomerDOB, c.DateOfBirth); err != nil {
		return c, fmt.Errorf("customer %q: %w", c.EndUserID, err)
	}
	if c.SSNLast4, err = s.keys.openLegacy(purposeCustomerSSN4, c.SSNLast4); err != nil {
		return c, fmt.Errorf("customer %q: %w", c.EndUserID, err)
	}
	return c, nil
}

// CustomerByEndUserID returns one customer record.
func (s *Store) CustomerByEndUserID(ctx context.Context, endUserID string) (Customer, error) {
	c, err := s.scanCustomer(s.r.QueryRowContext(ctx, `SELECT `+customerColumns+` FROM customers WHERE end_user_id = ?`, endUserID))
	if err != nil {
		return Customer{}, fmt.Errorf("db: customer %q: %w", endUserID, notFound(err))
	}
	return c, nil
}

// CustomerFilter selects customer records. After is a keyset cursor: only
// records whose end_user_id sorts after it are returned.
type CustomerFilter struct {
	Prefix string // end_user_id prefix
	After  string
	Limit  int // default 50
}

// ListCustomers returns customer records in end_user_id order, at most
// f.Limit, and whether more follow. The prefix search is a range on the
// primary key, not a LIKE, so it uses the index.
func (s *Store) ListCustomers(ctx context.Context, f CustomerFilter) ([]Customer, bool, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	where, args := []string{"1=1"}, []any{}
	if f.Prefix != "" {
		// U+10FFFF is the largest code point, so its UTF-8 bytes sort after
		// any continuation of the prefix.
		where, args = append(where, "end_user_id >= ? AND end_user_id < ?"), append(args, f.Prefix, f.Prefix+"\U0010FFFF")
	}
	if f.After != "" {
		where, args = append(where, "end_user_id > ?"), append(args, f.After)
	}
	args = append(args, f.Limit+1)
	rows, err := s.r.QueryContext(ctx, `SELECT `+customerColumns+` FROM customers WHERE `+strings.Join(where, " AND ")+` ORDER BY end_user_id LIMIT ?`, args...)
	if err != nil {
		return nil, false, fmt.Errorf("db: list customers: %w", err)
	}
	defer rows.Close()
	var out []Customer
	for rows.Next() {
		c, err := s.scanCustomer(rows)
		if err != nil {
			return nil, false, fmt.Errorf("db: list customers: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("db: list customers: %w", err)
	}
	more := len(out) > f.Limit
	if more {
		out = out[:f.Limit]
	}
	return out, more, nil
}

// CountCustomers counts the customer records whose end_user_id starts with
// prefix (all of them when prefix is empty), reading at most limit+1 rows
// of the primary key's range: more reports that there are more than limit.
func (s *Store) CountCustomers(ctx context.Context, prefix string, limit int) (n int64, more bool, err error) {
	var where []string
	var args []any
	if prefix != "" {
		where, args = []string{"end_user_id >= ? AND end_user_id < ?"}, []any{prefix, prefix + "\U0010FFFF"}
	}
	if n, more, err = countRows(ctx, s.r, "customers", where, args, limit); err != nil {
		return 0, false, fmt.Errorf("db: count customers: %w", err)
	}
	return n, more, nil
}

// SaveCustomer creates or updates the customer record of in.EndUserID,
// audits which fields changed, and recomputes the identity verdicts of that
// end user's accounts, all in one transaction. It reports whether the
// record was created. Saving identical values changes nothing.
//
// A blank date of birth or SSN last four keeps the stored value of an
// existing record: the edit form never carries them (staff see them only
// through the audited Reveal), so leaving them blank must not erase them.
// For a new record they are required as usual.
func (s *Store) SaveCustomer(ctx context.Context, a Actor, in CustomerInput) (Customer, bool, error) {
	in = in.normalize()
	var c Customer
	var created bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		ct, err := s.prepareCustomerTx(ctx, tx)
		if err != nil {
			return err
		}
		defer ct.close()
		if in.DateOfBirth == "" || in.SSNLast4 == "" {
			old, err := s.scanCustomer(ct.get.QueryRowContext(ctx, in.EndUserID))
			switch {
			case err == nil:
				in.DateOfBirth, in.SSNLast4 = cmp.Or(in.DateOfBirth, old.DateOfBirth), cmp.Or(in.SSNLast4, old.SSNLast4)
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
		}
		if fe := ValidateCustomer(in, s.now()); fe != nil {
			return fe
		}
		var changed []string
		c, changed, created, err = ct.upsert(ctx, in)
		if err != nil || len(changed) == 0 {
			return err
		}
		action := ActionCustomerUpdated
		detail := map[string]any{"changed": changed}
		if created {
			action, detail = ActionCustomerCreated, map[string]any{"fields": changed}
		}
		if err := s.appendAudit(ctx, tx, a, action, "customer", c.EndUserID, detail); err != nil {
			return err
		}
		_, err = ct.recomputeVerdicts(ctx, c)
		return err
	})
	var fe FieldErrors
	switch {
	case errors.As(err, &fe):
		return Customer{}, false, fe
	case err != nil:
		return Customer{}, false, fmt.Errorf("db: save customer %q: %w", in.EndUserID, err)
	}
	return c, created, nil
}

// customerTx holds the prepared statements that write customer records and
// recompute their verdicts inside one transaction, so that an import of
// 50,000 rows parses its SQL once rather than 150,000 times.
type customerTx struct {
	s                                         *Store
	get, insert, update, verdicts, setVerdict *sql.Stmt
	// search keeps the search index in step with the records.
	search *searchIndexer
}

func (s *Store) prepareCustomerTx(ctx context.Context, tx *sql.Tx) (*customerTx, error) {
	ct := &customerTx{s: s}
	search, err := newSearchIndexer(ctx, tx)
	if err != nil {
		return nil, err
	}
	ct.search = search
	for _, p := range []struct {
		dst **sql.Stmt
		q   string
	}{
		{&ct.get, `SELECT ` + customerColumns + ` FROM customers WHERE end_user_id = ?`},
		{&ct.insert, `INSERT INTO customers (` + customerColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?)`},
		{&ct.update, `UPDATE customers SET full_name = ?, date_of_birth = ?, ssn_last4 = ?, email = ?, updated_at = ? WHERE end_user_id = ?`},
		{&ct.verdicts, `SELECT account_id, id_full_name, id_dob, id_last4 FROM identity_verdicts WHERE end_user_id = ?`},
		{&ct.setVerdict, `UPDATE identity_verdicts SET result = ?, name_score = ?, fields = ?, computed_at = ? WHERE account_id = ?`},
	} {
		st, err := tx.PrepareContext(ctx, p.q)
		if err != nil {
			ct.close()
			return nil, err
		}
		*p.dst = st
	}
	return ct, nil
}

func (ct *customerTx) close() {
	ct.search.close()
	for _, st := range []*sql.Stmt{ct.get, ct.insert, ct.update, ct.verdicts, ct.setVerdict} {
		if st != nil {
			st.Close()
		}
	}
}

// upsert writes a normalized, valid record and returns the names of the
// fields that changed (all set fields when created).
func (ct *customerTx) upsert(ctx context.Context, in CustomerInput) (Customer, []string, bool, error) {
	now := ct.s.now().UTC()
	old, err := ct.s.scanCustomer(ct.get.QueryRowContext(ctx, in.EndUserID))
	if errors.Is(err, sql.ErrNoRows) {
		c := Customer{EndUserID: in.EndUserID, FullName: in.FullName, DateOfBirth: in.DateOfBirth, SSNLast4: in.SSNLast4, Email: in.Email, CreatedAt: now, UpdatedAt: now}
		_, err := ct.insert.ExecContext(ctx, c.EndUserID, c.FullName, ct.s.keys.seal(purposeCustomerDOB, c.DateOfBirth),
			ct.s.keys.seal(purposeCustomerSSN4, c.SSNLast4), c.Email, FormatTime(now), FormatTime(now))
		changed := []string{"full_name", "date_of_birth", "ssn_last4"}
		if c.Email != "" {
			changed = append(changed, "email")
		}
		if err == nil {
			err = ct.search.replace(ctx, c.EndUserID, searchSourceCustomer, customerTerms(c))
		}
		return c, changed, true, err
	}
	if err != nil {
		return Customer{}, nil, false, err
	}
	var changed []string
	for _, f := range []struct {
		name     string
		old, new string
	}{{"full_name", old.FullName, in.FullName}, {"date_of_birth", old.DateOfBirth, in.DateOfBirth}, {"ssn_last4", old.SSNLast4, in.SSNLast4}, {"email", old.Email, in.Email}} {
		if f.old != f.new {
			changed = append(changed, f.name)
		}
	}
	if len(changed) == 0 {
		return old, nil, false, nil
	}
	c := old
	c.FullName, c.DateOfBirth, c.SSNLast4, c.Email, c.UpdatedAt = in.FullName, in.DateOfBirth, in.SSNLast4, in.Email, now
	_, err = ct.update.ExecContext(ctx, c.FullName, ct.s.keys.seal(purposeCustomerDOB, c.DateOfBirth), ct.s.keys.seal(purposeCustomerSSN4, c.SSNLast4),
		c.Email, FormatTime(now), c.EndUserID)
	if err == nil && (old.FullName != c.FullName || old.Email != c.Email) {
		err = ct.search.replace(ctx, c.EndUserID, searchSourceCustomer, customerTerms(c))
	}
	return c, changed, false, err
}
