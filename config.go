package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"linkdesk/db"
	"linkdesk/pinwheel"
)

// setting is one configuration value: an environment variable and a flag
// of the same meaning. The flag wins over the variable, the variable over
// the default. A setting with no variable (env "") is a flag only; the
// parsed map keys it "--flag". A setting whose default is "false" is a
// switch: "--flag" alone turns it on.
type setting struct {
	env, flag, def, help string
}

// key is the setting's key in the map parseSettings returns, and the name
// its error messages start with.
func (s setting) key() string {
	if s.env == "" {
		return "--" + s.flag
	}
	return s.env
}

func (s setting) isSwitch() bool { return s.def == "false" }

// serveSettings are the settings of `linkdesk serve`, in the order --help
// lists them; the keys' settings come from keySpecs (keys.go).
var serveSettings = slices.Concat([]setting{
	{"LINKDESK_ADDR", "addr", "127.0.0.1:8080", "address to listen on (port 0 picks a free one)"},
	{"LINKDESK_DB", "db", "linkdesk.db", "path of the SQLite database file"},
	databaseURLSetting,
	{"LINKDESK_BASE_URL", "base-url", "", "public URL of Linkdesk, used for links; https:// turns on the cookie's Secure flag (default http://ADDR)"},
	{"LINKDESK_LAUNCH_BASE_URL", "launch-base-url", "", "public URL of the end users' launch pages (/l/ID) on a host of their own; when set, launch links, QR codes and exports use it, launch pages answer only on that host and staff pages never do (default: BASE_URL, one origin for both)"},
	{"LINKDESK_METRICS_ADDR", "metrics-addr", "", "address of a listener of its own for /metrics (then the main address answers 404 there); unset: /metrics is served on LINKDESK_ADDR to anyone who can reach it"},
}, keySettings(), []setting{
	auditAnchorSetting,
	{"LINKDESK_ADMIN_EMAIL", "admin-email", "", "email of the bootstrap admin, created when no staff exists (default admin@linkdesk.local)"},
	{"LINKDESK_ADMIN_PASSWORD", "admin-password", "", "password of the bootstrap admin (at least 12 characters); unset: a random one is printed once"},
	{"LINKDESK_LOG_FORMAT", "log-format", "text", "log format: text or json"},
	{"LINKDESK_LOG_LEVEL", "log-level", "info", "log level: debug, info, warn or error"},
	{"LINKDESK_PINWHEEL_MODE", "pinwheel-mode", "emulator", "emulator (built in, mounted under /sandbox/), sandbox, development or production"},
	{"LINKDESK_PINWHEEL_SECRET", "pinwheel-secret", "", "Pinwheel API secret; in emulator mode the emulator's secret (unset: generated once and kept)"},
	{"LINKDESK_PINWHEEL_VERSION", "pinwheel-version", pinwheel.DefaultVersion, "Pinwheel-Version for API calls and the webhook registration (2023-11-22 or 2025-07-08)"},
	{"LINKDESK_SANDBOX_STATE", "sandbox-state", "linkdesk-sandbox.db", "emulator mode: the emulator's own SQLite state file"},
	{"LINKDESK_WEBHOOK_TOLERANCE", "webhook-tolerance", "5m", "accepted clock skew of a webhook's X-Timestamp (1s to 24h)"},
	{"LINKDESK_LINK_LIFETIME", "link-lifetime", "168h", "how long a launch link that mints its token on open stays usable, 1h to 2160h (Link tokens themselves die in an hour)"},
	{"LINKDESK_DEMO", "demo", "on", "on: create demo data on first start in emulator mode with an empty database; off: never"},
	{"LINKDESK_EMULATOR_RATE_LIMIT", "emulator-rate-limit", "10", "emulator mode: API requests per second the emulator allows per secret before answering 429 with Retry-After (a number, or off)"},
})

// databaseURLSetting selects PostgreSQL instead of the SQLite file, for
// serve and every command that opens the database.
var databaseURLSetting = setting{"LINKDESK_DATABASE_URL", "database-url", "", "PostgreSQL URL (postgres://USER:PASSWORD@HOST:5432/DB?sslmode=verify-full) to keep the data in instead of LINKDESK_DB; several Linkdesk instances may share one (README, Several instances)"}

// databaseOf is the database a command opens: LINKDESK_DATABASE_URL when
// set, else the SQLite file LINKDESK_DB. The error names the setting.
func databaseOf(m map[string]string) (string, error) {
	if u := m["LINKDESK_DATABASE_URL"]; u != "" {
		if !db.IsPostgresURL(u) {
			return "", errors.New("LINKDESK_DATABASE_URL: want a postgres:// or postgresql:// URL")
		}
		return u, nil
	}
	if m["LINKDESK_DB"] == "" {
		return "", errors.New("LINKDESK_DB: must not be empty")
	}
	return m["LINKDESK_DB"], nil
}

// config is the parsed, validated configuration of `linkdesk serve`.
type config struct {
	Addr string
	// DB is what db.Open takes: the PostgreSQL URL, else the SQLite file.
	DB      string
	BaseURL string
	// LaunchBaseURL is the origin of launch pages; "" means BaseURL.
	LaunchBaseURL string
	// MetricsAddr is the listener of /metrics; "" means the main one.
	MetricsAddr string
	// Keys are the keys of keySpecs by variable, newest first; a key not
	// set (emulator mode) has none.
	Keys map[string][]string
	// SessionKeys and EncryptionKeys are Keys parsed, newest first.
	SessionKeys    [][2][]byte
	EncryptionKeys [][]byte
	// AuditKeys are LINKDESK_AUDIT_KEY parsed, newest first; AuditAnchor
	// the anchor file (cmd_audit.go).
	AuditKeys        [][]byte
	AuditAnchor      string
	AdminEmail       string
	AdminPassword    string
	LogFormat        string
	LogLevel         string
	PinwheelMode     pinwheel.Mode
	PinwheelSecret   string
	PinwheelVersion  string
	SandboxState     string
	WebhookTolerance time.Duration
	LinkLifetime     time.Duration
	Demo             bool
	// EmulatorRateLimit is the emulator's requests per second per secret;
	// negative is no limit.
	EmulatorRateLimit float64
	// baseURLDefault is set when BaseURL was derived from Addr; serve then
	// uses the address it actually listens on (port 0 picks a free port).
	baseURLDefault bool
	// now is the clock of the Store, the handlers and the emulator; nil
	// means time.Now. Only tests set it (no flag or variable), so that a
	// browser test can move time past an alert rule's window.
	now func() time.Time
}

// settingsHeader opens every settings table in --help output; a test
// checks that every subcommand prints its settings this way.
const settingsHeader = "Settings (flag, environment variable, default, meaning):"

// printSettings writes the settings table of --help: per setting, one line
// with the flag, the variable ("-" for a flag only) and the default, then
// its meaning, indented.
func printSettings(w io.Writer, list []setting) {
	fmt.Fprintln(w, settingsHeader)
	for _, s := range list {
		env, def := s.env, s.def
		if env == "" {
			env = "-"
		}
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  --%-20s %-28s default %s\n      %s\n", s.flag, env, def, s.help)
	}
}

// parseSettings reads settings from args and getenv into a map keyed by
// setting.key. It prints usage and the settings table on -h/--help and
// returns flag.ErrHelp.
func parseSettings(name, usage string, list []setting, args []string, getenv func(string) string, out io.Writer) (map[string]string, error) {
	m, _, err := parseCommand(name, usage, list, 0, args, getenv, out)
	return m, err
}

// parseCommand is parseSettings for a command that also takes up to nargs
// positional arguments (an email), before, between or after the flags.
func parseCommand(name, usage string, list []setting, nargs int, args []string, getenv func(string) string, out io.Writer) (map[string]string, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	vals := map[string]*settingValue{}
	for _, s := range list {
		v := &settingValue{s: s.def, isBool: s.isSwitch()}
		if s.env != "" {
			if e := getenv(s.env); e != "" {
				v.s = e
			}
		}
		vals[s.key()] = v
		fs.Var(v, s.flag, s.help)
	}
	fs.Usage = func() {
		fmt.Fprintf(out, "%s\n\n", usage)
		printSettings(out, list)
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	if len(pos) > nargs {
		return nil, nil, fmt.Errorf("unexpected argument %q", pos[nargs])
	}
	m := map[string]string{}
	for k, v := range vals {
		m[k] = strings.TrimSpace(v.s)
	}
	return m, pos, nil
}

// settingValue is a setting's flag.Value: a string, or a switch that
// "--flag" alone turns on.
type settingValue struct {
	s      string
	isBool bool
}

func (v *settingValue) String() string { return v.s }

func (v *settingValue) Set(s string) error {
	if v.isBool {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("want true or false")
		}
		s = strconv.FormatBool(b)
	}
	v.s = s
	return nil
}

func (v *settingValue) IsBoolFlag() bool { return v.isBool }

// settingInt reads m[key] as a whole number in [lo, hi]; the error names
// the setting.
func settingInt(m map[string]string, key string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(m[key])
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s: want a whole number from %d to %d, got %q", key, lo, hi, m[key])
	}
	return n, nil
}

// settingUint reads m[key] as an unsigned 64-bit number.
func settingUint(m map[string]string, key string) (uint64, error) {
	n, err := strconv.ParseUint(m[key], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: want a whole number of 0 or more, got %q", key, m[key])
	}
	return n, nil
}

// settingDuration reads m[key] as a duration in [lo, hi].
func settingDuration(m map[string]string, key string, lo, hi time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(m[key])
	if err != nil || d < lo || d > hi {
		return 0, fmt.Errorf("%s: want a duration from %s to %s such as 10s, got %q", key, lo, hi, m[key])
	}
	return d, nil
}

// settingBool reads a switch.
func settingBool(m map[string]string, key string) (bool, error) {
	b, err := strconv.ParseBool(m[key])
	if err != nil {
		return false, fmt.Errorf("%s: want true or false, got %q", key, m[key])
	}
	return b, nil
}

// loadConfig validates settings; every error names its variable.
func loadConfig(m map[string]string) (config, error) {
	c := config{
		Addr: m["LINKDESK_ADDR"], BaseURL: strings.TrimRight(m["LINKDESK_BASE_URL"], "/"),
		LaunchBaseURL: strings.TrimRight(m["LINKDESK_LAUNCH_BASE_URL"], "/"), MetricsAddr: m["LINKDESK_METRICS_ADDR"],
		AdminEmail: m["LINKDESK_ADMIN_EMAIL"], AdminPassword: m["LINKDESK_ADMIN_PASSWORD"],
		LogFormat: m["LINKDESK_LOG_FORMAT"], LogLevel: m["LINKDESK_LOG_LEVEL"], PinwheelMode: pinwheel.Mode(m["LINKDESK_PINWHEEL_MODE"]),
		PinwheelSecret: m["LINKDESK_PINWHEEL_SECRET"], PinwheelVersion: m["LINKDESK_PINWHEEL_VERSION"], SandboxState: m["LINKDESK_SANDBOX_STATE"],
	}
	var errs []error
	bad := func(env, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{env}, a...)...))
	}
	if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
		bad("LINKDESK_ADDR", "want host:port, got %q", c.Addr)
	}
	if d, err := databaseOf(m); err != nil {
		errs = append(errs, err)
	} else {
		c.DB = d
	}
	if c.BaseURL == "" {
		c.BaseURL, c.baseURLDefault = "http://"+c.Addr, true
	} else if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("LINKDESK_BASE_URL", "want an absolute http or https URL, got %q", c.BaseURL)
	}
	if c.LaunchBaseURL != "" {
		if u, err := url.Parse(c.LaunchBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			bad("LINKDESK_LAUNCH_BASE_URL", "want an absolute http or https URL of a host, without a path, got %q", c.LaunchBaseURL)
		} else if b, err := url.Parse(c.BaseURL); err == nil && strings.EqualFold(b.Hostname(), u.Hostname()) {
			// Another port is another origin, but cookies ignore ports.
			bad("LINKDESK_LAUNCH_BASE_URL", "must name another host than LINKDESK_BASE_URL (%s): launch pages need a host of their own", b.Hostname())
		}
	}
	if c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil || port == "" {
			bad("LINKDESK_METRICS_ADDR", "want host:port, got %q", c.MetricsAddr)
		}
	}
	emulator := pinwheel.Mode(m["LINKDESK_PINWHEEL_MODE"]) == pinwheel.ModeEmulator
	c.Keys = map[string][]string{}
	for _, k := range keySpecs {
		keys, err := loadKey(m, k)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(keys) == 0 && k.generated != "" && !emulator {
			bad(k.env, "required outside emulator mode: set it, or %s to a key file (linkdesk keys new prints fresh keys)", k.fileEnv())
		}
		c.Keys[k.env] = keys
	}
	c.SessionKeys, _ = sessionKeyPairs(c.Keys["LINKDESK_SESSION_KEYS"])
	c.EncryptionKeys = encryptionKeys(c.Keys["LINKDESK_ENCRYPTION_KEY"])
	c.AuditKeys, c.AuditAnchor = auditKeysOf(c.Keys["LINKDESK_AUDIT_KEY"]), m["LINKDESK_AUDIT_ANCHOR"]
	if c.AdminPassword != "" && len([]rune(c.AdminPassword)) < db.MinPasswordLen {
		bad("LINKDESK_ADMIN_PASSWORD", "use at least %d characters", db.MinPasswordLen)
	}
	if c.AdminEmail == "" {
		c.AdminEmail = "admin@linkdesk.local"
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("LINKDESK_LOG_FORMAT", "want text or json, got %q", c.LogFormat)
	}
	if !oneOf(c.LogLevel, "debug", "info", "warn", "error") {
		bad("LINKDESK_LOG_LEVEL", "want debug, info, warn or error, got %q", c.LogLevel)
	}
	switch c.PinwheelMode {
	case pinwheel.ModeEmulator:
	case pinwheel.ModeSandbox, pinwheel.ModeDevelopment, pinwheel.ModeProduction:
		if c.PinwheelSecret == "" {
			bad("LINKDESK_PINWHEEL_SECRET", "required in %s mode", c.PinwheelMode)
		}
	default:
		bad("LINKDESK_PINWHEEL_MODE", "want emulator, sandbox, development or production, got %q", c.PinwheelMode)
	}
	if !oneOf(c.PinwheelVersion, pinwheel.Version20231122, pinwheel.Version20250708) {
		bad("LINKDESK_PINWHEEL_VERSION", "want %s or %s, got %q", pinwheel.Version20231122, pinwheel.Version20250708, c.PinwheelVersion)
	}
	if c.PinwheelMode == pinwheel.ModeEmulator && c.SandboxState == "" {
		bad("LINKDESK_SANDBOX_STATE", "must not be empty in emulator mode")
	}
	d, err := time.ParseDuration(m["LINKDESK_WEBHOOK_TOLERANCE"])
	if err != nil || d <= 0 || d > 24*time.Hour {
		bad("LINKDESK_WEBHOOK_TOLERANCE", "want a duration between 1s and 24h such as 5m, got %q", m["LINKDESK_WEBHOOK_TOLERANCE"])
	}
	c.WebhookTolerance = d
	ll, err := time.ParseDuration(m["LINKDESK_LINK_LIFETIME"])
	if err != nil || ll < time.Hour || ll > 90*24*time.Hour {
		bad("LINKDESK_LINK_LIFETIME", "want a duration between 1h and 2160h (90 days) such as 168h, got %q", m["LINKDESK_LINK_LIFETIME"])
	}
	c.LinkLifetime = ll
	switch m["LINKDESK_DEMO"] {
	case "on", "true", "1":
		c.Demo = true
	case "off", "false", "0":
	default:
		bad("LINKDESK_DEMO", "want on or off, got %q", m["LINKDESK_DEMO"])
	}
	switch v := m["LINKDESK_EMULATOR_RATE_LIMIT"]; v {
	case "off", "0":
		c.EmulatorRateLimit = -1
	default:
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || !(n >= 0.1 && n <= 100000) { // also refuses NaN
			bad("LINKDESK_EMULATOR_RATE_LIMIT", "want requests per second between 0.1 and 100000, or off, got %q", v)
		}
		c.EmulatorRateLimit = n
	}
	return c, errors.Join(errs...)
}

func oneOf(v string, set ...string) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}
