package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"linkdesk/db"
)

// staffDB is the database setting of every `linkdesk staff` command: the
// same variables and default as serve's.
var staffDB = []setting{
	{"LINKDESK_DB", "db", "linkdesk.db", "path of the SQLite database file (the one linkdesk serve uses; it may be running)"},
	databaseURLSetting,
}

// staffSubcommand is one `linkdesk staff` command. Commands that take an
// EMAIL argument set email.
type staffSubcommand struct {
	name, args, summary string
	settings            []setting
	email               bool
	run                 func(ctx context.Context, c staffContext) error
}

// staffContext is what a staff command works with: the Store, who acts (the
// console), the parsed settings, the EMAIL argument and the output.
type staffContext struct {
	store *db.Store
	actor db.Actor
	m     map[string]string
	email string
	out   io.Writer
}

func staffSubcommands() []staffSubcommand {
	return []staffSubcommand{
		{name: "list", summary: "list staff: email, name, role, active, last sign-in",
			settings: slices.Concat(staffDB, auditSettings()), run: staffList},
		{name: "create", args: "--email EMAIL --name NAME [--role ROLE]",
			summary: "add a staff member with a one-time password (printed); they choose their own at first sign-in",
			settings: slices.Concat(staffDB, auditSettings(), []setting{
				{"", "email", "", "email address they sign in with (required)"},
				{"", "name", "", "their name as shown in Linkdesk and the audit trail (required)"},
				{"", "role", db.RoleOperator, "admin, operator or auditor"},
			}), run: staffCreate},
		{name: "reset-password", args: "EMAIL", email: true,
			summary:  "give EMAIL a one-time password (printed) and sign out their sessions; their next sign-in leads to choosing a new password before anything else",
			settings: slices.Concat(staffDB, auditSettings()), run: staffResetPassword},
		{name: "deactivate", args: "EMAIL", email: true,
			summary:  "stop EMAIL from signing in, with immediate effect on open sessions (never the last active admin)",
			settings: slices.Concat(staffDB, auditSettings()), run: staffSetActive(false)},
		{name: "reactivate", args: "EMAIL", email: true,
			summary:  "let a deactivated EMAIL sign in again",
			settings: slices.Concat(staffDB, auditSettings()), run: staffSetActive(true)},
	}
}

// staffUsage prints every staff command with its settings table.
func staffUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: linkdesk staff COMMAND [flags]\n\nManages who can sign in, from the machine that holds the database: the way back in after a lost\npassword. Every change is written to the audit trail as a console action.")
	for _, sc := range staffSubcommands() {
		fmt.Fprintf(w, "\nlinkdesk staff %s\n  %s\n\n", strings.TrimSpace(sc.name+" "+sc.args), sc.summary)
		printSettings(w, sc.settings)
	}
}

// cmdStaff runs `linkdesk staff list|create|reset-password|deactivate|reactivate`.
func cmdStaff(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help" {
		staffUsage(stdout)
		if len(args) == 0 {
			return errors.New("staff: which command? list, create, reset-password, deactivate or reactivate")
		}
		return nil
	}
	for _, sc := range staffSubcommands() {
		if sc.name != args[0] {
			continue
		}
		nargs := 0
		if sc.email {
			nargs = 1
		}
		usage := fmt.Sprintf("Usage: linkdesk staff %s [flags]\n\n%s", strings.TrimSpace(sc.name+" "+sc.args), sc.summary)
		m, pos, err := parseCommand("staff "+sc.name, usage, sc.settings, nargs, args[1:], getenv, stdout)
		if err != nil {
			return err
		}
		c := staffContext{m: m, out: stdout, actor: consoleActor(getenv)}
		if sc.email {
			if len(pos) == 0 {
				return fmt.Errorf("staff %s: which staff member? linkdesk staff %s EMAIL", sc.name, sc.name)
			}
			c.email = pos[0]
		}
		path, err := databaseOf(m)
		if err != nil {
			return err
		}
		key, anchor, err := loadAuditConfig(m)
		if err != nil {
			return err
		}
		store, err := openStaffStore(ctx, path, key, anchor)
		if err != nil {
			return err
		}
		defer store.Close()
		c.store = store
		return sc.run(ctx, c)
	}
	staffUsage(stderr)
	return fmt.Errorf("staff: unknown command %q", args[0])
}

// openStaffStore opens an existing database: a mistyped path must not
// create an empty one. It never stores a generated encryption key (staff
// commands encrypt nothing). Its changes are audited, so it needs the
// audit key: LINKDESK_AUDIT_KEY, or the key kept in the database in
// emulator mode.
func openStaffStore(ctx context.Context, path string, auditKeys [][]byte, anchor string) (*db.Store, error) {
	opt := db.Options{NoGeneratedKey: true, AuditAnchor: anchor}
	if len(auditKeys) > 0 {
		opt.AuditKey, opt.OldAuditKeys = auditKeys[0], auditKeys[1:]
	}
	return openExistingStore(ctx, path, opt)
}

// openExistingStore opens the database at path, which must exist (a
// PostgreSQL URL names a server, which says so itself).
func openExistingStore(ctx context.Context, path string, opt db.Options) (*db.Store, error) {
	if db.IsPostgresURL(path) {
		return db.Open(ctx, path, opt)
	}
	if path == "" {
		return nil, errors.New("LINKDESK_DB: must not be empty")
	}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("LINKDESK_DB: no database at %s (start Linkdesk once with linkdesk serve, or point --db at its file)", path)
		}
		return nil, fmt.Errorf("LINKDESK_DB: %w", err)
	}
	return db.Open(ctx, path, opt)
}

// consoleActor is who the audit trail records for a staff command: the
// console, with the operating-system account that ran it when known.
func consoleActor(getenv func(string) string) db.Actor {
	who := ""
	if u, err := user.Current(); err == nil && u.Username != "" {
		who = u.Username
	} else {
		who = getenv("USER")
	}
	name := "console (linkdesk staff)"
	if who != "" {
		if host, err := os.Hostname(); err == nil && host != "" {
			who += "@" + host
		}
		name = "console (linkdesk staff, OS user " + who + ")"
	}
	return db.Actor{Email: name, IP: "local", UserAgent: "linkdesk staff"}
}

// findStaff looks a staff member up by email, with a helpful error.
func findStaff(ctx context.Context, c staffContext) (db.Staff, error) {
	st, err := c.store.StaffByEmail(ctx, c.email)
	if errors.Is(err, db.ErrNotFound) {
		return db.Staff{}, fmt.Errorf("no staff member with email %q (linkdesk staff list shows them all)", c.email)
	}
	return st, err
}

// oneTimePassword is handed to a person by whoever ran the command; it
// works until they choose their own at sign-in.
func oneTimePassword() string { return db.RandomHex(9) }

func staffList(ctx context.Context, c staffContext) error {
	list, err := c.store.ListStaff(ctx)
	if err != nil {
		return err
	}
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tNAME\tROLE\tACTIVE\tLAST SIGN-IN\tNOTE")
	admins := 0
	for _, st := range list {
		active, last, note := "yes", "never", ""
		if !st.Active {
			active = "no"
		}
		if !st.LastSignInAt.IsZero() {
			last = st.LastSignInAt.UTC().Format("2006-01-02 15:04 UTC")
		}
		if st.MustChangePassword {
			note = "one-time password: must choose a new one"
		}
		if st.Active && st.IsAdmin() {
			admins++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", st.Email, oneLine(st.Name), st.Role, active, last, note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, line := range strings.SplitAfter(table.String(), "\n") {
		fmt.Fprint(c.out, strings.TrimRight(line, " "))
	}
	fmt.Fprintf(c.out, "%d staff, %d active admin%s.\n", len(list), admins, plural(admins))
	return nil
}

func staffCreate(ctx context.Context, c staffContext) error {
	password := oneTimePassword()
	st, err := c.store.CreateStaff(ctx, c.actor, db.StaffCreate{
		Email: c.m["--email"], Name: c.m["--name"], Role: c.m["--role"], Password: password, MustChangePassword: true,
	})
	var fe db.FieldErrors
	if errors.As(err, &fe) {
		var msgs []string
		for _, f := range []string{"email", "name", "role", "password"} {
			if msg, ok := fe[f]; ok {
				msgs = append(msgs, "--"+f+": "+msg)
			}
		}
		return fmt.Errorf("staff create:\n%s", strings.Join(msgs, "\n"))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "Created %s (%s, %s).\n  one-time password: %s\nThey sign in with it and must choose their own password before anything else.\n",
		st.Email, oneLine(st.Name), st.Role, password)
	return nil
}

func staffResetPassword(ctx context.Context, c staffContext) error {
	st, err := findStaff(ctx, c)
	if err != nil {
		return err
	}
	password := oneTimePassword()
	if err := c.store.ResetPassword(ctx, c.actor, st.ID, password); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "Reset the password of %s (%s, %s); their open sessions are signed out.\n  one-time password: %s\nThey sign in with it and must choose a new password before anything else.\n",
		st.Email, oneLine(st.Name), st.Role, password)
	if !st.Active {
		fmt.Fprintf(c.out, "Note: %s is deactivated and cannot sign in until reactivated: linkdesk staff reactivate %s\n", st.Email, st.Email)
	}
	return nil
}

// staffSetActive deactivates or reactivates a staff member.
func staffSetActive(active bool) func(context.Context, staffContext) error {
	return func(ctx context.Context, c staffContext) error {
		st, err := findStaff(ctx, c)
		if err != nil {
			return err
		}
		state := map[bool]string{true: "active", false: "deactivated"}[active]
		if st.Active == active {
			fmt.Fprintf(c.out, "%s is already %s; nothing changed.\n", st.Email, state)
			return nil
		}
		_, err = c.store.UpdateStaff(ctx, c.actor, st.ID, db.StaffUpdate{Active: &active})
		if errors.Is(err, db.ErrLastAdmin) {
			return fmt.Errorf("%s is the last active admin and cannot be deactivated; make someone else an admin first (linkdesk staff create --role admin --email EMAIL --name NAME)", st.Email)
		}
		if err != nil {
			return err
		}
		if active {
			fmt.Fprintf(c.out, "Reactivated %s (%s): they can sign in again.\n", st.Email, st.Role)
		} else {
			fmt.Fprintf(c.out, "Deactivated %s (%s): their next request signs them out, and they cannot sign in.\n", st.Email, st.Role)
		}
		return nil
	}
}

// announceSignIn prints, on a start with staff already present, who can
// sign in and the command that resets a lost password.
func announceSignIn(ctx context.Context, store *db.Store, dbPath string, stdout io.Writer) error {
	list, err := store.ListStaff(ctx)
	if err != nil {
		return err
	}
	var admins []string
	for _, st := range list {
		if st.Active && st.IsAdmin() {
			admins = append(admins, st.Email)
		}
	}
	self := selfCommand()
	dbFlag := " --db " + shellQuote(dbPath)
	if db.IsPostgresURL(dbPath) {
		// Never print the URL: it may hold a password.
		dbFlag = ` --database-url "$LINKDESK_DATABASE_URL"`
	}
	if len(admins) == 0 {
		fmt.Fprintf(stdout, "No active admin can sign in. Create one with:\n  %s staff create --role admin --email EMAIL --name NAME%s\n", self, dbFlag)
		return nil
	}
	shown := admins
	if len(shown) > 10 {
		shown = shown[:10]
	}
	more := ""
	if len(admins) > len(shown) {
		more = fmt.Sprintf(" and %d more", len(admins)-len(shown))
	}
	fmt.Fprintf(stdout, "%d active admin%s can sign in: %s%s (%s staff list%s shows everyone).\n",
		len(admins), plural(len(admins)), strings.Join(shown, ", "), more, self, dbFlag)
	target := "EMAIL"
	if len(admins) == 1 {
		target = admins[0]
	}
	fmt.Fprintf(stdout, "Lost a password? Print a one-time password (works while Linkdesk runs):\n  %s staff reset-password %s%s\n", self, target, dbFlag)
	return nil
}

// selfCommand is how the person at this terminal runs Linkdesk again: `go
// run .` from a go-run build, the path they typed, or plain `linkdesk`.
func selfCommand() string {
	exe := os.Args[0]
	switch {
	case strings.Contains(exe, string(filepath.Separator)+"go-build"):
		return "go run ."
	case strings.ContainsRune(exe, filepath.Separator):
		return shellQuote(exe)
	}
	return "linkdesk"
}

// shellQuote quotes s for a POSIX shell when it holds anything but plain
// path characters.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./@:+=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// oneLine keeps a stored name from breaking the console's table.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
