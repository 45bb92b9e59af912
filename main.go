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
	"os"
	"os/signal"
	"strings"
	"syscall"

	"linkdesk/db"
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
		{"keys", "print fresh keys, or re-encrypt everything with the newest encryption key after a rotation", cmdKeys},
		{"audit", "verify the audit trail offline: its chain, anchor file, or an export (linkdesk audit verify)", cmdAudit},
		{"evidence", "verify an evidence pack offline (linkdesk evidence verify PACK.zip)", cmdEvidence},
		{"migrate-db", "copy a SQLite database into PostgreSQL and verify the copy", cmdMigrateDB},
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
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
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

// sessionKeys returns LINKDESK_SESSION_KEYS's pairs when set, newest
// first, else (emulator mode only: loadConfig requires them elsewhere) the
// pair generated and kept in the database.
func sessionKeys(ctx context.Context, store *db.Store, configured [][2][]byte) ([][2][]byte, error) {
	if len(configured) > 0 {
		return configured, nil
	}
	h, b, err := store.SessionKeys(ctx)
	if err != nil {
		return nil, err
	}
	return [][2][]byte{{h, b}}, nil
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
