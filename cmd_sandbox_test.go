package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSandboxCommand runs `linkdesk sandbox` on a free port and calls its
// API with the printed secret.
func TestSandboxCommand(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"sandbox", "--addr", "127.0.0.1:0", "--state", dir + "/s.db", "--secret", "sk_test_cmd"}, func(string) string { return "" }, out, io.Discard)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sandbox: %v", err)
		}
	}()
	re := regexp.MustCompile(`API base:\s+(\S+)`)
	var base string
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline) && base == ""; time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		}
	}
	if base == "" {
		t.Fatalf("no base URL printed:\n%s", out.String())
	}
	req, _ := http.NewRequest("GET", base+"/platforms", nil)
	req.Header.Set("x-api-secret", "sk_test_cmd")
	req.Header.Set("Pinwheel-Version", "2023-11-22")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"Workday"`) {
		t.Fatalf("GET /v1/platforms: %d %s", res.StatusCode, body)
	}
	req, _ = http.NewRequest("GET", base+"/platforms", nil)
	req.Header.Set("Pinwheel-Version", "2023-11-22")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without the secret: %d, want 401", res.StatusCode)
	}
}

// TestServe_EmulatorMode checks the in-process emulator: link.js is served
// under /sandbox/ and Linkdesk's webhook is registered with it.
func TestServe_EmulatorMode(t *testing.T) {
	base, _ := startServe(t, nil)
	res, err := http.Get(base + "/sandbox/link.js")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "Pinwheel") {
		t.Fatalf("/sandbox/link.js: %d", res.StatusCode)
	}
	res, err = http.Get(base + "/readyz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", res, err)
	}
	res.Body.Close()
}

func TestConfig_BadValuesNameTheVariable(t *testing.T) {
	for _, tc := range []struct{ env, val string }{
		{"LINKDESK_ADDR", "nope"},
		{"LINKDESK_LOG_FORMAT", "xml"},
		{"LINKDESK_PINWHEEL_MODE", "staging"},
		{"LINKDESK_SESSION_KEYS", "zz"},
		{"LINKDESK_ADMIN_PASSWORD", "short"},
		{"LINKDESK_WEBHOOK_TOLERANCE", "forever"},
		{"LINKDESK_ENCRYPTION_KEY", "abcd"},
		{"LINKDESK_EMULATOR_RATE_LIMIT", "fast"},
		{"LINKDESK_EMULATOR_RATE_LIMIT", "NaN"},
	} {
		err := run(context.Background(), nil, func(k string) string {
			if k == tc.env {
				return tc.val
			}
			return ""
		}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.env) {
			t.Errorf("%s=%q: got %v, want an error naming it", tc.env, tc.val, err)
		}
	}
	err := run(context.Background(), []string{"serve"}, func(k string) string {
		if k == "LINKDESK_PINWHEEL_MODE" {
			return "sandbox"
		}
		return ""
	}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "LINKDESK_PINWHEEL_SECRET") {
		t.Errorf("sandbox mode without a secret: %v", err)
	}
}
