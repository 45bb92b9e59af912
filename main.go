// Command linkdesk is the operations console beside the Pinwheel API:
// `linkdesk serve` (the default) runs the web app with its built-in Pinwheel
// emulator; other subcommands run the emulator alone or tools around it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"linkdesk/db"
	"linkdesk/handlers"
	"linkdesk/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "linkdesk:", err)
		os.Exit(1)
	}
}

// command is one subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run the web app (the default; with the built-in emulator unless a real Pinwheel mode is set)", serve},
		{"sandbox", "run the Pinwheel sandbox emulator on its own", sandboxCmd},
		{"loadgen", "send realistic signed webhook load, or serve the bare ceiling harness", cmdLoadgen},
		{"seed", "fill a database with generated webhook events through the ingestion code", cmdSeed},
		{"staff", "list, create, reset-password, deactivate or reactivate staff (the way back in)", cmdStaff},
	}
}

// run dispatches to a subcommand; `linkdesk` alone means `linkdesk serve`.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 1 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		usage(stdout)
		fmt.Fprintln(stdout)
		return serve(ctx, []string{"--help"}, getenv, stdout, stderr)
	}
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, args, getenv, stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", name)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: linkdesk [command] [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun `linkdesk COMMAND --help` for a command's flags. `linkdesk` alone is `linkdesk serve`.")
}

// newLogger builds the slog logger. Handlers never log request bodies,
// cookies or secrets; see web.requestLog.
func newLogger(format, level string, w io.Writer) *slog.Logger {
	var lvl slog.Level
	lvl.UnmarshalText([]byte(level))
	opt := &slog.HandlerOptions{Level: lvl}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opt))
	}
	return slog.New(slog.NewTextHandler(w, opt))
}

// serve runs the web app until ctx ends, then shuts down gracefully:
// in-flight requests finish, background work stops, the DB closes.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	m, err := parseSettings("serve", "Usage: linkdesk serve [flags]\n\nRuns Linkdesk: the web console, webhook receiver and (in emulator mode) the built-in Pinwheel emulator.", serveSettings, args, getenv, stdout)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(m)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := newLogger(cfg.LogFormat, cfg.LogLevel, stderr)

	store, err := db.Open(ctx, cfg.DB, db.Options{EncryptionKey: cfg.EncryptionKey})
	if err != nil {
		return err
	}
	defer store.Close()

	hashKey, blockKey, err := sessionKeys(ctx, store, cfg.SessionKeys)
	if err != nil {
		return err
	}
	if err := bootstrapAdmin(ctx, store, cfg, stdout); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("LINKDESK_ADDR: %w", err)
	}
	if cfg.baseURLDefault {
		// A wildcard listen address (0.0.0.0, ::) is no address to put in
		// links: default to loopback and say so.
		cfg.BaseURL = loopbackURL(ln.Addr().String())
		if host, _, _ := net.SplitHostPort(ln.Addr().String()); net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
			fmt.Fprintf(stderr, "linkdesk: listening on all interfaces; links use %s. Set LINKDESK_BASE_URL to the address people reach.\n", cfg.BaseURL)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	pw, err := setupPinwheel(ctx, cfg, store, ln.Addr().String(), log)
	if err != nil {
		ln.Close()
		return err
	}
	defer pw.close()
	ing, err := startIngestion(ctx, bg, store, pw.client, reg, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer func() { stopBG(); ing.wait() }()

	// streamsDone ends live timelines (SSE) when shutdown begins: Shutdown
	// waits for open responses but does not cancel their contexts.
	streamsDone := make(chan struct{})
	h := handlers.New(handlers.Deps{Store: store, Logger: log, Pinwheel: pw.client, Ingest: ing.ingester, Done: streamsDone}, handlers.Config{
		BaseURL: cfg.BaseURL, SecureCookies: strings.HasPrefix(cfg.BaseURL, "https://"),
		SessionHashKey: hashKey, SessionBlockKey: blockKey,
		PinwheelMode: cfg.PinwheelMode, PinwheelSecret: pw.secret, WebhookTolerance: cfg.WebhookTolerance,
		EmulatorURL: pw.emulatorURL, PinwheelVersion: cfg.PinwheelVersion, LinkLifetime: cfg.LinkLifetime,
	})
	srv := &http.Server{
		Handler:           web.New(h, store, web.Options{Logger: log, Registry: reg, Extra: pw.mounts}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(func() { close(streamsDone) })
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "Linkdesk is listening on %s (Pinwheel mode: %s)\n", cfg.BaseURL, cfg.PinwheelMode)
	announceEmulator(stdout, cfg, pw)
	var runErr error
	if err := pw.start(bg); err != nil {
		if ctx.Err() == nil { // a signal during start-up is a shutdown, not a failure
			runErr = err
		}
	} else {
		ing.startDemo(bg, cfg, store, pw.client, loopbackURL(ln.Addr().String())+"/sandbox", pw.secret, log)
		select {
		case runErr = <-srvErr:
		case <-ctx.Done():
		}
	}

	// One shutdown path for every exit once Serve runs: stop taking
	// requests and let in-flight ones finish (15 s at most, then cut them),
	// then stop background work, and only then (deferred) close the
	// emulator and the database under nobody's feet.
	log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Warn("in-flight requests cut at the shutdown deadline", "err", err)
		srv.Close()
	}
	stopBG()
	pw.wait()
	ing.wait()
	if errors.Is(runErr, http.ErrServerClosed) {
		runErr = nil
	}
	return runErr
}

// sessionKeys uses LINKDESK_SESSION_KEYS when set, else keys kept in the DB.
func sessionKeys(ctx context.Context, store *db.Store, env string) ([]byte, []byte, error) {
	if env != "" {
		return db.ParseSessionKeys(env)
	}
	return store.SessionKeys(ctx)
}

// bootstrapAdmin creates the first admin when no staff exists and prints
// the login once.
func bootstrapAdmin(ctx context.Context, store *db.Store, cfg config, stdout io.Writer) error {
	password, generated := cfg.AdminPassword, false
	if password == "" {
		password, generated = db.RandomHex(9), true
	}
	created, err := store.EnsureAdmin(ctx, cfg.AdminEmail, password)
	var fe db.FieldErrors
	if errors.As(err, &fe) {
		return fmt.Errorf("LINKDESK_ADMIN_EMAIL: %v", fe)
	}
	if err != nil {
		return err
	}
	if !created {
		return announceSignIn(ctx, store, cfg.DB, stdout)
	}
	if generated {
		fmt.Fprintf(stdout, "Created the first admin. Sign in with:\n  email:    %s\n  password: %s\n(shown once; change it under your name in the header)\n", cfg.AdminEmail, password)
	} else {
		fmt.Fprintf(stdout, "Created the first admin %s with the password from LINKDESK_ADMIN_PASSWORD.\n", cfg.AdminEmail)
	}
	return nil
}
