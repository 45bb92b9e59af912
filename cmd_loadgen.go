package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"linkdesk/loadgen"
)

// loadgenSecret is the secret of both loads: Linkdesk's own API secret
// variable, so a shell set up for serve needs no flag.
var loadgenSecret = setting{"LINKDESK_PINWHEEL_SECRET", "secret", "", "API secret that signs the webhooks (required): the target's LINKDESK_PINWHEEL_SECRET, or the emulator secret linkdesk serve prints at start"}

// loadgenWebhooksSettings are the settings of `linkdesk loadgen webhooks`.
var loadgenWebhooksSettings = []setting{
	{"", "target", "http://127.0.0.1:8080/webhooks/pinwheel", "webhook URL of the Linkdesk under load"},
	loadgenSecret,
	{"", "rate", "0", "deliveries per second (open loop); 0: as fast as --concurrency allows"},
	{"", "concurrency", "64", "requests in flight at most"},
	{"", "duration", "10s", "how long to send"},
	{"", "max", "0", "stop after this many deliveries (0: no limit)"},
	{"", "accounts", "1000", "distinct accounts the Link sessions create"},
	{"", "end-users", "0", "end users owning them (0: 5/7 of --accounts)"},
	{"", "seed", "0", "random seed (0: random; reusing a seed against one database resends the same events)"},
	{"", "allow-remote", "false", "allow a target that is not a loopback address"},
}

// loadgenBareSettings are the settings of `linkdesk loadgen bare`.
var loadgenBareSettings = []setting{
	{"", "addr", "127.0.0.1:8099", "address to listen on"},
	{"", "db", "", "SQLite file of the harness (default: a fresh temporary file)"},
	loadgenSecret,
}

// loadgenLoads are the loads of `linkdesk loadgen`, for its usage.
var loadgenLoads = []struct {
	name, usage, summary string
	settings             []setting
}{
	{"webhooks", "linkdesk loadgen webhooks --target URL --secret S (--rate N | --concurrency C) --duration D --accounts K",
		"Sends realistic signed webhooks (Link sessions: account.added, job events, paystub pages, about 2%\nduplicates, some out of order) and prints sent, acknowledged, rejected, throughput and p50/p95/p99\nlatency. Targets must be loopback addresses unless --allow-remote is given.",
		loadgenWebhooksSettings},
	{"bare", "linkdesk loadgen bare --addr 127.0.0.1:8099 --db PATH --secret S",
		"Serves the bare ceiling harness (verify the signature, group-commit the raw event) at\nhttp://ADDR/webhooks/pinwheel until interrupted.",
		loadgenBareSettings},
}

// cmdLoadgen runs `linkdesk loadgen webhooks|bare`.
func cmdLoadgen(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	usage := func(w io.Writer) {
		fmt.Fprintln(w, "Usage: linkdesk loadgen webhooks|bare [flags]")
		for _, l := range loadgenLoads {
			fmt.Fprintf(w, "\n%s\n\n%s\n\n", l.usage, l.summary)
			printSettings(w, l.settings)
		}
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return errors.New("loadgen: which load? webhooks or bare")
		}
		return nil
	}
	for _, l := range loadgenLoads {
		if l.name != args[0] {
			continue
		}
		m, err := parseSettings("loadgen "+l.name, "Usage: "+l.usage+"\n\n"+l.summary, l.settings, args[1:], getenv, stdout)
		if err != nil {
			return err
		}
		if m["LINKDESK_PINWHEEL_SECRET"] == "" {
			return errors.New("loadgen: --secret (LINKDESK_PINWHEEL_SECRET) is required; in emulator mode linkdesk serve prints it at start")
		}
		if l.name == "bare" {
			return loadgenBare(ctx, m, stdout)
		}
		return loadgenWebhooks(ctx, m, stdout)
	}
	usage(stderr)
	return fmt.Errorf("loadgen: unknown load %q", args[0])
}

func loadgenWebhooks(ctx context.Context, m map[string]string, stdout io.Writer) error {
	const most = 1 << 30
	var errs []error
	num := func(key string, lo int) int {
		n, err := settingInt(m, key, lo, most)
		errs = append(errs, err)
		return n
	}
	rate, conc, maxN, accounts, endUsers := num("--rate", 0), num("--concurrency", 1), num("--max", 0), num("--accounts", 1), num("--end-users", 0)
	dur, err := settingDuration(m, "--duration", time.Millisecond, 24*time.Hour)
	errs = append(errs, err)
	seed, err := settingUint(m, "--seed")
	errs = append(errs, err)
	allowRemote, err := settingBool(m, "--allow-remote")
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("loadgen webhooks:\n%w", err)
	}
	target := m["--target"]
	rep, err := loadgen.Run(ctx, loadgen.Config{
		Target: target, Secret: m["LINKDESK_PINWHEEL_SECRET"], Rate: rate, Concurrency: conc, Duration: dur, Max: maxN,
		AllowRemote: allowRemote, Gen: loadgen.GenConfig{Seed: seed, Accounts: accounts, EndUsers: endUsers},
	})
	if err != nil {
		return err
	}
	mode := fmt.Sprintf("concurrency %d", conc)
	if rate > 0 {
		mode = fmt.Sprintf("rate %d/s (at most %d in flight)", rate, conc)
	}
	fmt.Fprintf(stdout, "loadgen webhooks → %s, %s, %s\n", target, mode, dur)
	rep.Print(stdout)
	return nil
}

func loadgenBare(ctx context.Context, m map[string]string, stdout io.Writer) error {
	addr, path, secret := m["--addr"], m["--db"], m["LINKDESK_PINWHEEL_SECRET"]
	if path == "" {
		dir, err := os.MkdirTemp("", "linkdesk-bare-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "bare.db")
	}
	b, err := loadgen.NewBare(ctx, path, secret)
	if err != nil {
		return err
	}
	defer b.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: b, ReadHeaderTimeout: 10 * time.Second}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(runCtx) }()
	go srv.Serve(ln)
	fmt.Fprintf(stdout, "bare harness listening on http://%s/webhooks/pinwheel (db %s)\n", ln.Addr(), path)
	<-ctx.Done()
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shut)
	stop()
	<-done
	return err
}
