package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"linkdesk/db"
)

// Secret keys of `linkdesk serve`. Each key setting is a variable (and
// flag) holding one key or a comma-separated list, newest first, or the
// same text in a file named by <VARIABLE>_FILE that only its owner may
// read. Outside emulator mode the keys are required; in emulator mode a
// missing one is generated and kept in the database, which serve says at
// start-up. A key spec is all there is to a key: a new key setting is one
// more line in keySpecs, and its value is cfg.Keys[env].

// keySpec is one key setting.
type keySpec struct {
	env, flag string
	// help is the meaning of the variable in --help and the README.
	help string
	// parse checks one key of the list (the error says what is wrong).
	parse func(string) error
	// generated names the key in the start-up line of emulator mode, where
	// a missing one is generated and kept in the database ("" for a key
	// that is optional in every mode).
	generated string
	// gen makes a fresh key for `linkdesk keys new` (nil: it prints none).
	gen func() string
}

// fileEnv is the variable naming a file that holds the key.
func (k keySpec) fileEnv() string { return k.env + "_FILE" }

// settings are the key's two settings: the value, and the file.
func (k keySpec) settings() []setting {
	return []setting{
		{k.env, k.flag, "", k.help},
		{k.fileEnv(), k.flag + "-file", "", "file holding " + k.env + " instead (one key per line or comma-separated, newest first); it must be readable by its owner only"},
	}
}

// encryptionKeyHelp says what LINKDESK_ENCRYPTION_KEY covers; the README's
// settings table repeats it word for word (a test checks).
const encryptionKeyHelp = "encryption keys, newest first, comma-separated: each 64 hex characters (a 32-byte AES-256-GCM key). The newest encrypts, at rest, deposit account numbers, the stored Link tokens of launch links, customers' dates of birth and SSN last four and staff second-factor secrets; older ones only decrypt, until linkdesk keys reencrypt. Required outside emulator mode"

// keySpecs are the keys serve loads, in --help order.
var keySpecs = []keySpec{
	{env: "LINKDESK_SESSION_KEYS", flag: "session-keys", parse: parseSessionKey, generated: "session keys",
		gen:  func() string { return db.RandomHex(64) + ":" + db.RandomHex(32) },
		help: "cookie keys, newest first, comma-separated: each HEX_HASH_KEY:HEX_BLOCK_KEY (64 and 32 bytes). The newest signs and encrypts new cookies; older ones still read theirs. Required outside emulator mode"},
	{env: "LINKDESK_ENCRYPTION_KEY", flag: "encryption-key", parse: parseEncryptionKey, generated: "the encryption key", help: encryptionKeyHelp,
		gen: func() string { return db.RandomHex(db.EncryptionKeySize) }},
	{env: "LINKDESK_AUDIT_KEY", flag: "audit-key", parse: parseAuditKey, generated: "the audit key", help: auditKeyHelp,
		gen: func() string { return db.RandomHex(db.AuditKeySize) }},
}

// keySettings are the settings of every key spec.
func keySettings() []setting {
	var out []setting
	for _, k := range keySpecs {
		out = append(out, k.settings()...)
	}
	return out
}

// loadKey returns the keys of k from the settings m, newest first: from
// the variable, or from the file its _FILE variable names (owner-only). It
// returns none when neither is set; errors name the variable.
func loadKey(m map[string]string, k keySpec) ([]string, error) {
	text, path := m[k.env], m[k.fileEnv()]
	if text != "" && path != "" {
		return nil, fmt.Errorf("%s: set it or %s, not both", k.env, k.fileEnv())
	}
	if path != "" {
		b, err := readKeyFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k.fileEnv(), err)
		}
		text = string(b)
	}
	var keys []string
	for _, f := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if f = strings.TrimSpace(f); f == "" || strings.HasPrefix(f, "#") {
			continue
		}
		if err := k.parse(f); err != nil {
			return nil, fmt.Errorf("%s: key %d of %d: %v", k.env, len(keys)+1, strings.Count(text, ",")+1, err)
		}
		keys = append(keys, f)
	}
	if (text != "" || path != "") && len(keys) == 0 {
		return nil, fmt.Errorf("%s: no key in it", k.env)
	}
	return keys, nil
}

// readKeyFile reads a key file, refusing one that others may read or
// write: a key beside the data is no better than none, and neither is one
// any local account can read.
func readKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s may be read or written by others (mode %04o): make it owner-only (chmod 600 %s)", path, perm, path)
	}
	return os.ReadFile(path)
}

// parseSessionKey checks one HEX_HASH_KEY:HEX_BLOCK_KEY pair.
func parseSessionKey(s string) error {
	_, _, err := db.ParseSessionKeys(s)
	return err
}

// parseEncryptionKey checks one 64-hex-character key.
func parseEncryptionKey(s string) error {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != db.EncryptionKeySize {
		return errors.New("want 64 hex characters (32 bytes)")
	}
	return nil
}

// sessionKeyPairs parses LINKDESK_SESSION_KEYS's list, newest first.
func sessionKeyPairs(list []string) ([][2][]byte, error) {
	var out [][2][]byte
	for _, s := range list {
		h, b, err := db.ParseSessionKeys(s)
		if err != nil {
			return nil, err
		}
		out = append(out, [2][]byte{h, b})
	}
	return out, nil
}

// encryptionKeys parses LINKDESK_ENCRYPTION_KEY's list, newest first.
func encryptionKeys(list []string) [][]byte {
	var out [][]byte
	for _, s := range list {
		b, _ := hex.DecodeString(s) // parseEncryptionKey checked it
		out = append(out, b)
	}
	return out
}

// keySpec returns the spec of env.
func keySpecOf(env string) keySpec {
	for _, k := range keySpecs {
		if k.env == env {
			return k
		}
	}
	panic("no key spec " + env)
}
