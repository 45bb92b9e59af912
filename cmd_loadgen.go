package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"linkdesk/loadgen"
)

// cmdLoadgen runs `linkdesk loadgen webhooks|bare`.
func cmdLoadgen(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	usage := func(w io.Writer) {
		fmt.Fprintln(w, `Usage:
  linkdesk loadgen webhooks --target URL --secret S (--rate N | --concurrency C) --duration D --accounts K
      send realistic signed webhooks (Link sessions: account.added, job events, paystub pages,
      about 2% duplicates, some out of order) and print sent, acknowledged, rejected,
      throughput and p50/p95/p99 latency
  linkdesk loadgen bare --addr 127.0.0.1:8099 --db PATH --secret S
      serve the bare ceiling harness (verify the signature, group-commit the raw event)
      at http://ADDR/webhooks/pinwheel until interrupted

Targets must be loopback addresses unless --allow-remote is given.`)
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return errors.New("loadgen: which load? webhooks or bare")
		}
		return nil
	}
	switch args[0] {
	case "webhooks":
		return loadgenWebhooks(ctx, args[1:], getenv, stdout)
	case "bare":
		return loadgenBare(ctx, args[1:], getenv, stdout)
	}
	usage(stderr)
	return fmt.Errorf("loadgen: unknown load %q", args[0])
}

func loadgenWebhooks(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("loadgen webhooks", flag.ContinueOnError)
	fs.SetOutput(stdout)
	target := fs.String("target", "http://127.0.0.1:8080/webhooks/pinwheel", "webhook URL")
	secret := fs.String("secret", getenv("LINKDESK_PINWHEEL_SECRET"), "API secret that signs the webhooks (default $LINKDESK_PINWHEEL_SECRET)")
	rate := fs.Int("rate", 0, "deliveries per second (open loop); 0: as fast as --concurrency allows")
	conc := fs.Int("concurrency", 64, "requests in flight at most")
	dur := fs.Duration("duration", 10*time.Second, "how long to send")
	maxN := fs.Int("max", 0, "stop after this many deliveries (0: no limit)")
	accounts := fs.Int("accounts", 1000, "distinct accounts the Link sessions create")
	endUsers := fs.Int("end-users", 0, "end users owning them (0: 5/7 of --accounts)")
	seed := fs.Uint64("seed", 0, "random seed (0: random; reusing a seed against one database resends the same events)")
	allowRemote := fs.Bool("allow-remote", false, "allow a target that is not a loopback address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secret == "" {
		return errors.New("loadgen: --secret is required")
	}
	if *dur <= 0 || *dur > 24*time.Hour {
		return errors.New("loadgen: --duration must be between 1ns and 24h")
	}
	rep, err := loadgen.Run(ctx, loadgen.Config{
		Target: *target, Secret: *secret, Rate: *rate, Concurrency: *conc, Duration: *dur, Max: *maxN,
		AllowRemote: *allowRemote, Gen: loadgen.GenConfig{Seed: *seed, Accounts: *accounts, EndUsers: *endUsers},
	})
	if err != nil {
		return err
	}
	mode := fmt.Sprintf("concurrency %d", *conc)
	if *rate > 0 {
		mode = fmt.Sprintf("rate %d/s (at most %d in flight)", *rate, *conc)
	}
	fmt.Fprintf(stdout, "loadgen webhooks → %s, %s, %s\n", *target, mode, *dur)
	rep.Print(stdout)
	return nil
}

func loadgenBare(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("loadgen bare", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:8099", "address to listen on")
	path := fs.String("db", "", "SQLite file of the harness (default: a fresh temporary file)")
	secret := fs.String("secret", getenv("LINKDESK_PINWHEEL_SECRET"), "API secret the webhooks are signed with")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secret == "" {
		return errors.New("loadgen: --secret is required")
	}
	if *path == "" {
		dir, err := os.MkdirTemp("", "linkdesk-bare-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		*path = filepath.Join(dir, "bare.db")
	}
	b, err := loadgen.NewBare(ctx, *path, *secret)
	if err != nil {
		return err
	}
	defer b.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: b, ReadHeaderTimeout: 10 * time.Second}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(runCtx) }()
	go srv.Serve(ln)
	fmt.Fprintf(stdout, "bare harness listening on http://%s/webhooks/pinwheel (db %s)\n", ln.Addr(), *path)
	<-ctx.Done()
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shut)
	stop()
	<-done
	return err
}
