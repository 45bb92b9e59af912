package db_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/dbtest"
	"linkdesk/pinwheel"
)

func TestParseAlertSettings(t *testing.T) {
	ok := map[string]string{}
	for _, st := range db.AlertSettingFields {
		ok[st.Name] = fmt.Sprint(st.Value(db.DefaultAlertSettings()))
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range ok {
			m[a] = b
		}
		m[k] = v
		return m
	}
	allOn := []string{}
	for _, r := range db.Rules {
		allOn = append(allOn, r.Name)
	}
	for _, tc := range []struct {
		name   string
		values map[string]string
		on     []string
		errs   []string
		check  func(db.AlertSettings) bool
	}{
		{"defaults, every rule on", ok, allOn, nil, func(a db.AlertSettings) bool { return a.On(db.RuleSilence) && len(a.Off) == 0 }},
		{"nothing ticked turns every rule off", ok, nil, nil, func(a db.AlertSettings) bool { return len(a.Off) == len(db.Rules) }},
		{"empty", with("silence_minutes", ""), allOn, []string{"silence_minutes"}, nil},
		{"not a number", with("signature_threshold", "ten"), allOn, []string{"signature_threshold"}, nil},
		{"a fraction", with("missing_job_hours", "1.5"), allOn, []string{"missing_job_hours"}, nil},
		{"below the range", with("platform_share_percent", "0"), allOn, []string{"platform_share_percent"}, nil},
		{"above the range", with("fetch_stuck_minutes", "100000"), allOn, []string{"fetch_stuck_minutes"}, nil},
		{"a share of 100", with("platform_share_percent", "100"), allOn, nil, func(a db.AlertSettings) bool { return a.PlatformSharePercent == 100 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, fe := db.ParseAlertSettings(db.AlertSettingsForm{Values: tc.values, On: tc.on})
			var keys []string
			for k := range fe {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !reflect.DeepEqual(keys, tc.errs) && !(len(keys) == 0 && len(tc.errs) == 0) {
				t.Fatalf("errors %v, want %v", fe, tc.errs)
			}
			if tc.check != nil && !tc.check(got) {
				t.Errorf("settings %+v", got)
			}
		})
	}
}

func TestValidateDestination(t *testing.T) {
	hook := db.DestinationForm{Name: "Ops", Kind: db.DestinationWebhook, URL: "https://hooks.slack.com/services/T0/B0/abc"}
	mail := db.DestinationForm{Name: "Mail", Kind: db.DestinationEmail, SMTPHost: "smtp.example.com", SMTPPort: "587", From: "Alerts <alerts@example.com>",
		To: "ops@example.com, Óscar <oncall@example.com>", Username: "u", Password: "p"}
	change := func(f db.DestinationForm, fn func(*db.DestinationForm)) db.DestinationForm { fn(&f); return f }
	for _, tc := range []struct {
		name       string
		f          db.DestinationForm
		insecureOK bool
		err        string // the field with an error, "" for none
	}{
		{"a webhook", hook, false, ""},
		{"no name", change(hook, func(f *db.DestinationForm) { f.Name = " " }), false, "name"},
		{"http outside the emulator", change(hook, func(f *db.DestinationForm) { f.URL = "http://127.0.0.1:9000/hook" }), false, "url"},
		{"http to a loopback receiver in emulator mode", change(hook, func(f *db.DestinationForm) { f.URL = "http://127.0.0.1:9000/hook" }), true, ""},
		{"http elsewhere in emulator mode", change(hook, func(f *db.DestinationForm) { f.URL = "http://hooks.example.com/x" }), true, "url"},
		{"not a URL", change(hook, func(f *db.DestinationForm) { f.URL = "hooks.slack.com" }), false, "url"},
		{"credentials in the URL", change(hook, func(f *db.DestinationForm) { f.URL = "https://u:p@hooks.example.com/" }), false, "url"},
		{"an email", mail, false, ""},
		{"a bad sender", change(mail, func(f *db.DestinationForm) { f.From = "alerts at example" }), false, "from"},
		{"bad recipients", change(mail, func(f *db.DestinationForm) { f.To = "ops@example.com; oncall" }), false, "to"},
		{"no recipient", change(mail, func(f *db.DestinationForm) { f.To = "" }), false, "to"},
		{"a port out of range", change(mail, func(f *db.DestinationForm) { f.SMTPPort = "70000" }), false, "smtp_port"},
		{"a user without password", change(mail, func(f *db.DestinationForm) { f.Password = "" }), false, "password"},
		{"no TLS outside the emulator", change(mail, func(f *db.DestinationForm) { f.Security = db.SMTPNone }), false, "security"},
		{"no TLS to a remote server in emulator mode", change(mail, func(f *db.DestinationForm) { f.Security = db.SMTPNone }), true, "security"},
		{"no TLS to a loopback server in emulator mode", change(mail, func(f *db.DestinationForm) { f.Security, f.SMTPHost = db.SMTPNone, "127.0.0.1" }), true, ""},
		{"an unknown kind", change(hook, func(f *db.DestinationForm) { f.Kind = "pager" }), false, "kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, fe := db.ValidateDestination(tc.f, tc.insecureOK, false)
			switch {
			case tc.err == "" && fe != nil:
				t.Fatalf("refused: %v", fe)
			case tc.err != "" && fe[tc.err] == "":
				t.Fatalf("errors %v, want one on %s", fe, tc.err)
			}
			if tc.name == "an email" && (cfg.From != "alerts@example.com" || strings.Join(cfg.To, ",") != "ops@example.com,oncall@example.com") {
				t.Errorf("parsed %+v", cfg)
			}
		})
	}
}

// TestDestinations_SecretsEncryptedAtRest: the URL, the signing secret and
// the SMTP password are ciphertext in the table and come back intact.
func TestDestinations_SecretsEncryptedAtRest(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	d, secret, err := s.CreateDestination(ctx, admin, db.DestinationForm{Name: "Ops", Kind: db.DestinationWebhook, URL: "https://hooks.slack.com/services/T0/B0/tok3n", Enabled: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := db.Connect(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var cfg, enc string
	if err := raw.QueryRow(`SELECT config, secret_enc FROM alert_destinations WHERE id = ?`, d.ID).Scan(&cfg, &enc); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(cfg+enc, "tok3n") || strings.Contains(enc, secret) || !strings.HasPrefix(enc, "v1:") || !strings.Contains(cfg, "hooks.slack.com") {
		t.Fatalf("stored config %s, secrets %s", cfg, enc)
	}
	sec, err := s.DestinationSecrets(ctx, d.ID)
	if err != nil || sec.URL != "https://hooks.slack.com/services/T0/B0/tok3n" || sec.SigningSecret != secret || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("decrypted %+v %v", sec, err)
	}
	// An edit without a URL keeps it; a rotation changes only the secret.
	if _, err := s.UpdateDestination(ctx, admin, d.ID, db.DestinationForm{Name: "Ops 2", Enabled: true}, false); err != nil {
		t.Fatal(err)
	}
	next, err := s.RotateDestinationSecret(ctx, admin, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	sec, _ = s.DestinationSecrets(ctx, d.ID)
	if sec.URL != "https://hooks.slack.com/services/T0/B0/tok3n" || sec.SigningSecret != next || next == secret {
		t.Fatalf("after the edit and rotation: %+v", sec)
	}
	audit, _, _ := s.ListAudit(ctx, db.AuditFilter{TargetType: "alert_destination"})
	for _, e := range audit {
		if strings.Contains(e.Detail, "tok3n") || strings.Contains(e.Detail, next) || strings.Contains(e.Detail, secret) {
			t.Errorf("the audit trail holds a secret: %s", e.Detail)
		}
	}
}

func TestDecideReconnect(t *testing.T) {
	no, yes := false, true
	base := db.ReconnectCandidate{AccountID: "a", EndUserID: "u", PlatformID: "p", Status: "user_action_required", Connected: &yes}
	change := func(fn func(*db.ReconnectCandidate)) db.ReconnectCandidate { c := base; fn(&c); return c }
	for _, tc := range []struct {
		name string
		c    db.ReconnectCandidate
		want string
	}{
		{"waiting", base, ""},
		{"back by itself", change(func(c *db.ReconnectCandidate) { c.Status = "active" }), "active again"},
		{"disconnected", change(func(c *db.ReconnectCandidate) { c.Connected = &no }), "disconnected"},
		{"never added", change(func(c *db.ReconnectCandidate) { c.PlatformID = "" }), "no account.added"},
		{"the platform lacks the job", change(func(c *db.ReconnectCandidate) {
			c.Caps = db.PlatformCaps{Known: true, Name: "Gusto", SupportedJobs: []string{"income"}}
		}), "Gusto does not support identity"},
		{"the platform has it", change(func(c *db.ReconnectCandidate) {
			c.Caps = db.PlatformCaps{Known: true, SupportedJobs: []string{"identity"}}
		}), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := db.DecideReconnect(tc.c, []string{"identity"})
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPlanReconcile(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	at := func(m int) pinwheel.Time { return pinwheel.NewTime(now.Add(time.Duration(m) * time.Minute)) }
	acc := pinwheel.Account{ID: "acc-1", CreatedAt: at(-100), LinkTokenID: "tok-1", PlatformID: "p-1", Connected: true, MonitoringStatus: "active",
		EndUserID: "eu-1", DataUpdatedAt: map[string]pinwheel.Time{"identity": at(-50), "income": at(-50), "employment": at(-5)}}
	jobs := []pinwheel.Job{
		{ID: "j1", Name: "identity", Timestamp: at(-60), Outcome: "success", LinkTokenID: "tok-2"},
		{ID: "j2", Name: "identity", Timestamp: at(-50), Outcome: "success", LinkTokenID: "tok-3"},
		{ID: "j3", Name: "income", Timestamp: at(-50), Outcome: "error", LinkTokenID: "tok-3"},
		{ID: "j4", Name: "employment", Timestamp: at(-70), Outcome: "success", LinkTokenID: "tok-1"},
	}
	t.Run("everything missing", func(t *testing.T) {
		p, err := db.PlanReconcile(db.ReconcileLocal{AccountID: "acc-1"}, acc, jobs, "Workday", now)
		if err != nil {
			t.Fatal(err)
		}
		var events []string
		for _, f := range p.Result.Filled {
			events = append(events, f.Event)
		}
		if want := "account.added employment.added identity.added income.added"; strings.Join(events, " ") != want {
			t.Fatalf("filled %v, want %s", events, want)
		}
		for _, d := range p.Deliveries {
			if !d.Reconciled || d.AccountID() != "acc-1" || !strings.HasPrefix(d.EventID, "reconciled-") {
				t.Errorf("delivery %s %s reconciled=%v", d.EventID, d.Event, d.Reconciled)
			}
		}
		var body struct {
			Payload struct {
				LinkTokenID string `json:"link_token_id"`
			}
		}
		json.Unmarshal(p.Deliveries[2].Body, &body)
		if body.Payload.LinkTokenID != "tok-3" {
			t.Errorf("identity.added from the newest identity job: %s", p.Deliveries[2].Body)
		}
		// Identity and employment are fetched after their (successful) job
		// events; the income job failed, yet Pinwheel holds income data
		// newer than any snapshot: a fetch of its own.
		if !reflect.DeepEqual(p.Result.Fetches, []string{"income"}) {
			t.Errorf("fetches %v", p.Result.Fetches)
		}
	})
	t.Run("nothing missing", func(t *testing.T) {
		local := db.ReconcileLocal{AccountID: "acc-1", Known: true, Added: true, Status: "active",
			Jobs:      map[string]time.Time{"identity": now.Add(-50 * time.Minute), "income": now.Add(-50 * time.Minute), "employment": now.Add(-70 * time.Minute)},
			Snapshots: map[string]time.Time{"identity": now.Add(-50 * time.Minute), "income": now.Add(-50 * time.Minute), "employment": now}}
		p, err := db.PlanReconcile(local, acc, jobs, "Workday", now)
		if err != nil || len(p.Deliveries) != 0 || !p.Result.Nothing() {
			t.Fatalf("plan %+v %v", p.Result, err)
		}
	})
	t.Run("a status changed, newer data", func(t *testing.T) {
		local := db.ReconcileLocal{AccountID: "acc-1", Known: true, Added: true, Status: "user_action_required",
			Jobs:      map[string]time.Time{"identity": now.Add(-50 * time.Minute), "income": now.Add(-50 * time.Minute), "employment": now.Add(-70 * time.Minute)},
			Snapshots: map[string]time.Time{"identity": now.Add(-60 * time.Minute)}}
		p, err := db.PlanReconcile(local, acc, jobs, "Workday", now)
		if err != nil || len(p.Deliveries) != 1 || p.Deliveries[0].Event != pinwheel.EventMonitoringStatusUpdated ||
			!reflect.DeepEqual(p.Result.Fetches, []string{"identity", "employment", "income"}) {
			t.Fatalf("plan %+v %v", p.Result, err)
		}
	})
	t.Run("pay data is read whole, by its time alone", func(t *testing.T) {
		acc := acc
		acc.DataUpdatedAt = map[string]pinwheel.Time{"paystubs": at(-30), "shifts": at(-30)}
		jobs := []pinwheel.Job{{ID: "j5", Name: "paystubs", Timestamp: at(-30), Outcome: "success", LinkTokenID: "tok-3"}}
		local := db.ReconcileLocal{AccountID: "acc-1", Known: true, Added: true, Status: "active",
			Jobs: map[string]time.Time{}, Snapshots: map[string]time.Time{"shifts": now.Add(-30 * time.Minute)}}
		p, err := db.PlanReconcile(local, acc, jobs, "Workday", now)
		// The filled paystubs.added names no ids: its own fetch would read
		// nothing, so the paystubs are fetched anyway; the shifts fetched
		// since Pinwheel's last change are not.
		if err != nil || len(p.Result.Filled) != 1 || !reflect.DeepEqual(p.Result.Fetches, []string{"paystubs"}) {
			t.Fatalf("plan %+v %v", p.Result, err)
		}
	})
	t.Run("the same facts give the same ids", func(t *testing.T) {
		a, _ := db.PlanReconcile(db.ReconcileLocal{}, acc, jobs, "Workday", now)
		b, _ := db.PlanReconcile(db.ReconcileLocal{}, acc, jobs, "Workday", now.Add(time.Hour))
		for i := range a.Deliveries {
			if a.Deliveries[i].EventID != b.Deliveries[i].EventID {
				t.Errorf("%s: %s then %s", a.Deliveries[i].Event, a.Deliveries[i].EventID, b.Deliveries[i].EventID)
			}
		}
	})
}

// TestStore_CheckAuditChain: a check of an intact chain records a pass; a
// row changed behind Linkdesk's back records the row where it breaks, and
// the rule raises an alert.
func TestStore_VerifyNowRaisesAlert(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	for i := range 3 {
		if _, err := s.CreateStaff(ctx, admin, db.StaffCreate{Email: fmt.Sprintf("s%d@example.com", i), Name: "S", Role: db.RoleOperator, Password: "correct horse battery"}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := s.VerifyNow(ctx, db.SystemActor, db.VerifyDaily)
	if err != nil || !c.OK || c.Rows != 3 {
		t.Fatalf("intact: %+v %v", c, err)
	}
	raw, err := db.Connect(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(dbtest.Tamper(s.Path(), `DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor_email = 'mallory@example.com' WHERE id = 2`)); err != nil {
		t.Fatal(err)
	}
	c, err = s.VerifyNow(ctx, db.SystemActor, db.VerifyDaily)
	if err != nil || c.OK || c.BadSeq != 2 {
		t.Fatalf("tampered: %+v %v", c, err)
	}
	res, err := s.CheckRule(ctx, db.RuleAuditChain)
	if err != nil || len(res.Changes) != 1 || res.Changes[0].Kind != db.ChangeOpened {
		t.Fatalf("rule: %+v %v", res, err)
	}
}

// TestDestinations_KeyRotation: destination secrets are a sealed column,
// so a rotation reseals them and the new key alone reads them.
func TestDestinations_KeyRotation(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "rot.db")
	s := openWith(t, path, db.Options{EncryptionKey: key('a')})
	d, secret, err := s.CreateDestination(ctx, admin, db.DestinationForm{Name: "Ops", Kind: db.DestinationWebhook, URL: "https://hooks.example.com/x", Enabled: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openWith(t, path, db.Options{EncryptionKey: key('b'), OldEncryptionKeys: [][]byte{key('a')}})
	r, err := s.Reencrypt(ctx, admin, false)
	if err != nil || r.Resealed["alert_destinations.secret_enc"] != 1 {
		t.Fatalf("rotation: %+v %v", r, err)
	}
	s.Close()
	s = openWith(t, path, db.Options{EncryptionKey: key('b')})
	defer s.Close()
	if sec, err := s.DestinationSecrets(ctx, d.ID); err != nil || sec.SigningSecret != secret || sec.URL != "https://hooks.example.com/x" {
		t.Fatalf("after rotation: %+v %v", sec, err)
	}
}
