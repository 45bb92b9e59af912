package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// This file holds the organisation's settings page data: its name (shown to
// end users in the Link modal) and its deposit accounts, the targets of a
// direct deposit switch.

// Audit actions of organisation settings.
const (
	ActionOrgNameChanged         = "settings.org_name_changed"
	ActionDepositAccountCreated  = "deposit_account.created"
	ActionDepositAccountArchived = "deposit_account.archived"
)

// DefaultOrgName is the organisation name until an admin sets one.
const DefaultOrgName = "Linkdesk Demo"

const settingOrgName = "org_name"

// Deposit account types Pinwheel accepts.
const (
	AccountChecking = "checking"
	AccountSavings  = "savings"
)

// purposeAccountNumber is the authenticated data of encrypted account
// numbers.
const purposeAccountNumber = "deposit_accounts.account_number"

// OrgName returns the organisation's name, or DefaultOrgName when unset.
func (s *Store) OrgName(ctx context.Context) (string, error) {
	v, err := s.Setting(ctx, settingOrgName)
	if errors.Is(err, ErrNotFound) {
		return DefaultOrgName, nil
	}
	return v, err
}

// ValidateOrgName applies Pinwheel's rule for org_name: 3 to 30 characters.
func ValidateOrgName(name string) FieldErrors {
	if n := utf8.RuneCountInString(strings.TrimSpace(name)); n < 3 || n > 30 {
		return FieldErrors{"org_name": "Enter a name of 3 to 30 characters; Pinwheel shows it to end users."}
	}
	return nil
}

// SetOrgName changes the organisation's name and audits the change.
func (s *Store) SetOrgName(ctx context.Context, a Actor, name string) error {
	if fe := ValidateOrgName(name); fe != nil {
		return fe
	}
	name = strings.TrimSpace(name)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		old := DefaultOrgName
		err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, settingOrgName).Scan(&old)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if old == name {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			settingOrgName, name, FormatTime(s.now())); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionOrgNameChanged, "settings", settingOrgName, map[string]any{"from": old, "to": name})
	})
	if err != nil {
		return fmt.Errorf("db: set org name: %w", err)
	}
	return nil
}

// DepositAccount is one of the organisation's bank accounts. The account
// number itself is encrypted at rest and not part of this struct: only
// DepositAccountSecret decrypts it, for minting a token.
type DepositAccount struct {
	ID            int64
	Name          string
	Type          string // checking or savings
	RoutingNumber string
	Last4         string // last four digits of the account number
	Active        bool
	CreatedAt     time.Time
	ArchivedAt    time.Time // zero while active
}

// Label is how staff see the account: "Payroll Checking ••6789".
func (d DepositAccount) Label() string { return d.Name + " ••" + d.Last4 }

// DepositAccountCreate is the input of CreateDepositAccount.
type DepositAccountCreate struct {
	Name          string
	Type          string
	RoutingNumber string
	AccountNumber string
}

// stripDigitSeparators removes spaces and hyphens people paste in numbers.
func stripDigitSeparators(s string) string {
	return strings.NewReplacer(" ", "", "-", "", "\t", "").Replace(strings.TrimSpace(s))
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// ValidRoutingNumber reports whether s is 9 digits with a valid ABA check
// digit: 3(d1+d4+d7) + 7(d2+d5+d8) + (d3+d6+d9) ≡ 0 (mod 10).
func ValidRoutingNumber(s string) bool {
	if len(s) != 9 || !allDigits(s) {
		return false
	}
	d := func(i int) int { return int(s[i] - '0') }
	sum := 3*(d(0)+d(3)+d(6)) + 7*(d(1)+d(4)+d(7)) + d(2) + d(5) + d(8)
	return sum%10 == 0
}

// ValidateDepositAccount checks a new deposit account. Spaces and hyphens
// in the numbers are ignored.
func ValidateDepositAccount(c DepositAccountCreate) FieldErrors {
	fe := FieldErrors{}
	if n := utf8.RuneCountInString(strings.TrimSpace(c.Name)); n < 2 || n > 30 {
		fe["name"] = "Enter a name of 2 to 30 characters, such as Payroll Checking."
	}
	if c.Type != AccountChecking && c.Type != AccountSavings {
		fe["type"] = "Choose checking or savings."
	}
	switch rn := stripDigitSeparators(c.RoutingNumber); {
	case rn == "":
		fe["routing_number"] = "Enter the 9-digit routing number."
	case !allDigits(rn):
		fe["routing_number"] = "Use digits only: a routing number has 9 digits."
	case len(rn) != 9:
		fe["routing_number"] = fmt.Sprintf("A routing number has exactly 9 digits; this has %d.", len(rn))
	case !ValidRoutingNumber(rn):
		fe["routing_number"] = "The routing number's check digit is wrong — check for a typo."
	}
	switch an := stripDigitSeparators(c.AccountNumber); {
	case an == "":
		fe["account_number"] = "Enter the account number."
	case !allDigits(an):
		fe["account_number"] = "Use digits only in the account number."
	case len(an) < 5 || len(an) > 17:
		fe["account_number"] = fmt.Sprintf("An account number has 5 to 17 digits; this has %d.", len(an))
	}
	if len(fe) == 0 {
		return nil
	}
	return fe
}

const depositAccountColumns = `id, name, account_type, routing_number, account_last4, active, created_at, COALESCE(archived_at, '')`

func scanDepositAccount(sc interface{ Scan(...any) error }) (DepositAccount, error) {
	var d DepositAccount
	var active int
	var created, archived string
	err := sc.Scan(&d.ID, &d.Name, &d.Type, &d.RoutingNumber, &d.Last4, &active, &created, &archived)
	d.Active = active == 1
	d.CreatedAt, d.ArchivedAt = ParseTime(created), ParseTime(archived)
	return d, err
}

// ListDepositAccounts returns the deposit accounts, active first, by name;
// with activeOnly, archived ones are left out.
func (s *Store) ListDepositAccounts(ctx context.Context, activeOnly bool) ([]DepositAccount, error) {
	q := `SELECT ` + depositAccountColumns + ` FROM deposit_accounts`
	if activeOnly {
		q += ` WHERE active = 1`
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY active DESC, name, id`)
	if err != nil {
		return nil, fmt.Errorf("db: list deposit accounts: %w", err)
	}
	defer rows.Close()
	var out []DepositAccount
	for rows.Next() {
		d, err := scanDepositAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("db: list deposit accounts: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// CreateDepositAccount validates a deposit account, stores its number
// encrypted and audits the addition (with the last four digits only).
func (s *Store) CreateDepositAccount(ctx context.Context, a Actor, c DepositAccountCreate) (DepositAccount, error) {
	if fe := ValidateDepositAccount(c); fe != nil {
		return DepositAccount{}, fe
	}
	name := strings.TrimSpace(c.Name)
	routing := stripDigitSeparators(c.RoutingNumber)
	number := stripDigitSeparators(c.AccountNumber)
	sealed := s.keys.seal(purposeAccountNumber, number)
	var d DepositAccount
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var by any
		if a.StaffID != 0 {
			by = a.StaffID
		}
		row := tx.QueryRowContext(ctx, `INSERT INTO deposit_accounts
			(name, account_type, routing_number, account_number_enc, account_last4, active, created_by, created_at)
			VALUES (?, ?, ?, ?, ?, 1, ?, ?) RETURNING `+depositAccountColumns,
			name, c.Type, routing, sealed, number[len(number)-4:], by, FormatTime(s.now()))
		var err error
		if d, err = scanDepositAccount(row); err != nil {
			if s.d.isUnique(err) {
				return FieldErrors{"name": "An active deposit account already has this name; choose another or archive that one."}
			}
			return err
		}
		// Allocations to the new account are ours from now on: project
		// every account's allocations again (allocations.go).
		if _, err := s.enqueueJob(ctx, tx, NewJob{Kind: JobCohortAllocations, DedupeKey: "all"}); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionDepositAccountCreated, "deposit_account", fmt.Sprint(d.ID),
			map[string]any{"name": d.Name, "type": d.Type, "routing_number": d.RoutingNumber, "last4": d.Last4})
	})
	if err != nil {
		var fe FieldErrors
		if errors.As(err, &fe) {
			return DepositAccount{}, fe
		}
		return DepositAccount{}, fmt.Errorf("db: create deposit account: %w", err)
	}
	return d, nil
}

// ArchiveDepositAccount takes an account out of use. The row stays, because
// tokens minted for it refer to it. Archiving an archived account changes
// nothing and writes no audit row.
func (s *Store) ArchiveDepositAccount(ctx context.Context, a Actor, id int64) (DepositAccount, error) {
	var d DepositAccount
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		d, err = scanDepositAccount(tx.QueryRowContext(ctx, `SELECT `+depositAccountColumns+` FROM deposit_accounts WHERE id = ?`, id))
		if err != nil {
			return notFound(err)
		}
		if !d.Active {
			return nil
		}
		now := s.now().UTC()
		if _, err := tx.ExecContext(ctx, `UPDATE deposit_accounts SET active = 0, archived_at = ? WHERE id = ?`, FormatTime(now), id); err != nil {
			return err
		}
		d.Active, d.ArchivedAt = false, now
		return s.appendAudit(ctx, tx, a, ActionDepositAccountArchived, "deposit_account", fmt.Sprint(id),
			map[string]any{"name": d.Name, "last4": d.Last4})
	})
	if errors.Is(err, ErrNotFound) {
		return DepositAccount{}, fmt.Errorf("db: deposit account %d: %w", id, err)
	}
	if err != nil {
		return DepositAccount{}, fmt.Errorf("db: archive deposit account %d: %w", id, err)
	}
	return d, nil
}

// DepositAccountSecret returns a deposit account with its decrypted account
// number, for the code that mints a direct deposit switch token. Archived
// accounts are returned too (check Active). The number must never be shown
// or logged.
func (s *Store) DepositAccountSecret(ctx context.Context, id int64) (DepositAccount, string, error) {
	var sealed string
	row := s.r.QueryRowContext(ctx, `SELECT `+depositAccountColumns+`, account_number_enc FROM deposit_accounts WHERE id = ?`, id)
	var d DepositAccount
	var active int
	var created, archived string
	err := row.Scan(&d.ID, &d.Name, &d.Type, &d.RoutingNumber, &d.Last4, &active, &created, &archived, &sealed)
	if err != nil {
		return DepositAccount{}, "", fmt.Errorf("db: deposit account %d: %w", id, notFound(err))
	}
	d.Active = active == 1
	d.CreatedAt, d.ArchivedAt = ParseTime(created), ParseTime(archived)
	number, err := s.keys.open(purposeAccountNumber, sealed)
	if err != nil {
		return DepositAccount{}, "", fmt.Errorf("db: deposit account %d: %w", id, err)
	}
	return d, number, nil
}
