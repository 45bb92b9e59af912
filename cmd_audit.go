package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"linkdesk/db"
	"linkdesk/evidence"
)

// The audit key and the anchor file (issue 12): the settings, their
// loading, the start-up line, and the offline checks `linkdesk audit
// verify` and `linkdesk evidence verify`. Kept apart from config.go so
// that the key loading there can change without touching this.

// auditKeyHelp says what LINKDESK_AUDIT_KEY covers (a key spec of
// keys.go); the README repeats it.
const auditKeyHelp = "audit keys, newest first, comma-separated: each 64 hex characters (a 32-byte key). The newest keys the audit trail's hash chain and signs evidence packs and audit exports; older ones still verify what they keyed. Required outside emulator mode; in emulator mode one is generated and kept in the database, so anyone with a copy of the file could re-hash the trail"

// auditAnchorHelp says what LINKDESK_AUDIT_ANCHOR is.
const auditAnchorHelp = "append-only file the audit chain's head is published to after every change, to catch removed rows (default: the SQLite database path + .audit-anchor; on PostgreSQL none unless set, one file per instance); keep it where the database's writers cannot rewrite it"

// auditAnchorSetting is the anchor's setting, shared by serve and the
// staff commands (which write audit rows too).
var auditAnchorSetting = setting{"LINKDESK_AUDIT_ANCHOR", "audit-anchor", "", auditAnchorHelp}

// auditSettings are the audit key's settings (LINKDESK_AUDIT_KEY and its
// _FILE) and the anchor's: what a command that appends to the trail needs.
func auditSettings() []setting {
	return append(keySpecOf("LINKDESK_AUDIT_KEY").settings(), auditAnchorSetting)
}

// parseAuditKey checks one 64-hex-character audit key.
func parseAuditKey(s string) error {
	_, err := db.ParseAuditKey(s)
	return err
}

// auditKeysOf parses LINKDESK_AUDIT_KEY's list, newest first.
func auditKeysOf(list []string) [][]byte {
	var out [][]byte
	for _, s := range list {
		b, _ := db.ParseAuditKey(s) // parseAuditKey checked it
		out = append(out, b)
	}
	return out
}

// loadAuditConfig reads the audit keys (newest first; none when unset) and
// the anchor of a command other than serve (serve's keys come with the
// others, config.go).
func loadAuditConfig(m map[string]string) (keys [][]byte, anchor string, err error) {
	list, err := loadKey(m, keySpecOf("LINKDESK_AUDIT_KEY"))
	if err != nil {
		return nil, "", err
	}
	return auditKeysOf(list), m["LINKDESK_AUDIT_ANCHOR"], nil
}

// announceAudit says at start-up with which key the trail is kept and
// where its head is published.
func announceAudit(stdout io.Writer, store *db.Store) {
	where := store.AnchorPath()
	if where == "" {
		where = "no file (LINKDESK_AUDIT_ANCHOR is unset)"
	}
	fmt.Fprintf(stdout, "Audit trail: keyed with audit key %s; chain head published to %s\n", store.AuditKeys().Current, where)
}

// shownDB is a database as printed: a PostgreSQL URL without its
// password (in the user part or the query).
func shownDB(path string) string {
	u, err := url.Parse(path)
	if err != nil || !db.IsPostgresURL(path) {
		return path
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// auditVerifySettings are the settings of `linkdesk audit verify`.
var auditVerifySettings = []setting{
	{"LINKDESK_DB", "db", "linkdesk.db", "path of the SQLite database whose audit trail to check (opened read-only; \"none\" to check only an export)"},
	databaseURLSetting,
	{"LINKDESK_AUDIT_KEY", "audit-key", "", "the audit keys (64 hex characters each, newest first, comma-separated); unset: the key kept in the database (emulator mode)"},
	{"LINKDESK_AUDIT_KEY_FILE", "audit-key-file", "", "file holding LINKDESK_AUDIT_KEY instead (owner-only)"},
	{"LINKDESK_AUDIT_ANCHOR", "anchor", "", "anchor file to check the trail against (default: the database path + .audit-anchor, when it exists; \"none\" to skip)"},
	{"", "export", "", "an audit export (/audit/export.csv or .jsonl) to check: every row's hash, the links, the count and the seal; with a database, also that the database still holds its rows and head"},
}

// cmdAudit runs `linkdesk audit verify`.
func cmdAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const usage = "Usage: linkdesk audit verify [flags]\n\nChecks the audit trail offline: every row's keyed hash and link, no row missing, the anchor file's heads,\nand an export when given. Exits non-zero with the first bad row."
	if len(args) == 0 || args[0] != "verify" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintf(stdout, "%s\n\n", usage)
			printSettings(stdout, auditVerifySettings)
			return nil
		}
		fmt.Fprintf(stderr, "%s\n\n", usage)
		printSettings(stderr, auditVerifySettings)
		return errors.New("audit: which command? verify")
	}
	m, err := parseSettings("audit verify", usage, auditVerifySettings, args[1:], getenv, stdout)
	if err != nil {
		return err
	}
	configured, _, err := loadAuditConfig(m)
	if err != nil {
		return err
	}
	path, exportPath := m["LINKDESK_DB"], m["--export"]
	if u := m["LINKDESK_DATABASE_URL"]; u != "" && path != "none" {
		if path, err = databaseOf(m); err != nil {
			return err
		}
	}
	var store *db.Store
	keys, _ := db.NewAuditKeys(configured...)
	if path != "none" {
		opt := db.Options{ReadOnly: true}
		if len(configured) > 0 {
			opt.AuditKey, opt.OldAuditKeys = configured[0], configured[1:]
		}
		if store, err = openExistingStore(ctx, path, opt); err != nil {
			return err
		}
		defer store.Close()
		keys = store.AuditKeys()
	}
	if store != nil {
		anchor := m["LINKDESK_AUDIT_ANCHOR"]
		switch anchor {
		case "none":
			anchor = "-"
		case "":
			if anchor = store.AnchorPath(); anchor == "" {
				anchor = "-" // PostgreSQL: no anchor file unless one is named
			}
		default:
			if _, err := os.Stat(anchor); err != nil {
				return fmt.Errorf("LINKDESK_AUDIT_ANCHOR: %w", err)
			}
		}
		start := time.Now()
		v, err := store.VerifyChain(ctx, db.VerifyOptions{Keys: keys, Anchor: anchor})
		if err != nil {
			return err
		}
		took := time.Since(start)
		if v.Bad != nil {
			fmt.Fprintf(stdout, "FAILED: the audit trail of %s is broken at row %d: %s\n(%d row%s before it verified)\n", shownDB(path), v.Bad.ID, v.Bad.Reason, v.Rows, plural(int(v.Rows)))
			return fmt.Errorf("audit verify: row %d: %s", v.Bad.ID, v.Bad.Reason)
		}
		fmt.Fprintf(stdout, "OK: %d row%s of %s verified in %s (%.0f rows/s); head row %d, hash %s, %s\n", v.Rows, plural(int(v.Rows)), shownDB(path), took.Round(time.Millisecond),
			float64(v.Rows)/max(took.Seconds(), 1e-9), v.Head.Seq, v.Head.Hash, db.FormatTime(v.Head.At))
		if anchor != "-" {
			fmt.Fprintf(stdout, "Anchor %s: %s\n", anchor, v.Anchor)
		}
	}
	if exportPath != "" {
		if err := verifyExportFile(ctx, exportPath, keys, store, stdout); err != nil {
			return err
		}
	}
	if store == nil && exportPath == "" {
		return errors.New("audit verify: nothing to check: give --db or --export")
	}
	return nil
}

// verifyExportFile checks an export file, and against store when given.
func verifyExportFile(ctx context.Context, path string, keys *db.AuditKeys, store *db.Store, stdout io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--export: %w", err)
	}
	defer f.Close()
	v, err := db.VerifyAuditExport(f, keys)
	if err != nil {
		fmt.Fprintf(stdout, "FAILED: the export %s: %v\n", path, err)
		return fmt.Errorf("audit verify: %s: %w", path, err)
	}
	if store != nil {
		if err := store.CompareExport(ctx, v); err != nil {
			fmt.Fprintf(stdout, "FAILED: the export %s and the database disagree: %v\n", path, err)
			return fmt.Errorf("audit verify: %s: %w", path, err)
		}
	}
	fmt.Fprintf(stdout, "OK: the export %s: %d rows, exported by %s at %s, chain head row %d hash %s\n", path, v.Rows, v.Header.ExportedBy,
		db.FormatTime(v.Header.ExportedAt), v.Header.Head.Seq, v.Header.Head.Hash)
	return nil
}

// evidenceVerifySettings are the settings of `linkdesk evidence verify`.
var evidenceVerifySettings = []setting{
	{"", "public-key", "", "the Ed25519 public key (hex) the pack must be signed with, as /audit shows it"},
	{"LINKDESK_AUDIT_KEY", "audit-key", "", "the audit keys (64 hex characters each, comma-separated): trusts their signing keys and checks every staff action's chain hash"},
	{"LINKDESK_AUDIT_KEY_FILE", "audit-key-file", "", "file holding LINKDESK_AUDIT_KEY instead (owner-only)"},
	{"", "db", "", "a Linkdesk database whose kept audit key to trust (emulator mode), opened read-only"},
}

// cmdEvidence runs `linkdesk evidence verify PACK.zip`.
func cmdEvidence(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const usage = "Usage: linkdesk evidence verify [flags] PACK.zip\n\nChecks an evidence pack offline: the manifest's signature under a trusted key, every file's SHA-256 and\nsize, nothing added or missing, and (with the audit key) every staff action's chain hash. Exits non-zero\nnaming the bad file."
	if len(args) == 0 || args[0] != "verify" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintf(stdout, "%s\n\n", usage)
			printSettings(stdout, evidenceVerifySettings)
			return nil
		}
		fmt.Fprintf(stderr, "%s\n\n", usage)
		printSettings(stderr, evidenceVerifySettings)
		return errors.New("evidence: which command? verify")
	}
	m, pos, err := parseCommand("evidence verify", usage, evidenceVerifySettings, 1, args[1:], getenv, stdout)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return errors.New("evidence verify: which pack? linkdesk evidence verify PACK.zip")
	}
	trust := evidence.Trust{}
	if k := m["--public-key"]; k != "" {
		trust.PublicKeys = append(trust.PublicKeys, strings.ToLower(k))
	}
	keys, _, err := loadAuditConfig(m)
	if err != nil {
		return err
	}
	if path := m["--db"]; path != "" {
		opt := db.Options{ReadOnly: true}
		if len(keys) > 0 {
			opt.AuditKey, opt.OldAuditKeys = keys[0], keys[1:]
		}
		store, err := openExistingStore(ctx, path, opt)
		if err != nil {
			return err
		}
		defer store.Close()
		trust.Keys = store.AuditKeys()
	} else if len(keys) > 0 {
		trust.Keys, _ = db.NewAuditKeys(keys...)
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return fmt.Errorf("evidence verify: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	rep, err := evidence.Verify(f, st.Size(), trust)
	if err != nil {
		fmt.Fprintf(stdout, "FAILED: %s: %v\n", pos[0], err)
		return err
	}
	mf := rep.Manifest
	fmt.Fprintf(stdout, "OK: %s is the evidence pack of %s %s, built %s by %s; audit chain head row %d (%s); %d files match their SHA-256",
		pos[0], strings.ReplaceAll(mf.Subject.Type, "_", " "), mf.Subject.ID, db.FormatTime(mf.Generated), mf.ExportedBy.Email,
		mf.ChainHead.Seq, mf.ChainHead.Hash, len(mf.Files))
	if trust.Keys != nil {
		fmt.Fprintf(stdout, "; %d staff actions' chain hashes verified", rep.StaffActionsChecked)
	}
	fmt.Fprintln(stdout)
	return nil
}
