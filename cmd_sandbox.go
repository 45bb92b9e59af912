package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"linkdesk/db"
	"linkdesk/pinwheel/sandbox"
)

var sandboxSettings = []setting{
	{"LINKDESK_SANDBOX_ADDR", "addr", "127.0.0.1:8090", "address to listen on"},
	{"LINKDESK_SANDBOX_SECRET", "secret", "", "API secret clients must send and webhooks are signed with (unset: a random one, printed)"},
	{"LINKDESK_SANDBOX_STATE", "state", "linkdesk-sandbox.db", "the emulator's SQLite state file"},
	{"LINKDESK_SANDBOX_PUBLIC_URL", "public-url", "", "public base URL of the emulator (default http://ADDR)"},
	{"LINKDESK_SANDBOX_RATE_LIMIT", "rate-limit", "10", "API requests per second allowed per secret before 429 with Retry-After (a number, or off)"},
	{"LINKDESK_SANDBOX_ALLOW_HTTP_WEBHOOKS", "allow-http-webhooks", "off", "on: also accept plain-http webhook URLs on loopback hosts (Pinwheel accepts https only)"},
}

// sandboxCmd runs the Pinwheel emulator alone: `linkdesk sandbox`.
func sandboxCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	m, err := parseSettings("sandbox", "Usage: linkdesk sandbox [flags]\n\nRuns the built-in Pinwheel sandbox emulator on its own: the /v1 API, link.js, the Link modal, /link-api/ and the webhook sender.", sandboxSettings, args, getenv, stdout)
	if err != nil {
		return err
	}
	secret := m["LINKDESK_SANDBOX_SECRET"]
	if secret == "" {
		secret = "sk_emulator_" + db.RandomHex(24)
	}
	ln, err := net.Listen("tcp", m["LINKDESK_SANDBOX_ADDR"])
	if err != nil {
		return fmt.Errorf("LINKDESK_SANDBOX_ADDR: %w", err)
	}
	public := strings.TrimRight(m["LINKDESK_SANDBOX_PUBLIC_URL"], "/")
	if public == "" {
		public = loopbackURL(ln.Addr().String())
	}
	rate := -1.0
	if v := m["LINKDESK_SANDBOX_RATE_LIMIT"]; v != "off" && v != "0" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || !(n >= 0.1 && n <= 100000) {
			ln.Close()
			return fmt.Errorf("LINKDESK_SANDBOX_RATE_LIMIT: want requests per second between 0.1 and 100000, or off, got %q", v)
		}
		rate = n
	}
	var allowHTTP bool
	switch v := m["LINKDESK_SANDBOX_ALLOW_HTTP_WEBHOOKS"]; v {
	case "on", "true", "1":
		allowHTTP = true
	case "off", "false", "0":
	default:
		ln.Close()
		return fmt.Errorf("LINKDESK_SANDBOX_ALLOW_HTTP_WEBHOOKS: want on or off, got %q", v)
	}
	log := newLogger("text", "info", stderr)
	emu, err := sandbox.New(sandbox.Config{StatePath: m["LINKDESK_SANDBOX_STATE"], Secret: secret, PublicURL: public, Logger: log,
		RateLimit: rate, AllowHTTPWebhooks: allowHTTP})
	if err != nil {
		ln.Close()
		return fmt.Errorf("LINKDESK_SANDBOX_STATE: %w", err)
	}
	defer emu.Close()
	bg, stop := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { defer close(runDone); emu.Run(bg) }()
	srv := &http.Server{Handler: http.NewCrossOriginProtection().Handler(emu), ReadHeaderTimeout: 10 * time.Second}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "Pinwheel emulator listening on %s\n  API base:  %s/v1\n  Link JS:   %s/link.js\n  link-api:  %s/link-api/\n  secret:    %s\n", public, public, public, public, secret)
	select {
	case err = <-srvErr:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = srv.Shutdown(sctx)
		cancel()
	}
	stop()
	<-runDone
	return err
}
