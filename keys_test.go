package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"linkdesk/db"
)

// configOf parses serve's settings from env and loads them.
func configOf(t *testing.T, env map[string]string) (config, error) {
	t.Helper()
	m, err := parseSettings("serve", "", serveSettings, nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return loadConfig(m)
}

var (
	sessionKeyA    = strings.Repeat("a1", 64) + ":" + strings.Repeat("b1", 32)
	sessionKeyB    = strings.Repeat("a2", 64) + ":" + strings.Repeat("b2", 32)
	encryptionKeyA = strings.Repeat("c1", 32)
	encryptionKeyB = strings.Repeat("c2", 32)
	auditKeyA      = strings.Repeat("d1", 32)
)

// TestKeys_RequiredOutsideEmulatorMode: a real Pinwheel mode refuses to
// start without both keys, naming each; emulator mode does not.
func TestKeys_RequiredOutsideEmulatorMode(t *testing.T) {
	real := map[string]string{"LINKDESK_PINWHEEL_MODE": "production", "LINKDESK_PINWHEEL_SECRET": "sk_live"}
	_, err := configOf(t, real)
	for _, want := range []string{"LINKDESK_SESSION_KEYS: required outside emulator mode", "LINKDESK_ENCRYPTION_KEY: required outside emulator mode", "LINKDESK_ENCRYPTION_KEY_FILE",
		"LINKDESK_AUDIT_KEY: required outside emulator mode"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("production without keys: %v, want %q", err, want)
		}
	}
	// The refusal comes before anything is opened or listened on.
	dir := t.TempDir()
	err = run(context.Background(), []string{"serve", "--db", dir + "/x.db"}, func(k string) string { return real[k] }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "LINKDESK_SESSION_KEYS") {
		t.Errorf("serve: %v", err)
	}
	if _, err := os.Stat(dir + "/x.db"); err == nil {
		t.Error("serve created the database before refusing")
	}
	real["LINKDESK_SESSION_KEYS"], real["LINKDESK_ENCRYPTION_KEY"] = sessionKeyB+","+sessionKeyA, encryptionKeyB+", "+encryptionKeyA
	real["LINKDESK_AUDIT_KEY"] = auditKeyA
	c, err := configOf(t, real)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.SessionKeys) != 2 || len(c.EncryptionKeys) != 2 || c.EncryptionKeys[0][0] != 0xc2 {
		t.Errorf("keys %d %d, newest first", len(c.SessionKeys), len(c.EncryptionKeys))
	}
	if _, err := configOf(t, map[string]string{}); err != nil {
		t.Errorf("emulator mode without keys: %v", err)
	}
	real["LINKDESK_ENCRYPTION_KEY"] = encryptionKeyB + ",zz"
	if _, err := configOf(t, real); err == nil || !strings.Contains(err.Error(), "LINKDESK_ENCRYPTION_KEY: key 2 of 2") {
		t.Errorf("a bad second key: %v", err)
	}
}

// TestKeys_Files: keys may come from files named by _FILE variables,
// which only their owner may read.
func TestKeys_Files(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "enc.key")
	os.WriteFile(path, []byte("# rotated 2026-11\n"+encryptionKeyB+"\n"+encryptionKeyA+"\n"), 0o644)
	env := map[string]string{"LINKDESK_ENCRYPTION_KEY_FILE": path}
	if _, err := configOf(t, env); err == nil || !strings.Contains(err.Error(), "LINKDESK_ENCRYPTION_KEY_FILE") || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a key file others may read: %v", err)
	}
	os.Chmod(path, 0o600)
	c, err := configOf(t, env)
	if err != nil || len(c.EncryptionKeys) != 2 {
		t.Fatalf("owner-only key file: %v, %d keys", err, len(c.EncryptionKeys))
	}
	env["LINKDESK_ENCRYPTION_KEY"] = encryptionKeyA
	if _, err := configOf(t, env); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("a variable and a file: %v", err)
	}
	if _, err := configOf(t, map[string]string{"LINKDESK_SESSION_KEYS_FILE": filepath.Join(dir, "missing")}); err == nil || !strings.Contains(err.Error(), "LINKDESK_SESSION_KEYS_FILE") {
		t.Errorf("a missing file: %v", err)
	}
}

// TestServe_SaysWhatItGenerates: emulator mode without keys says at
// start-up that they are generated and kept beside the data; with keys it
// says nothing of the kind.
func TestServe_SaysWhatItGenerates(t *testing.T) {
	_, out := startServe(t, nil)
	if !strings.Contains(out.String(), "Emulator mode: session keys (LINKDESK_SESSION_KEYS), the encryption key (LINKDESK_ENCRYPTION_KEY) and the audit key (LINKDESK_AUDIT_KEY) not set") {
		t.Errorf("no word of generated keys:\n%s", out.String())
	}
	_, out = startServe(t, map[string]string{"LINKDESK_SESSION_KEYS": sessionKeyA, "LINKDESK_ENCRYPTION_KEY": encryptionKeyA, "LINKDESK_AUDIT_KEY": auditKeyA})
	if strings.Contains(out.String(), "generated and kept") {
		t.Errorf("keys set, yet:\n%s", out.String())
	}
}

// TestServe_SessionKeyRotation: a cookie made under the old keys still
// works while they follow the new ones, and not once they are dropped.
func TestServe_SessionKeyRotation(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"LINKDESK_DB": dir + "/r.db", "LINKDESK_SANDBOX_STATE": dir + "/s.db", "LINKDESK_ENCRYPTION_KEY": encryptionKeyA,
		"LINKDESK_ADMIN_PASSWORD": "rotation test password", "LINKDESK_SESSION_KEYS": sessionKeyA}
	status := func(keys string, cookie *http.Cookie) (int, *http.Cookie) {
		t.Helper()
		env["LINKDESK_SESSION_KEYS"] = keys
		base, stop := startServeStoppable(t, env)
		defer stop()
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		if cookie == nil {
			res, err := client.PostForm(base+"/login", url.Values{"email": {"admin@linkdesk.local"}, "password": {"rotation test password"}})
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			for _, c := range res.Cookies() {
				if c.Name == "linkdesk" {
					cookie = c
				}
			}
		}
		req, _ := http.NewRequest("GET", base+"/accounts", nil)
		req.AddCookie(cookie)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode, cookie
	}
	code, cookie := status(sessionKeyA, nil)
	if code != http.StatusOK {
		t.Fatalf("signed in under A: %d", code)
	}
	if code, _ := status(sessionKeyB+","+sessionKeyA, cookie); code != http.StatusOK {
		t.Errorf("B first, A kept: %d, want 200", code)
	}
	if code, _ := status(sessionKeyB, cookie); code != http.StatusSeeOther {
		t.Errorf("A dropped: %d, want 303 to sign in", code)
	}
}

// startServeStoppable is startServe that can stop before the test ends (a
// restart on the same database).
func startServeStoppable(t *testing.T, env map[string]string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	out := &lockedBuffer{}
	vars := map[string]string{"LINKDESK_ADDR": "127.0.0.1:0", "LINKDESK_DEMO": "off", "LINKDESK_LOG_LEVEL": "warn"}
	for k, v := range env {
		vars[k] = v
	}
	go func() { done <- run(ctx, nil, func(k string) string { return vars[k] }, out, io.Discard) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
	re := regexp.MustCompile(`listening on (http://\S+)`)
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1], stop
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	t.Fatalf("serve printed no URL:\n%s", out.String())
	return "", nil
}

// TestServe_MetricsAddr: with LINKDESK_METRICS_ADDR, /metrics is served
// there and the main address answers 404; without, the main address
// serves it and start-up says so.
func TestServe_MetricsAddr(t *testing.T) {
	get := func(u string) (int, string) {
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	base, out := startServe(t, map[string]string{"LINKDESK_METRICS_ADDR": "127.0.0.1:0"})
	re := regexp.MustCompile(`Metrics: (http://\S+/metrics) \(a listener of its own`)
	var metricsURL string
	deadline := time.Now().Add(time.Minute)
	for metricsURL == "" && time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			metricsURL = m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	if metricsURL == "" {
		t.Fatalf("no metrics address printed:\n%s", out.String())
	}
	if code, body := get(metricsURL); code != http.StatusOK || !strings.Contains(body, "linkdesk_http_requests_total") && !strings.Contains(body, "linkdesk_") {
		t.Errorf("metrics listener: %d", code)
	}
	if code, _ := get(base + "/metrics"); code != http.StatusNotFound {
		t.Errorf("main address /metrics: %d, want 404", code)
	}
	if code, _ := get(base + "/healthz"); code != http.StatusOK {
		t.Errorf("main address /healthz: %d", code)
	}

	base, out = startServe(t, nil)
	if code, _ := get(base + "/metrics"); code != http.StatusOK {
		t.Errorf("/metrics without its own address: %d", code)
	}
	if !strings.Contains(out.String(), "readable by anyone who can reach it") {
		t.Errorf("start-up does not say /metrics is public:\n%s", out.String())
	}
}

// TestKeysCommand: keys new prints usable keys; keys reencrypt moves
// everything to the newest key and drops the generated one.
func TestKeysCommand(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"keys", "new"}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	fresh := map[string]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			fresh[k] = v
		}
	}
	if _, err := configOf(t, map[string]string{"LINKDESK_PINWHEEL_MODE": "sandbox", "LINKDESK_PINWHEEL_SECRET": "s",
		"LINKDESK_SESSION_KEYS": fresh["LINKDESK_SESSION_KEYS"], "LINKDESK_ENCRYPTION_KEY": fresh["LINKDESK_ENCRYPTION_KEY"],
		"LINKDESK_AUDIT_KEY": fresh["LINKDESK_AUDIT_KEY"]}); err != nil {
		t.Fatalf("keys new printed unusable keys: %v\n%s", err, out.String())
	}

	path := filepath.Join(t.TempDir(), "k.db")
	s, err := db.Open(ctx, path, db.Options{}) // emulator mode: generated keys
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SessionKeys(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := s.CreateDepositAccount(ctx, db.Actor{Email: "t"}, db.DepositAccountCreate{Name: "Main", Type: db.AccountChecking, RoutingNumber: "021000021", AccountNumber: "987654321"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	out.Reset()
	env := map[string]string{"LINKDESK_ENCRYPTION_KEY": fresh["LINKDESK_ENCRYPTION_KEY"], "LINKDESK_SESSION_KEYS": fresh["LINKDESK_SESSION_KEYS"]}
	if err := run(ctx, []string{"keys", "reencrypt", "--db", path}, func(k string) string { return env[k] }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "deposit_accounts.account_number_enc") || !strings.Contains(out.String(), "generated and kept in the database was deleted") {
		t.Errorf("reencrypt said:\n%s", out.String())
	}
	key := encryptionKeys([]string{fresh["LINKDESK_ENCRYPTION_KEY"]})[0]
	s, err = db.Open(ctx, path, db.Options{EncryptionKey: key, NoGeneratedKey: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, n, err := s.DepositAccountSecret(ctx, d.ID); err != nil || n != "987654321" {
		t.Errorf("after reencrypt, the new key alone: %q %v", n, err)
	}
	for _, k := range []string{"encryption_key", "session_keys"} {
		if _, err := s.Setting(ctx, k); err == nil {
			t.Errorf("%s is still kept in the database", k)
		}
	}
	if err := run(ctx, []string{"keys", "reencrypt", "--db", path}, func(string) string { return "" }, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "LINKDESK_ENCRYPTION_KEY") {
		t.Errorf("reencrypt without a key: %v", err)
	}
}
