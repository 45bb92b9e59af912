package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Setting returns a stored setting, or ErrNotFound.
func (s *Store) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if err != nil {
		return "", fmt.Errorf("db: setting %s: %w", key, notFound(err))
	}
	return v, nil
}

// SetSetting stores a setting.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, key, value, FormatTime(s.now()))
		return err
	})
}

// SettingOrCreate returns the setting, creating it with gen() the first time.
// INSERT ... ON CONFLICT DO NOTHING makes concurrent first starts agree.
func (s *Store) SettingOrCreate(ctx context.Context, key string, gen func() (string, error)) (string, error) {
	v, err := s.Setting(ctx, key)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return "", err
	}
	nv, err := gen()
	if err != nil {
		return "", err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING`, key, nv, FormatTime(s.now())); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	})
	if err != nil {
		return "", fmt.Errorf("db: create setting %s: %w", key, err)
	}
	return v, nil
}

// SessionKeys returns the cookie hash and block keys kept in the database,
// generating them on first use so that sessions survive restarts.
func (s *Store) SessionKeys(ctx context.Context) (hashKey, blockKey []byte, err error) {
	v, err := s.SettingOrCreate(ctx, "session_keys", func() (string, error) {
		return RandomHex(64) + ":" + RandomHex(32), nil
	})
	if err != nil {
		return nil, nil, err
	}
	return ParseSessionKeys(v)
}

// ParseSessionKeys parses "hexHashKey:hexBlockKey" (block key 16, 24 or 32 bytes).
func ParseSessionKeys(v string) (hashKey, blockKey []byte, err error) {
	h, b, ok := strings.Cut(v, ":")
	if !ok {
		return nil, nil, errors.New("want two hex keys separated by a colon")
	}
	hashKey, err1 := hex.DecodeString(h)
	blockKey, err2 := hex.DecodeString(b)
	if err1 != nil || err2 != nil {
		return nil, nil, errors.New("keys must be hex")
	}
	if len(hashKey) < 32 {
		return nil, nil, errors.New("the hash key must be at least 32 bytes")
	}
	if n := len(blockKey); n != 16 && n != 24 && n != 32 {
		return nil, nil, errors.New("the block key must be 16, 24 or 32 bytes")
	}
	return hashKey, blockKey, nil
}

// RandomHex returns n random bytes as hex.
func RandomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}
