// Package browsertest finds Debian's chromium for the browser tests, and
// makes its absence impossible to miss: a test that skips for want of it
// prints one line that plain `go test ./...` shows (t.Skip's message
// appears only with -v), and under REQUIRE_BROWSER=1 (set by .ci/run) the
// test fails instead of skipping. It is a separate package only so that the
// browser tests of main and of pinwheel/sandbox share it; nothing but tests
// imports it.
package browsertest

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"
)

// Install is the command that provides the browser.
const Install = "apt-get install -y chromium"

// Chromium returns the path of the chromium binary. Without one it fails
// the test when REQUIRE_BROWSER=1, and otherwise announces the skip and
// skips.
func Chromium(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err == nil {
		return path
	}
	if os.Getenv("REQUIRE_BROWSER") == "1" {
		t.Fatalf("chromium is required (REQUIRE_BROWSER=1) but not installed: %s", Install)
	}
	msg := SkipLine(t.Name())
	if !testing.Verbose() {
		announce(msg)
	}
	t.Skip(msg)
	return ""
}

// SkipLine is the one line a skipped browser test prints.
func SkipLine(test string) string {
	return fmt.Sprintf("SKIP %s: browser test needs chromium (%s; REQUIRE_BROWSER=1 makes this a failure)", test, Install)
}

// announce shows msg although the test passes without -v. `go test ./...`
// buffers a test binary's stdout and stderr and, for a passing package
// without -v, throws them away; only the terminal itself reaches the
// person running the tests. Without a terminal (CI, a pipe) the line goes
// to stderr, which `go test` shows when run in a package directory without
// arguments, or when the package fails.
func announce(msg string) {
	var w io.Writer = os.Stderr
	if tty, err := openTerminal(); err == nil {
		defer tty.Close()
		w = tty
	}
	fmt.Fprintln(w, msg)
}

// openTerminal opens the controlling terminal; tests replace it.
var openTerminal = func() (io.WriteCloser, error) { return os.OpenFile("/dev/tty", os.O_WRONLY, 0) }
