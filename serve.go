package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"linkdesk/db"
	"linkdesk/demo"
	"linkdesk/handlers"
	"linkdesk/odu"
	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
	"linkdesk/web"
	"linkdesk/worker"
)

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
	return serveConfig(ctx, cfg, stdout, stderr)
}

// serveConfig runs the web app with a checked configuration (see serve).
func serveConfig(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	log := newLogger(cfg.LogFormat, cfg.LogLevel, stderr)

	opts := db.Options{Now: cfg.now}
	if len(cfg.EncryptionKeys) > 0 {
		opts.EncryptionKey, opts.OldEncryptionKeys = cfg.EncryptionKeys[0], cfg.EncryptionKeys[1:]
	}
	if len(cfg.AuditKeys) > 0 {
		opts.AuditKey, opts.OldAuditKeys = cfg.AuditKeys[0], cfg.AuditKeys[1:]
	}
	opts.AuditAnchor = cfg.AuditAnchor
	store, err := db.Open(ctx, cfg.DB, opts)
	if err != nil {
		return err
	}
	defer store.Close()

	sessionPairs, err := sessionKeys(ctx, store, cfg.SessionKeys)
	if err != nil {
		return err
	}
	announceGeneratedKeys(stdout, cfg)
	if err := bootstrapAdmin(ctx, store, cfg, stdout); err != nil {
		return err
	}
	announceAudit(stdout, store)

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
	metrics := web.NewMetrics(reg, store)

	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	pw, err := setupPinwheel(ctx, cfg, store, ln.Addr().String(), log)
	if err != nil {
		ln.Close()
		return err
	}
	defer pw.close()
	work, err := startBackground(ctx, bg, store, pw.client, metrics, log, cfg)
	if err != nil {
		ln.Close()
		return err
	}
	defer func() { stopBG(); work.wait() }()

	// streamsDone ends live timelines (SSE) when shutdown begins: Shutdown
	// waits for open responses but does not cancel their contexts.
	streamsDone := make(chan struct{})
	h := handlers.New(handlers.Deps{Store: store, Logger: log, Pinwheel: pw.client, Ingest: work.ingester, Done: streamsDone, Now: cfg.now, Wake: work.jobs.Wake}, handlers.Config{
		BaseURL: cfg.BaseURL, SecureCookies: strings.HasPrefix(cfg.BaseURL, "https://"),
		SessionHashKey: sessionPairs[0][0], SessionBlockKey: sessionPairs[0][1], OldSessionKeys: sessionPairs[1:],
		LaunchBaseURL: cfg.LaunchBaseURL,
		PinwheelMode:  cfg.PinwheelMode, PinwheelSecret: pw.secret, WebhookTolerance: cfg.WebhookTolerance,
		EmulatorURL: pw.emulatorURL, PinwheelVersion: cfg.PinwheelVersion, LinkLifetime: cfg.LinkLifetime,
	})
	srv := &http.Server{
		Handler:           web.New(h, store, web.Options{Logger: log, Metrics: metrics, Extra: pw.mounts, MetricsElsewhere: cfg.MetricsAddr != ""}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(func() { close(streamsDone) })
	srvErr := make(chan error, 2)
	go func() { srvErr <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "Linkdesk is listening on %s (Pinwheel mode: %s)\n", cfg.BaseURL, cfg.PinwheelMode)
	if cfg.LaunchBaseURL != "" {
		fmt.Fprintf(stdout, "Launch pages answer on %s only (LINKDESK_LAUNCH_BASE_URL); staff pages never do.\n", cfg.LaunchBaseURL)
	}
	metricsSrv, err := serveMetrics(cfg, metrics, log, srvErr, stdout)
	if err != nil {
		srv.Close()
		return err
	}
	announceEmulator(stdout, cfg, pw)
	var runErr error
	if err := pw.start(bg); err != nil {
		if ctx.Err() == nil { // a signal during start-up is a shutdown, not a failure
			runErr = err
		}
	} else {
		work.startDemo(bg, cfg, store, pw.client, loopbackURL(ln.Addr().String()), pw.secret, log)
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
	if metricsSrv != nil {
		metricsSrv.Shutdown(shutCtx)
	}
	stopBG()
	pw.wait()
	work.wait()
	if errors.Is(runErr, http.ErrServerClosed) {
		runErr = nil
	}
	return runErr
}

// serveMetrics starts the listener of /metrics when LINKDESK_METRICS_ADDR
// is set (its error, if Serve fails, goes to errs), and says where
// /metrics is either way: served on the main address it is public to
// anyone who can reach that address.
func serveMetrics(cfg config, m *web.Metrics, log *slog.Logger, errs chan<- error, stdout io.Writer) (*http.Server, error) {
	if cfg.MetricsAddr == "" {
		fmt.Fprintf(stdout, "Metrics: %s/metrics, on the main address, readable by anyone who can reach it (set LINKDESK_METRICS_ADDR to give it a listener of its own).\n", cfg.BaseURL)
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("LINKDESK_METRICS_ADDR: %w", err)
	}
	srv := &http.Server{Handler: web.MetricsHandler(m), ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() { errs <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "Metrics: http://%s/metrics (a listener of its own; the main address answers 404 there).\n", ln.Addr())
	return srv, nil
}

// announceGeneratedKeys says, in emulator mode, which keys were not set
// and so are generated and kept in the database beside the data.
func announceGeneratedKeys(w io.Writer, cfg config) {
	var missing []string
	for _, k := range keySpecs {
		if len(cfg.Keys[k.env]) == 0 && k.generated != "" {
			missing = append(missing, k.generated+" ("+k.env+")")
		}
	}
	if len(missing) == 0 {
		return
	}
	fmt.Fprintf(w, "Emulator mode: %s not set, so generated and kept in the database (%s) beside the data. Fine for trying Linkdesk, never for real data: outside emulator mode Linkdesk refuses to start without them (linkdesk keys new prints fresh ones).\n",
		joinAnd(missing), cfg.DB)
}

// joinAnd joins "a", "a and b", "a, b and c".
func joinAnd(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// background is the work of serve that outlives requests: the group-commit
// ingester of webhooks, the checkpointer that keeps WAL checkpoints off the
// commit path, the job runner (the data fetches behind the events, the
// account health jobs, and every later job kind) and, in emulator mode,
// the demo world.
type background struct {
	ingester *db.Ingester
	jobs     *worker.Runner
	wg       sync.WaitGroup
}

// startBackground starts the background goroutines on bg; wait returns
// once they have all stopped after bg ends (the ingester first commits what
// it was handed, the runner records the outcomes it knows).
func startBackground(ctx, bg context.Context, store *db.Store, client *pinwheel.Client, m *web.Metrics, log *slog.Logger, cfg config) (*background, error) {
	w := &background{}
	w.jobs = worker.NewRunner(store, worker.Options{Log: log, Finished: m.JobFinished})
	w.jobs.Add(worker.AuditJobs(store))
	if err := worker.ScheduleAuditJobs(ctx, store); err != nil {
		return nil, err
	}
	ing, err := store.NewIngester(ctx, db.IngestOptions{Hooks: m.IngestHooks(func() { w.jobs.WakeKinds(db.FetchJobKinds) })})
	if err != nil {
		return nil, err
	}
	w.ingester = ing
	w.jobs.Add(worker.Fetches(client, store))
	// Account health: alert checks, their notifications, reconnect
	// batches, reconciliations.
	minter := odu.New(odu.Config{Store: store, Client: client, APIVersion: cfg.PinwheelVersion, LinkLifetime: cfg.LinkLifetime})
	w.jobs.Add(worker.AlertChecks(store))
	w.jobs.Add(worker.Notifications(store, worker.NotifyConfig{BaseURL: cfg.BaseURL, InsecureOK: cfg.PinwheelMode == pinwheel.ModeEmulator}))
	w.jobs.Add(worker.Reconnects(minter, store))
	w.jobs.Add(worker.Reconciles(client, store, ing))
	// Campaigns: launches, incentive holds, the allocation projection.
	w.jobs.Add(worker.CampaignLaunches(minter, store))
	w.jobs.Add(worker.CampaignHolds(store))
	w.jobs.Add(worker.CohortAllocations(store))
	w.jobs.Add(worker.SearchReindex(store))
	if err := store.ScheduleAlertChecks(ctx); err != nil {
		return nil, err
	}

	w.wg.Go(func() {
		if err := ing.Run(bg); err != nil {
			log.Error("ingester stopped", "err", err)
		}
	})
	w.wg.Go(func() {
		if err := ing.RunCheckpointer(bg, db.CheckpointOptions{Checkpointed: m.Checkpointed}); err != nil {
			log.Error("checkpointer stopped", "err", err)
		}
	})
	w.wg.Go(func() {
		if err := w.jobs.Run(bg); err != nil {
			log.Error("job runner stopped", "err", err)
		}
	})
	// Jobs enqueued by another instance on the database (PostgreSQL) wake
	// this one's runner too.
	queued, stopQueued := store.Subscribe(db.TopicJobs)
	fetches, stopFetches := store.Subscribe(db.TopicFetches)
	w.wg.Go(func() {
		defer stopQueued()
		defer stopFetches()
		for {
			select {
			case <-bg.Done():
				return
			case <-queued:
				w.jobs.Wake()
			case <-fetches:
				w.jobs.WakeKinds(db.FetchJobKinds)
			}
		}
	})
	return w, nil
}

// startDemo builds the demo world in the background (emulator mode with
// LINKDESK_DEMO on) through the emulator under base + /sandbox (secret:
// the emulator's, for its emulator-only knobs), its campaign's launch
// pages at base: see demo.FirstStart.
func (w *background) startDemo(bg context.Context, cfg config, store *db.Store, client *pinwheel.Client, base, secret string, log *slog.Logger) {
	if !cfg.Demo || cfg.PinwheelMode != pinwheel.ModeEmulator {
		return
	}
	w.wg.Go(func() {
		// Instances starting together on one database build it once.
		_, err := store.RunExclusive(bg, "demo", func(ctx context.Context) error {
			return demo.FirstStart(ctx, demo.Config{
				Store: store, Client: client, Driver: &sandbox.Driver{BaseURL: base + "/sandbox", Secret: secret}, LinkdeskURL: base, LaunchHost: launchHost(cfg),
				Version: cfg.PinwheelVersion, Log: log.With("component", "demo"),
			})
		})
		if err != nil && bg.Err() == nil {
			log.Error("demo world", "err", err)
		}
	})
}

// wait blocks until every background goroutine has returned.
func (w *background) wait() { w.wg.Wait() }

// launchHost is the host of the launch origin (LINKDESK_LAUNCH_BASE_URL),
// "" when launch pages share the staff console's.
func launchHost(cfg config) string {
	if cfg.LaunchBaseURL == "" {
		return ""
	}
	u, err := url.Parse(cfg.LaunchBaseURL)
	if err != nil {
		return ""
	}
	return u.Host
}
