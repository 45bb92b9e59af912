package evidence_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"linkdesk/db"
	"linkdesk/dbtest"
	"linkdesk/evidence"
	"linkdesk/pinwheel"
)

const secret = "whsec_evidence_test"

// world is a store with one account (acc-1 of eu-1): three signed
// webhooks, an identity snapshot, a Reveal; and a pack of it.
func world(t *testing.T) (*db.Store, []byte) {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	s, err := db.Open(ctx, dbtest.MigratedSQLite(t, filepath.Join(t.TempDir(), "ev.db")), db.Options{Now: func() time.Time { return now }, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	g, err := s.NewIngester(ctx, db.IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bg, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { g.Run(bg); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	for i, body := range []string{
		`{"event_id": "e1", "event": "account.added", "payload": {"created_at": "2026-12-01T11:00:00Z", "link_token_id": "lt-1", "platform_id": "p", "connected": true, "monitoring_status": "active", "end_user_id": "eu-1", "account_id": "acc-1", "platform_name": "Workday"}}`,
		`{"event_id": "e2", "event": "identity.added", "payload": {"id": "j", "name": "identity", "timestamp": "2026-12-01T11:01:00Z", "outcome": "success", "error_code": null, "error_type": null, "link_token_id": "lt-1", "params": {}, "account_id": "acc-1", "end_user_id": "eu-1"}}`,
		`{"event_id": "e3", "event": "direct_deposit_switch.added", "payload": {"id": "k", "name": "direct_deposit_switch", "timestamp": "2026-12-01T11:02:00Z", "outcome": "success", "error_code": null, "error_type": null, "link_token_id": "lt-1", "params": {"allocation": {"target": {"account_name": "Checking", "last_four_account_number": "6789"}}}, "account_id": "acc-1", "end_user_id": "eu-1"}}`,
	} {
		d, err := db.ParseDelivery([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		sent := now.Add(time.Duration(i-10) * time.Minute)
		d.SentAt, d.ReceivedAt = sent, sent
		d.Signature = pinwheel.Sign(secret, strconv.FormatInt(sent.Unix(), 10), []byte(body))
		if _, err := g.Ingest(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	jobs, err := s.ClaimJobs(ctx, []string{db.FetchJobKind(db.FetchIdentity)}, 5, time.Minute)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("identity fetch: %d, %v", len(jobs), err)
	}
	if err := s.FinishJobs(ctx, []db.JobOutcome{{Job: jobs[0], Effect: db.SnapshotFetched{Body: []byte(`{"full_name": "Ada Lovelace", "date_of_birth": "1815-12-10", "last_four_ssn": "1234"}`)}}}); err != nil {
		t.Fatal(err)
	}
	aud := db.Actor{StaffID: 0, Email: "auditor@example.com", IP: "10.0.0.1"}
	if err := s.RevealPII(ctx, aud, "acc-1", []string{db.PIISSNLastFour}, "dispute 42"); err != nil {
		t.Fatal(err)
	}
	ev, err := s.StartEvidence(ctx, aud, db.SubjectAccount, "acc-1")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := evidence.Write(ctx, &buf, s, ev, evidence.Options{Role: db.RoleAuditor, PinwheelSecret: secret}); err != nil {
		t.Fatal(err)
	}
	return s, buf.Bytes()
}

// files reads a pack's files.
func files(t *testing.T, pack []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(pack), int64(len(pack)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		out[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	return out
}

// rezip writes files (in order) as a new pack.
func rezip(t *testing.T, names []string, fs map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		w, _ := zw.Create(n)
		w.Write(fs[n])
	}
	zw.Close()
	return buf.Bytes()
}

var order = []string{evidence.FileReadme, evidence.FileTimeline, evidence.FileWebhooks, evidence.FileTokens, evidence.FileStaffActions,
	evidence.FileSnapshots, evidence.FileDecisions, evidence.FileManifest, evidence.FileSignature}

func TestPack_RoundTrip(t *testing.T) {
	s, pack := world(t)
	fs := files(t, pack)
	for _, n := range order {
		if _, ok := fs[n]; !ok {
			t.Errorf("the pack lacks %s", n)
		}
	}
	pub := evidence.PublicKeyHex(s.AuditKeys())
	rep, err := evidence.Verify(bytes.NewReader(pack), int64(len(pack)), evidence.Trust{PublicKeys: []string{pub}})
	if err != nil {
		t.Fatalf("verify with the public key: %v", err)
	}
	m := rep.Manifest
	head, _ := s.ChainHead(context.Background())
	if m.ChainHead != head || m.ExportedBy.Email != "auditor@example.com" || m.Subject != (evidence.Subject{"account", "acc-1"}) || len(m.Files) != 7 {
		t.Errorf("manifest %+v (head %+v)", m, head)
	}
	rep, err = evidence.Verify(bytes.NewReader(pack), int64(len(pack)), evidence.Trust{Keys: s.AuditKeys()})
	if err != nil || rep.StaffActionsChecked != 2 { // the Reveal and the pack's own row
		t.Fatalf("verify with the audit key: %d staff actions, %v", rep.StaffActionsChecked, err)
	}

	// What the files say.
	hooks := strings.Split(strings.TrimSpace(string(fs[evidence.FileWebhooks])), "\n")
	if len(hooks) != 3 {
		t.Fatalf("%d webhooks", len(hooks))
	}
	var hook map[string]any
	json.Unmarshal([]byte(hooks[2]), &hook)
	if hook["signature_now"] != "valid" || hook["x_timestamp"] == "" || hook["body_masked"] != true ||
		!strings.Contains(hooks[2], `"last_four_account_number":"••6789"`) {
		t.Errorf("webhook line %s", hooks[2])
	}
	if snaps := string(fs[evidence.FileSnapshots]); strings.Contains(snaps, "1815-12-10") || !strings.Contains(snaps, "Ada Lovelace") {
		t.Errorf("snapshots for an auditor: %s", snaps)
	}
	if staff := string(fs[evidence.FileStaffActions]); !strings.Contains(staff, `"action":"account.pii_revealed"`) || !strings.Contains(staff, `"hash":"`) {
		t.Errorf("staff actions: %s", staff)
	}
	tl := string(fs[evidence.FileTimeline])
	for _, want := range []string{"time,source,name", ",webhook,account.added,", ",staff,account.pii_revealed,", "revealed masked identity fields of account acc-1"} {
		if !strings.Contains(tl, want) {
			t.Errorf("timeline lacks %q:\n%s", want, tl)
		}
	}
}

func TestPack_Tampered(t *testing.T) {
	s, pack := world(t)
	pub := evidence.PublicKeyHex(s.AuditKeys())
	trust := evidence.Trust{PublicKeys: []string{pub}}
	for _, tc := range []struct {
		name     string
		edit     func(fs map[string][]byte) []string
		file     string
		reason   string
		trustArg *evidence.Trust
	}{
		{"a webhook body changed", func(fs map[string][]byte) []string {
			fs[evidence.FileWebhooks] = bytes.Replace(fs[evidence.FileWebhooks], []byte("Workday"), []byte("Gusto!!"), 1)
			return order
		}, evidence.FileWebhooks, "differs from the manifest", nil},
		{"a snapshot removed", func(fs map[string][]byte) []string {
			return []string{evidence.FileReadme, evidence.FileTimeline, evidence.FileWebhooks, evidence.FileTokens, evidence.FileStaffActions, evidence.FileDecisions, evidence.FileManifest, evidence.FileSignature}
		}, evidence.FileSnapshots, "missing", nil},
		{"a file added", func(fs map[string][]byte) []string {
			fs["extra.txt"] = []byte("hello")
			return append(append([]string{}, order...), "extra.txt")
		}, "extra.txt", "not in the manifest", nil},
		{"the manifest changed", func(fs map[string][]byte) []string {
			fs[evidence.FileManifest] = bytes.Replace(fs[evidence.FileManifest], []byte("auditor@example.com"), []byte("someone@example.com"), 1)
			return order
		}, evidence.FileSignature, "does not match", nil},
		{"signed by another key", nil, evidence.FileSignature, "not the trusted one", &evidence.Trust{PublicKeys: []string{strings.Repeat("ab", 32)}}},
		{"no key at all", nil, "", "no key to trust", &evidence.Trust{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pack
			if tc.edit != nil {
				fs := files(t, pack)
				p = rezip(t, tc.edit(fs), fs)
			}
			tr := trust
			if tc.trustArg != nil {
				tr = *tc.trustArg
			}
			_, err := evidence.Verify(bytes.NewReader(p), int64(len(p)), tr)
			var prob *evidence.Problem
			if !errors.As(err, &prob) || prob.File != tc.file || !strings.Contains(prob.Reason, tc.reason) {
				t.Fatalf("got %v, want %s: …%s…", err, tc.file, tc.reason)
			}
		})
	}
	if _, err := evidence.Verify(bytes.NewReader([]byte("not a zip")), 9, trust); !evidence.IsProblem(err) {
		t.Errorf("not a zip: %v", err)
	}
}
