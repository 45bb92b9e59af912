package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"linkdesk/db"
)

// `linkdesk keys`: fresh keys, and the re-encryption that completes a key
// rotation. Both follow the settings-table style of every command.

// keysSubcommand is one `linkdesk keys` command.
type keysSubcommand struct {
	name, summary string
	settings      []setting
	run           func(ctx context.Context, m map[string]string, getenv func(string) string, out io.Writer) error
}

func keysSubcommands() []keysSubcommand {
	return []keysSubcommand{
		{name: "new", summary: "print fresh values of every key setting (LINKDESK_SESSION_KEYS, LINKDESK_ENCRYPTION_KEY), to put in a key file or a secret store",
			run: keysNew},
		{name: "reencrypt",
			summary:  "encrypt every encrypted value again with the newest LINKDESK_ENCRYPTION_KEY (the first of the list), after a new key was put first; then delete the keys generated and kept in the database (emulator mode) when configured ones replaced them. Safe while Linkdesk runs, and to run again",
			settings: slices.Concat(staffDB, keySettings()), run: keysReencrypt},
	}
}

// keysUsage prints every keys command with its settings table.
func keysUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: linkdesk keys COMMAND [flags]\n\nKeys kept apart from the data: fresh ones, and re-encryption after a rotation (see README, Security).")
	for _, sc := range keysSubcommands() {
		fmt.Fprintf(w, "\nlinkdesk keys %s\n  %s\n\n", sc.name, sc.summary)
		printSettings(w, sc.settings)
	}
}

// cmdKeys runs `linkdesk keys new|reencrypt`.
func cmdKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help" {
		keysUsage(stdout)
		if len(args) == 0 {
			return errors.New("keys: which command? new or reencrypt")
		}
		return nil
	}
	for _, sc := range keysSubcommands() {
		if sc.name != args[0] {
			continue
		}
		usage := fmt.Sprintf("Usage: linkdesk keys %s [flags]\n\n%s", sc.name, sc.summary)
		m, err := parseSettings("keys "+sc.name, usage, sc.settings, args[1:], getenv, stdout)
		if err != nil {
			return err
		}
		return sc.run(ctx, m, getenv, stdout)
	}
	keysUsage(stderr)
	return fmt.Errorf("keys: unknown command %q", args[0])
}

// keysNew prints a fresh value of every key that can be generated.
func keysNew(_ context.Context, _ map[string]string, _ func(string) string, out io.Writer) error {
	fmt.Fprintln(out, "# Fresh keys. Keep them out of the database's directory and backups, readable by")
	fmt.Fprintln(out, "# Linkdesk's account only (a file named by LINKDESK_..._FILE must be mode 600).")
	fmt.Fprintln(out, "# To rotate, put a new key first and keep the old ones after it, comma-separated;")
	fmt.Fprintln(out, "# after linkdesk keys reencrypt, drop the old encryption keys.")
	for _, k := range keySpecs {
		if k.gen != nil {
			fmt.Fprintf(out, "%s=%s\n", k.env, k.gen())
		}
	}
	return nil
}

// keysReencrypt seals everything again with the newest encryption key.
func keysReencrypt(ctx context.Context, m map[string]string, getenv func(string) string, out io.Writer) error {
	enc, err := loadKey(m, keySpecOf("LINKDESK_ENCRYPTION_KEY"))
	if err != nil {
		return err
	}
	if len(enc) == 0 {
		return errors.New("LINKDESK_ENCRYPTION_KEY: required: the keys, newest first (the newest encrypts; the others, and a key generated in the database, decrypt)")
	}
	sess, err := loadKey(m, keySpecOf("LINKDESK_SESSION_KEYS"))
	if err != nil {
		return err
	}
	keys := encryptionKeys(enc)
	path, err := databaseOf(m)
	if err != nil {
		return err
	}
	store, err := openExistingStore(ctx, path, db.Options{EncryptionKey: keys[0], OldEncryptionKeys: keys[1:], NoGeneratedKey: true})
	if err != nil {
		return err
	}
	defer store.Close()
	a := consoleActor(getenv)
	a.Email = strings.Replace(a.Email, "linkdesk staff", "linkdesk keys", 1)
	a.UserAgent = "linkdesk keys"
	r, err := store.Reencrypt(ctx, a, len(sess) > 0)
	if err != nil {
		return err
	}
	cols := make([]string, 0, len(r.Resealed))
	for c := range r.Resealed {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	fmt.Fprintf(out, "Everything is now encrypted with key %s (the first of LINKDESK_ENCRYPTION_KEY).\n", r.Key)
	for _, c := range cols {
		fmt.Fprintf(out, "  %-40s %d re-encrypted\n", c, r.Resealed[c])
	}
	if r.DroppedStoredKey {
		fmt.Fprintln(out, "The encryption key generated and kept in the database was deleted: nothing needs it now.")
	}
	if r.DroppedSessionKeys {
		fmt.Fprintln(out, "The session keys generated and kept in the database were deleted: LINKDESK_SESSION_KEYS replaces them.")
	}
	if len(keys) > 1 {
		fmt.Fprintln(out, "The older keys of LINKDESK_ENCRYPTION_KEY are no longer needed: remove them from the list.")
	}
	return nil
}
