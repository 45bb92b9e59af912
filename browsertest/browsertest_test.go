package browsertest

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

// fakeTB records how Chromium ends a test instead of ending this one.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

func (f *fakeTB) Helper()      {}
func (f *fakeTB) Name() string { return "TestBrowser_Example" }
func (f *fakeTB) Fatalf(format string, a ...any) {
	f.fatal = fmt.Sprintf(format, a...)
	runtime.Goexit()
}
func (f *fakeTB) Skip(a ...any) {
	f.skip = fmt.Sprint(a...)
	runtime.Goexit()
}

// call runs Chromium on a fake test in its own goroutine (Fatal and Skip
// end it with Goexit, as testing does).
func call(f *fakeTB) string {
	var path string
	done := make(chan struct{})
	go func() {
		defer close(done)
		path = Chromium(f)
	}()
	<-done
	return path
}

type captured struct{ strings.Builder }

func (c *captured) Close() error { return nil }

// TestChromium_Missing: without chromium on PATH the test skips with one
// line written to the terminal (plain `go test` hides t.Skip), or fails
// under REQUIRE_BROWSER=1.
func TestChromium_Missing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	var term captured
	orig := openTerminal
	openTerminal = func() (io.WriteCloser, error) { return &term, nil }
	defer func() { openTerminal = orig }()

	t.Setenv("REQUIRE_BROWSER", "")
	f := &fakeTB{}
	call(f)
	want := SkipLine("TestBrowser_Example")
	if f.skip != want || f.fatal != "" {
		t.Errorf("without REQUIRE_BROWSER: skip %q, fatal %q; want skip %q", f.skip, f.fatal, want)
	}
	if !testing.Verbose() && term.String() != want+"\n" {
		t.Errorf("terminal got %q, want the one line %q", term.String(), want)
	}

	t.Setenv("REQUIRE_BROWSER", "1")
	f = &fakeTB{}
	call(f)
	if f.skip != "" || !strings.Contains(f.fatal, "REQUIRE_BROWSER=1") {
		t.Errorf("with REQUIRE_BROWSER=1: skip %q, fatal %q; want a failure", f.skip, f.fatal)
	}
}
