package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
)

// helpOf runs `linkdesk ARGS` and returns what it printed on stdout; --help
// may end in flag.ErrHelp (main exits 0 on it) or nil.
func helpOf(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, func(string) string { return "" }, &out, io.Discard)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("linkdesk %s: %v", strings.Join(args, " "), err)
	}
	return out.String()
}

var (
	settingLine = regexp.MustCompile(`^  --(\S+)\s+(LINKDESK_[A-Z_]+|-)\s+default (\S.*)$`)
	meaningLine = regexp.MustCompile(`^      \S`)
	// goFlagLine is how Go's flag.PrintDefaults starts a flag ("  -name").
	goFlagLine = regexp.MustCompile(`(?m)^  -[a-z]`)
)

// settingTables parses every settings table of a --help output into the
// flags it lists, and fails on any line of a table that is not in the
// format: a line per setting with flag, variable (or -) and default, then
// its meaning indented.
func settingTables(t *testing.T, name, out string) []string {
	t.Helper()
	lines := strings.Split(out, "\n")
	var flags []string
	tables := 0
	for i := 0; i < len(lines); i++ {
		if lines[i] != settingsHeader {
			continue
		}
		tables++
		for i+1 < len(lines) && lines[i+1] != "" {
			m := settingLine.FindStringSubmatch(lines[i+1])
			if m == nil || i+2 >= len(lines) || !meaningLine.MatchString(lines[i+2]) {
				t.Errorf("%s: line %d not in the settings format:\n%s", name, i+2, strings.Join(lines[i+1:min(i+3, len(lines))], "\n"))
				break
			}
			flags = append(flags, m[1])
			i += 2
		}
	}
	if tables == 0 {
		t.Errorf("%s: no %q table in:\n%s", name, settingsHeader, out)
	}
	if goFlagLine.MatchString(out) {
		t.Errorf("%s: Go's default flag layout in:\n%s", name, out)
	}
	return flags
}

// TestHelp_OneStyle checks that every subcommand's --help prints its
// settings as the one table (flag, variable, default, meaning), listing
// every flag it accepts; loadgen and staff list each of their commands.
func TestHelp_OneStyle(t *testing.T) {
	wantFlags := func(list []setting) []string {
		var out []string
		for _, s := range list {
			out = append(out, s.flag)
		}
		return out
	}
	type tc struct {
		args  []string
		flags []string
	}
	cases := []tc{
		{[]string{"--help"}, wantFlags(serveSettings)},
		{[]string{"serve", "--help"}, wantFlags(serveSettings)},
		{[]string{"sandbox", "--help"}, wantFlags(sandboxSettings)},
		{[]string{"seed", "--help"}, wantFlags(seedSettings)},
		{[]string{"audit", "verify", "--help"}, wantFlags(auditVerifySettings)},
		{[]string{"audit", "--help"}, wantFlags(auditVerifySettings)},
		{[]string{"evidence", "verify", "--help"}, wantFlags(evidenceVerifySettings)},
		{[]string{"evidence", "--help"}, wantFlags(evidenceVerifySettings)},
		{[]string{"migrate-db", "--help"}, wantFlags(migrateSettings)},
	}
	var allLoads, allStaff []string
	for _, l := range loadgenLoads {
		cases = append(cases, tc{[]string{"loadgen", l.name, "--help"}, wantFlags(l.settings)})
		allLoads = append(allLoads, wantFlags(l.settings)...)
	}
	cases = append(cases, tc{[]string{"loadgen", "--help"}, allLoads})
	for _, sc := range staffSubcommands() {
		cases = append(cases, tc{[]string{"staff", sc.name, "--help"}, wantFlags(sc.settings)})
		allStaff = append(allStaff, wantFlags(sc.settings)...)
	}
	cases = append(cases, tc{[]string{"staff", "--help"}, allStaff})
	var allKeys []string
	for _, sc := range keysSubcommands() {
		cases = append(cases, tc{[]string{"keys", sc.name, "--help"}, wantFlags(sc.settings)})
		allKeys = append(allKeys, wantFlags(sc.settings)...)
	}
	cases = append(cases, tc{[]string{"keys", "--help"}, allKeys})

	covered := map[string]bool{}
	for _, c := range cases {
		name := "linkdesk " + strings.Join(c.args, " ")
		out := helpOf(t, c.args...)
		got := settingTables(t, name, out)
		if strings.Join(got, " ") != strings.Join(c.flags, " ") {
			t.Errorf("%s lists flags %v, want %v", name, got, c.flags)
		}
		covered[c.args[0]] = true
	}
	for _, c := range commands() {
		if !covered[c.name] {
			t.Errorf("command %s has no --help case here", c.name)
		}
	}

	loadHelp := helpOf(t, "loadgen", "--help")
	for _, l := range loadgenLoads {
		if !strings.Contains(loadHelp, "linkdesk loadgen "+l.name) {
			t.Errorf("loadgen --help does not list %s:\n%s", l.name, loadHelp)
		}
	}
	staffHelp := helpOf(t, "staff", "--help")
	for _, sc := range staffSubcommands() {
		if !strings.Contains(staffHelp, "linkdesk staff "+sc.name) {
			t.Errorf("staff --help does not list %s:\n%s", sc.name, staffHelp)
		}
	}
}

// TestHelp_BadValuesNameTheFlag: typed flags of seed and loadgen refuse
// bad values with the flag's name (and the variable's, when there is one).
func TestHelp_BadValuesNameTheFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"seed", "--db", t.TempDir() + "/x.db", "--events", "many"}, "--events"},
		{[]string{"seed"}, "LINKDESK_DB"},
		{[]string{"loadgen", "webhooks", "--secret", "s", "--duration", "forever"}, "--duration"},
		{[]string{"loadgen", "webhooks", "--secret", "s", "--rate", "-1"}, "--rate"},
		{[]string{"loadgen", "webhooks"}, "LINKDESK_PINWHEEL_SECRET"},
		{[]string{"loadgen", "bare", "--allow-remote"}, "allow-remote"},
		{[]string{"staff", "list", "extra"}, `unexpected argument "extra"`},
	} {
		err := run(context.Background(), tc.args, func(string) string { return "" }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("linkdesk %s: got %v, want an error naming %s", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// settingsMarkdown is the README's table of a settings list.
func settingsMarkdown(list []setting) string {
	var b strings.Builder
	b.WriteString("| flag | variable | default | meaning |\n|---|---|---|---|\n")
	for _, s := range list {
		env, def := "—", "—"
		if s.env != "" {
			env = "`" + s.env + "`"
		}
		if s.def != "" {
			def = "`" + s.def + "`"
		}
		b.WriteString("| `--" + s.flag + "` | " + env + " | " + def + " | " + strings.ReplaceAll(s.help, "|", `\|`) + " |\n")
	}
	return b.String()
}

// TestREADME_SettingsMatchHelp checks that the README's settings tables
// say what --help says, word for word (the encryption key's scope
// included).
func TestREADME_SettingsMatchHelp(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	tables := map[string][]setting{"serve": serveSettings}
	for _, sc := range staffSubcommands() {
		if sc.name == "create" { // its flags are every staff command's: --db and the new person's
			tables["staff"] = sc.settings
		}
	}
	for name, list := range tables {
		if want := settingsMarkdown(list); !strings.Contains(string(readme), want) {
			t.Errorf("README.md lacks the %s settings table as --help has it; want:\n%s", name, want)
		}
	}
	if !strings.Contains(string(readme), encryptionKeyHelp) {
		t.Errorf("README.md does not state the encryption key's scope as --help does: %q", encryptionKeyHelp)
	}
}
