package main

import (
	"archive/zip"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"linkdesk/db"
	"linkdesk/dbtest"
	"linkdesk/evidence"
)

func TestLoadConfig_AuditKey(t *testing.T) {
	key := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		args []string
		bad  string
	}{
		{},
		{args: []string{"--audit-key", key}},
		{args: []string{"--audit-key", "abc"}, bad: "LINKDESK_AUDIT_KEY: key 1 of 1: want 64 hex"},
		{args: []string{"--pinwheel-mode", "production", "--pinwheel-secret", "s"}, bad: "LINKDESK_AUDIT_KEY: required outside emulator mode"},
		{args: []string{"--pinwheel-mode", "sandbox", "--pinwheel-secret", "s", "--session-keys", sessionKeyA, "--encryption-key", encryptionKeyA,
			"--audit-key", key, "--audit-anchor", "/var/lib/x"}},
	} {
		m, err := parseSettings("serve", "", serveSettings, tc.args, func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		_, err = loadConfig(m)
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("%v: %v", tc.args, err)
		case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
			t.Errorf("%v: got %v, want …%s…", tc.args, err, tc.bad)
		}
	}
}

// cliStore makes a database with a few audit rows and returns its path,
// the audit key in hex and the Store (closed at cleanup). With configured
// the key is given, as LINKDESK_AUDIT_KEY is; without, it is generated
// and kept in the database, as in emulator mode.
func cliStore(t *testing.T, configured bool) (string, string, *db.Store) {
	t.Helper()
	ctx := context.Background()
	key := strings.Repeat("5a", 32)
	opt := db.Options{PasswordCost: bcrypt.MinCost}
	if configured {
		opt.AuditKey, _ = db.ParseAuditKey(key)
	}
	path := filepath.Join(t.TempDir(), "cli.db")
	s, err := db.Open(ctx, path, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !configured {
		if key, err = s.Setting(ctx, "audit_key"); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { s.Close() })
	for _, e := range []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com"} {
		if err := s.SignOut(ctx, db.Actor{Email: e}); err != nil {
			t.Fatal(err)
		}
	}
	return path, key, s
}

// linkdesk runs the command line and returns its stdout and error.
func linkdesk(env map[string]string, args ...string) (string, error) {
	var out bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &out, io.Discard)
	return out.String(), err
}

func TestAuditVerify_Command(t *testing.T) {
	path, key, s := cliStore(t, true)
	env := map[string]string{"LINKDESK_AUDIT_KEY": key}
	out, err := linkdesk(env, "audit", "verify", "--db", path)
	if err != nil || !strings.Contains(out, "OK: 4 rows of "+path+" verified") || !strings.Contains(out, "4 published heads") {
		t.Fatalf("intact: %v\n%s", err, out)
	}
	// Without the key the rows cannot be checked.
	if _, err := linkdesk(nil, "audit", "verify", "--db", path); err == nil || !strings.Contains(err.Error(), "row 1") {
		t.Errorf("without the key: %v", err)
	}
	if _, err := linkdesk(env, "audit", "verify", "--db", filepath.Join(t.TempDir(), "missing.db")); err == nil || !strings.Contains(err.Error(), "no database at") {
		t.Errorf("a missing database: %v", err)
	}

	// An export of it checks alone (with the key) and against the database.
	export := filepath.Join(t.TempDir(), "audit.jsonl")
	writeExport(t, s, export)
	out, err = linkdesk(env, "audit", "verify", "--db", "none", "--export", export)
	if err != nil || !strings.Contains(out, "OK: the export") {
		t.Fatalf("export alone: %v\n%s", err, out)
	}
	if out, err = linkdesk(env, "audit", "verify", "--db", path, "--export", export); err != nil {
		t.Fatalf("export and database: %v\n%s", err, out)
	}

	// The newest rows removed: the anchor catches it; the export too.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE id >= 4`); err != nil {
		t.Fatal(err)
	}
	out, err = linkdesk(env, "audit", "verify", "--db", path)
	if err == nil || !strings.Contains(err.Error(), "row 4") || !strings.Contains(out, "FAILED") {
		t.Errorf("truncated: %v\n%s", err, out)
	}
	if _, err := linkdesk(env, "audit", "verify", "--db", path, "--anchor", "none"); err != nil {
		t.Errorf("without the anchor the truncation is invisible, and that is what verify says: %v", err)
	}
	if _, err := linkdesk(env, "audit", "verify", "--db", path, "--anchor", "none", "--export", export); err == nil || !strings.Contains(err.Error(), "no longer holds") {
		t.Errorf("export against the truncated database: %v", err)
	}
	// An edited export.
	b, _ := os.ReadFile(export)
	if err := os.WriteFile(export, bytes.Replace(b, []byte("b@example.com"), []byte("x@example.com"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := linkdesk(env, "audit", "verify", "--db", "none", "--export", export); err == nil || !strings.Contains(err.Error(), "does not match its hash") {
		t.Errorf("edited export: %v", err)
	}
}

// writeExport writes a JSON Lines export of the whole trail to path.
func writeExport(t *testing.T, s *db.Store, path string) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	x, err := s.ExportAudit(context.Background(), db.Actor{Email: "aud@example.com"}, db.AuditFilter{}, map[string]any{}, "jsonl",
		func(h db.AuditExportHeader) error { return enc.Encode(h) },
		func(r *db.AuditExportRow) error { return enc.Encode(r) })
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(x.End()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestEvidenceVerify_Command(t *testing.T) {
	ctx := context.Background()
	path, key, s := cliStore(t, false)
	if _, _, err := s.SaveCustomer(ctx, db.Actor{Email: "a@example.com"}, db.CustomerInput{EndUserID: "eu-1", FullName: "Ada L", DateOfBirth: "1990-01-02", SSNLast4: "1234"}); err != nil {
		t.Fatal(err)
	}
	ev, err := s.StartEvidence(ctx, db.Actor{Email: "aud@example.com"}, db.SubjectEndUser, "eu-1")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := evidence.Write(ctx, &buf, s, ev, evidence.Options{Role: db.RoleAuditor}); err != nil {
		t.Fatal(err)
	}
	pack := filepath.Join(t.TempDir(), "pack.zip")
	if err := os.WriteFile(pack, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	pub := evidence.PublicKeyHex(s.AuditKeys())
	for _, args := range [][]string{
		{"--public-key", pub, pack},
		{pack, "--audit-key", key},
		{"--db", path, pack},
	} {
		out, err := linkdesk(nil, append([]string{"evidence", "verify"}, args...)...)
		if err != nil || !strings.Contains(out, "OK: "+pack+" is the evidence pack of end user eu-1") {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
	if _, err := linkdesk(nil, "evidence", "verify", pack); err == nil || !strings.Contains(err.Error(), "no key to trust") {
		t.Errorf("no key: %v", err)
	}
	// A tampered pack names the file.
	bad := rezipped(t, buf.Bytes(), evidence.FileTimeline, func(b []byte) []byte { return append(b, "2026-01-01T00:00:00Z,staff,forged,,,,\n"...) })
	tampered := filepath.Join(t.TempDir(), "bad.zip")
	os.WriteFile(tampered, bad, 0o600)
	out, err := linkdesk(nil, "evidence", "verify", "--public-key", pub, tampered)
	if err == nil || !strings.Contains(out, "FAILED") || !strings.Contains(err.Error(), "timeline.csv: its content differs") {
		t.Errorf("tampered pack: %v\n%s", err, out)
	}
}

// rezipped copies a ZIP, changing one file with edit.
func rezipped(t *testing.T, pack []byte, name string, edit func([]byte) []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(pack), int64(len(pack)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		if f.Name == name {
			b = edit(b)
		}
		w, _ := zw.Create(f.Name)
		w.Write(b)
	}
	zw.Close()
	return out.Bytes()
}

// TestAuditVerify_Postgres checks a trail on PostgreSQL with
// --database-url (read-only), catches a row changed behind the Store's
// back, and never prints the URL's password.
func TestAuditVerify_Postgres(t *testing.T) {
	url := dbtest.Postgres(t)
	ctx := context.Background()
	key := strings.Repeat("5a", 32)
	k, _ := db.ParseAuditKey(key)
	s, err := db.Open(ctx, url, db.Options{PasswordCost: bcrypt.MinCost, AuditKey: k})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, e := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		if err := s.SignOut(ctx, db.Actor{Email: e}); err != nil {
			t.Fatal(err)
		}
	}
	if s.AnchorPath() != "" {
		t.Errorf("anchor file %q beside a PostgreSQL database", s.AnchorPath())
	}
	env := map[string]string{"LINKDESK_AUDIT_KEY": key}
	withPassword := strings.Replace(url, "user=postgres", "user=postgres&password=hunter2hunter2", 1)
	out, err := linkdesk(env, "audit", "verify", "--database-url", withPassword)
	if err != nil || !strings.Contains(out, "OK: 3 rows of ") || strings.Contains(out, "hunter2") {
		t.Fatalf("intact: %v\n%s", err, out)
	}
	raw, err := db.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE audit_log SET ip = '6.6.6.6' WHERE id = 2`); err == nil {
		t.Fatal("PostgreSQL let an audit row change")
	}
	if _, err := raw.Exec(`TRUNCATE audit_log`); err == nil {
		t.Fatal("PostgreSQL let the trail be truncated")
	}
	if _, err := raw.Exec(dbtest.Tamper(url, `DROP TRIGGER audit_log_no_update; UPDATE audit_log SET ip = '6.6.6.6' WHERE id = 2`)); err != nil {
		t.Fatal(err)
	}
	out, err = linkdesk(env, "audit", "verify", "--database-url", url)
	if err == nil || !strings.Contains(err.Error(), "row 2") || !strings.Contains(out, "FAILED") {
		t.Errorf("tampered: %v\n%s", err, out)
	}
}
