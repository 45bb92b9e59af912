package db

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
)

// ActionPayItemsExported is the audit action of a paystubs export.
const ActionPayItemsExported = "paystubs.exported"

// PayExportRow is one exported paystub or shift with the reasons it is
// kept out of the report's figures (none for a usable one).
type PayExportRow struct {
	PayItem
	Flags []string
}

// ExportPayItems records the export of an account's or end user's
// paystubs and shifts in the audit trail (with its format), then calls fn
// for each current one, account by account (latest activity first),
// newest pay date first, or returns ErrNotFound for an unknown subject.
// Each account is read in its own short read, so no transaction is held
// open while the client downloads.
func (s *Store) ExportPayItems(ctx context.Context, a Actor, scope, id, format string, fn func(PayExportRow) error) (int64, error) {
	var accounts []string
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		data, err := readReportAccounts(ctx, tx, scope, id)
		accounts = data
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("db: export paystubs: %w", err)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		return s.appendAudit(ctx, tx, a, ActionPayItemsExported, scope, id, map[string]any{"format": format, "accounts": len(accounts)})
	})
	if err != nil {
		return 0, fmt.Errorf("db: export paystubs: %w", err)
	}
	today := DateOf(s.now())
	var n int64
	for _, acc := range accounts {
		var items []PayItem
		err := s.rtx(ctx, func(tx *sql.Tx) error {
			ref, err := accountRefOf(ctx, tx, acc)
			if err != nil {
				return err
			}
			for _, kind := range []string{FetchPaystubs, FetchShifts} {
				list, err := currentPayItems(ctx, tx, ref, kind, false)
				if err != nil {
					return err
				}
				items = append(items, list...)
			}
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("db: export paystubs: %w", err)
		}
		var stubs, shifts []PayItem
		for _, it := range items {
			if it.Kind == FetchShifts {
				shifts = append(shifts, it)
			} else {
				stubs = append(stubs, it)
			}
		}
		flags := FlagItems(stubs, today)
		for ref, why := range FlagItems(shifts, today) {
			flags[ref] = why
		}
		slices.SortStableFunc(items, func(x, y PayItem) int { return y.PayDate.Compare(x.PayDate) })
		for _, it := range items {
			if err := fn(PayExportRow{PayItem: it, Flags: flags[it.Ref]}); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// readReportAccounts lists the account ids of a report's subject, or
// ErrNotFound.
func readReportAccounts(ctx context.Context, tx *sql.Tx, scope, id string) ([]string, error) {
	q := `SELECT account_id FROM accounts WHERE account_id = ?`
	if scope == ScopeEndUser {
		var ref int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM end_users WHERE end_user_id = ?`, id).Scan(&ref); err != nil {
			return nil, notFound(err)
		}
		q = `SELECT account_id FROM accounts WHERE end_user_ref = (SELECT id FROM end_users WHERE end_user_id = ?) ORDER BY last_event_at DESC, id DESC LIMIT 50`
	}
	rows, err := tx.QueryContext(ctx, q, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if scope == ScopeAccount && len(out) == 0 {
		return nil, ErrNotFound
	}
	return out, nil
}
