package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"linkdesk/db"
	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
)

// pinwheelSetup is the Pinwheel side of serve: the client, and in emulator
// mode the in-process emulator with its background work.
type pinwheelSetup struct {
	client      *pinwheel.Client
	secret      string
	emulatorURL string // public base of the emulator, "" in real modes
	localURL    string // Linkdesk's own loopback base, "" in real modes
	mounts      map[string]http.Handler
	start       func(ctx context.Context) error
	wait        func()
	close       func()
}

// setupPinwheel builds the client for the configured mode. In emulator mode
// it also builds the emulator, mounted under /sandbox/ of Linkdesk's own
// server; the client still reaches it over real HTTP on loopback.
func setupPinwheel(ctx context.Context, cfg config, store *db.Store, listenAddr string, log *slog.Logger) (*pinwheelSetup, error) {
	p := &pinwheelSetup{
		secret: cfg.PinwheelSecret,
		start:  func(context.Context) error { return nil },
		wait:   func() {},
		close:  func() {},
	}
	if cfg.PinwheelMode != pinwheel.ModeEmulator {
		p.client = pinwheel.New(pinwheel.Config{BaseURL: pinwheel.BaseURL(cfg.PinwheelMode), Secret: p.secret, Version: cfg.PinwheelVersion})
		return p, nil
	}
	if p.secret == "" {
		s, err := store.SettingOrCreate(ctx, "emulator_secret", func() (string, error) { return "sk_emulator_" + db.RandomHex(24), nil })
		if err != nil {
			return nil, err
		}
		p.secret = s
	}
	loopback := loopbackURL(listenAddr)
	p.emulatorURL, p.localURL = cfg.BaseURL+"/sandbox", loopback
	emu, err := sandbox.New(sandbox.Config{
		StatePath: cfg.SandboxState, Secret: p.secret, PublicURL: p.emulatorURL,
		Logger: log.With("component", "emulator"), RateLimit: cfg.EmulatorRateLimit, Now: cfg.now,
		// Linkdesk registers its own loopback URL, plain http; Pinwheel
		// itself accepts https only.
		AllowHTTPWebhooks: true,
	})
	if err != nil {
		return nil, fmt.Errorf("LINKDESK_SANDBOX_STATE: %w", err)
	}
	p.client = pinwheel.New(pinwheel.Config{BaseURL: loopback + "/sandbox/v1", Secret: p.secret, Version: cfg.PinwheelVersion})
	p.mounts = map[string]http.Handler{"/sandbox/": http.StripPrefix("/sandbox", emu)}
	var wg sync.WaitGroup
	p.start = func(bg context.Context) error {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := emu.Run(bg); err != nil && bg.Err() == nil {
				log.Error("emulator stopped", "err", err)
			}
		}()
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return registerWebhook(rctx, p.client, loopback+"/webhooks/pinwheel", cfg.PinwheelVersion)
	}
	p.wait = wg.Wait
	p.close = func() { emu.Close() }
	return p, nil
}

// loopbackURL turns a listen address into a URL this process can call:
// an unspecified host (0.0.0.0, ::) becomes 127.0.0.1.
func loopbackURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// registerWebhook makes sure the emulator delivers to url: it creates the
// registration when missing and removes registrations of earlier runs that
// pointed at another loopback port of Linkdesk's webhook path.
func registerWebhook(ctx context.Context, c *pinwheel.Client, url, version string) error {
	hooks, err := c.Webhooks(ctx)
	if err != nil {
		return fmt.Errorf("list emulator webhooks: %w", err)
	}
	found := false
	for _, w := range hooks {
		switch {
		case w.URL == url && w.Version == version:
			found = true
			// A registration of an earlier release may enable fewer events
			// than the catalogue now subscribes to.
			if want := pinwheel.SubscribedEvents(); !sameSet(w.EnabledEvents, want) {
				if _, err := c.UpdateWebhook(ctx, w.ID, pinwheel.WebhookUpdate{EnabledEvents: want}); err != nil {
					return fmt.Errorf("update the emulator webhook's events: %w", err)
				}
			}
		case strings.HasSuffix(w.URL, "/webhooks/pinwheel") && (strings.HasPrefix(w.URL, "http://127.") || strings.HasPrefix(w.URL, "http://localhost") || w.URL == url):
			if err := c.DeleteWebhook(ctx, w.ID); err != nil {
				return fmt.Errorf("remove stale emulator webhook: %w", err)
			}
		}
	}
	if found {
		return nil
	}
	_, err = c.CreateWebhook(ctx, pinwheel.WebhookCreate{URL: url, Status: "active", EnabledEvents: pinwheel.SubscribedEvents(), Version: version})
	if err != nil {
		return fmt.Errorf("register webhook with the emulator: %w", err)
	}
	return nil
}

// announceEmulator prints, in emulator mode, where the emulator answers and
// its API secret (which also signs its webhooks), so that `linkdesk loadgen
// webhooks` can be pointed at this Linkdesk. A configured secret is not
// repeated.
func announceEmulator(stdout io.Writer, cfg config, pw *pinwheelSetup) {
	if cfg.PinwheelMode != pinwheel.ModeEmulator {
		return
	}
	secret := pw.secret
	if cfg.PinwheelSecret != "" {
		secret = "$LINKDESK_PINWHEEL_SECRET"
	}
	fmt.Fprintf(stdout, "Pinwheel emulator: %s/v1, API and webhook secret %s\n  webhook load: %s loadgen webhooks --target %s/webhooks/pinwheel --secret %s\n",
		pw.emulatorURL, secret, selfCommand(), pw.localURL, secret)
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := make(map[string]bool, len(a))
	for _, x := range a {
		seen[x] = true
	}
	for _, x := range b {
		if !seen[x] {
			return false
		}
	}
	return true
}
