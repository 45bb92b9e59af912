package db

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// EncryptionKeySize is the length of the AES-256-GCM key that encrypts
// secrets at rest (deposit account numbers, stored Link tokens).
const EncryptionKeySize = 32

// settingEncryptionKey is the settings row of the generated key, used when
// no key is configured.
const settingEncryptionKey = "encryption_key"

// ErrUndecryptable means a stored secret cannot be decrypted with any key
// the Store knows: the database was written under a different
// LINKDESK_ENCRYPTION_KEY, or the ciphertext was altered.
var ErrUndecryptable = errors.New("db: stored secret cannot be decrypted with the configured key")

// keyring encrypts with its primary key and decrypts with any key it holds,
// chosen by the key id stored beside each ciphertext.
type keyring struct {
	primary string
	aeads   map[string]cipher.AEAD
	// storedID is the id of the key generated and kept in the settings
	// table, "" when there is none.
	storedID string
}

// keyID names a key without revealing it: 8 hex digits of a hash of it.
func keyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("linkdesk key id\x00"), key...))
	return hex.EncodeToString(sum[:4])
}

func (k *keyring) add(key []byte) (string, error) {
	if len(key) != EncryptionKeySize {
		return "", fmt.Errorf("db: the encryption key must be %d bytes, got %d", EncryptionKeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", fmt.Errorf("db: encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return "", fmt.Errorf("db: encryption key: %w", err)
	}
	id := keyID(key)
	k.aeads[id] = aead
	return id, nil
}

// initCrypto sets up the Store's keyring. The configured key (from
// LINKDESK_ENCRYPTION_KEY, newest first) encrypts everything new; older
// configured keys (the rest of the list) only decrypt, until `linkdesk keys
// reencrypt` has sealed everything again with the newest.
//
// Without a configured key, a key is generated on first start and kept in
// the settings table, as SessionKeys does, so that the emulator mode (a
// demo, development) works with no configuration. That is a real weakness,
// which is why serve allows it in emulator mode only and says so at
// start-up: the key sits in the same file as the ciphertext, so anyone
// holding a copy of the database can decrypt what it protects.
//
// A generated key found in the settings table stays usable for decryption
// after a key is configured, so rows written before the switch still open;
// `linkdesk keys reencrypt` seals them with the configured key and deletes
// the generated one.
//
// With generate false (Options.NoGeneratedKey) and no configured key, a
// stored key is used if present, and none is created.
func (s *Store) initCrypto(ctx context.Context, configured []byte, old [][]byte, generate bool) error {
	ring := &keyring{aeads: map[string]cipher.AEAD{}}
	if configured != nil {
		id, err := ring.add(configured)
		if err != nil {
			return err
		}
		ring.primary = id
	}
	for _, k := range old {
		if _, err := ring.add(k); err != nil {
			return err
		}
	}

	var stored string
	var err error
	if configured == nil && generate {
		stored, err = s.SettingOrCreate(ctx, settingEncryptionKey, func() (string, error) { return RandomHex(EncryptionKeySize), nil })
	} else if stored, err = s.Setting(ctx, settingEncryptionKey); errors.Is(err, ErrNotFound) {
		stored, err = "", nil
	}
	if err != nil {
		return err
	}
	if stored != "" {
		key, err := hex.DecodeString(stored)
		if err != nil {
			return fmt.Errorf("db: the stored encryption key is not hex: %w", err)
		}
		id, err := ring.add(key)
		if err != nil {
			return err
		}
		ring.storedID = id
		if ring.primary == "" {
			ring.primary = id
		}
	}
	s.keys = ring
	return nil
}

// KeyIDs returns the id of the key that encrypts (KeyID of
// Options.EncryptionKey, or of the generated key) and whether that key was
// generated and kept in the database.
func (s *Store) KeyIDs() (primary string, generated bool) {
	return s.keys.primary, s.keys.primary != "" && s.keys.primary == s.keys.storedID
}

// KeyID names a key without revealing it: 8 hex digits of a hash of it.
func KeyID(key []byte) string { return keyID(key) }

// seal encrypts plaintext as "v1:<key id>:<base64 nonce+ciphertext>". The
// purpose is authenticated data: a ciphertext made for one column does not
// open as another.
func (k *keyring) seal(purpose, plaintext string) string {
	aead := k.aeads[k.primary]
	if aead == nil {
		panic("db: no encryption key to seal with: the Store was opened with Options.NoGeneratedKey")
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	out := aead.Seal(nonce, nonce, []byte(plaintext), []byte(purpose))
	return "v1:" + k.primary + ":" + base64.RawStdEncoding.EncodeToString(out)
}

// openLegacy is open for a column that held clear text before it was
// encrypted: a value without seal's "v1:" prefix is returned as it is.
func (k *keyring) openLegacy(purpose, value string) (string, error) {
	if !strings.HasPrefix(value, "v1:") {
		return value, nil
	}
	return k.open(purpose, value)
}

// open decrypts what seal produced.
func (k *keyring) open(purpose, sealed string) (string, error) {
	parts := strings.SplitN(sealed, ":", 3)
	if len(parts) != 3 || parts[0] != "v1" {
		return "", ErrUndecryptable
	}
	aead, ok := k.aeads[parts[1]]
	if !ok {
		return "", fmt.Errorf("%w (it was encrypted with key %s)", ErrUndecryptable, parts[1])
	}
	raw, err := base64.RawStdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) < aead.NonceSize() {
		return "", ErrUndecryptable
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(purpose))
	if err != nil {
		return "", ErrUndecryptable
	}
	return string(plain), nil
}
