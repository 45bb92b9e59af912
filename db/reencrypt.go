package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Key rotation. The keyring encrypts with its newest key and decrypts with
// any it holds (each value names its key), so a new key can be put first
// and the old ones kept until Reencrypt has sealed every value again under
// the new one; then the old keys may go. Every column the keyring seals is
// listed in sealedColumns: a new encrypted column adds a line there.

// sealedColumn is a column whose values the keyring seals.
type sealedColumn struct {
	table, key, column, purpose string
	// legacyPlain: the column held clear text before it was encrypted;
	// such values are sealed too (by the data migration, and by Reencrypt).
	legacyPlain bool
}

var sealedColumns = []sealedColumn{
	{"deposit_accounts", "id", "account_number_enc", purposeAccountNumber, false},
	{"link_token_mints", "id", "token_enc", purposeLinkToken, false},
	{"staff", "id", "totp_secret_enc", purposeTOTPSecret, false},
	{"customers", "end_user_id", "date_of_birth", purposeCustomerDOB, true},
	{"customers", "end_user_id", "ssn_last4", purposeCustomerSSN4, true},
	{"customer_imports", "id", "rows", purposeImportRows, true},
	{"alert_destinations", "id", "secret_enc", purposeDestinationSecrets, false},
}

// ActionKeysReencrypted is the audit action of `linkdesk keys reencrypt`.
const ActionKeysReencrypted = "keys.reencrypted"

// reencryptBatch is how many values one transaction seals again.
const reencryptBatch = 500

// ReencryptReport is what Reencrypt did.
type ReencryptReport struct {
	// Key is the id of the key everything is now sealed with.
	Key string
	// Resealed counts the values sealed again, by "table.column".
	Resealed map[string]int
	// DroppedStoredKey is set when the key generated and kept in the
	// database was deleted: nothing was sealed with it any more.
	DroppedStoredKey bool
	// DroppedSessionKeys is set when the generated session keys kept in
	// the database were deleted (configured ones replaced them).
	DroppedSessionKeys bool
}

// Reencrypt seals every encrypted value again with the newest key
// (Options.EncryptionKey), in batches, and then deletes the generated key
// kept in the settings table when a configured key has replaced it, and
// the generated session keys when sessionKeysConfigured (nothing reads
// them then). It is safe to run while Linkdesk runs and to run again
// (values already under the newest key are left alone); it is audited.
func (s *Store) Reencrypt(ctx context.Context, a Actor, sessionKeysConfigured bool) (ReencryptReport, error) {
	r := ReencryptReport{Key: s.keys.primary, Resealed: map[string]int{}}
	if s.keys.primary == "" {
		return r, errors.New("db: reencrypt: no encryption key configured")
	}
	for _, c := range sealedColumns {
		n, err := s.resealColumn(ctx, c, false)
		if err != nil {
			return r, err
		}
		r.Resealed[c.table+"."+c.column] = n
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var stored string
		err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, settingEncryptionKey).Scan(&stored)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if stored != "" && s.keys.primary != s.keys.storedID {
			if _, err := tx.ExecContext(ctx, `DELETE FROM settings WHERE key = ?`, settingEncryptionKey); err != nil {
				return err
			}
			r.DroppedStoredKey = true
		}
		if sessionKeysConfigured {
			res, err := tx.ExecContext(ctx, `DELETE FROM settings WHERE key = 'session_keys'`)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			r.DroppedSessionKeys = n > 0
		}
		detail := map[string]any{"key": r.Key, "resealed": r.Resealed}
		if r.DroppedStoredKey {
			detail["dropped_stored_key"] = true
		}
		if r.DroppedSessionKeys {
			detail["dropped_stored_session_keys"] = true
		}
		return s.appendAudit(ctx, tx, a, ActionKeysReencrypted, "keys", r.Key, detail)
	})
	if err != nil {
		return r, fmt.Errorf("db: reencrypt: %w", err)
	}
	return r, nil
}

// resealColumn seals again, with the newest key, every value of c not yet
// under it (onlyPlain: only clear-text values of a legacyPlain column),
// reencryptBatch values per transaction, in key order. It returns how many
// it sealed.
func (s *Store) resealColumn(ctx context.Context, c sealedColumn, onlyPlain bool) (int, error) {
	pattern := "v1:" + s.keys.primary + ":%"
	if onlyPlain {
		pattern = "v1:%"
	}
	query := `SELECT ` + c.key + `, ` + c.column + ` FROM ` + c.table + ` WHERE ` + c.column + ` IS NOT NULL AND ` + c.column +
		` NOT LIKE ? AND ` + c.key + ` > ? ORDER BY ` + c.key + ` LIMIT ?`
	update := `UPDATE ` + c.table + ` SET ` + c.column + ` = ? WHERE ` + c.key + ` = ? AND ` + c.column + ` = ?`
	var after any = ""
	if c.key == "id" {
		after = int64(0)
	}
	total := 0
	for {
		n := 0
		err := s.tx(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, query, pattern, after, reencryptBatch)
			if err != nil {
				return err
			}
			type row struct {
				key   any
				value string
			}
			var batch []row
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.key, &r.value); err != nil {
					rows.Close()
					return err
				}
				batch = append(batch, r)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, r := range batch {
				open := s.keys.open
				if c.legacyPlain {
					open = s.keys.openLegacy
				}
				plain, err := open(c.purpose, r.value)
				if err != nil {
					return fmt.Errorf("%s.%s of %v: %w", c.table, c.column, r.key, err)
				}
				if _, err := tx.ExecContext(ctx, update, s.keys.seal(c.purpose, plain), r.key, r.value); err != nil {
					return err
				}
				after = r.key
			}
			n = len(batch)
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("db: reseal %s.%s: %w", c.table, c.column, err)
		}
		total += n
		if n < reencryptBatch {
			return total, nil
		}
	}
}

// dataMigrations run after the SQL migrations and the keyring are ready,
// once each (recorded in schema_migrations by name, like the SQL files):
// the changes SQL cannot make, such as encrypting what was stored in clear.
// A Store without a key to seal with (a tool opened with NoGeneratedKey on
// a database that has none) leaves them for the next Open that has one.
var dataMigrations = []struct {
	name string
	run  func(ctx context.Context, s *Store) error
}{
	// Customer records' date of birth and SSN last four, and pending
	// uploads' rows, were kept in clear before 025.
	{"025_seal_customer_pii.go", func(ctx context.Context, s *Store) error {
		for _, c := range sealedColumns {
			if c.legacyPlain {
				if _, err := s.resealColumn(ctx, c, true); err != nil {
					return err
				}
			}
		}
		return nil
	}},
}

// runDataMigrations applies the data migrations not yet recorded.
func (s *Store) runDataMigrations(ctx context.Context) error {
	if s.keys.primary == "" {
		return nil
	}
	for _, m := range dataMigrations {
		var n int
		if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = ?`, m.name).Scan(&n); err != nil {
			return fmt.Errorf("db: migration %s: %w", m.name, err)
		}
		if n > 0 {
			continue
		}
		if err := m.run(ctx, s); err != nil {
			return fmt.Errorf("db: migration %s: %w", m.name, err)
		}
		err := s.tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, m.name, FormatTime(s.now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("db: migration %s: %w", m.name, err)
		}
	}
	return nil
}
