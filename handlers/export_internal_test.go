package handlers

import "testing"

func TestCSVCell(t *testing.T) {
	for in, want := range map[string]string{
		"-12.5": "-12.5", "+3": "+3", "1e5": "1e5", "-": "'-", "=1": "'=1", "@x": "'@x", "\t1": "'\t1", "\r1": "'\r1",
		"-1+1": "'-1+1", "a=b": "a=b", "": "", "=HYPERLINK(\"x\")": "'=HYPERLINK(\"x\")",
	} {
		if got := csvCell(in); got != want {
			t.Errorf("csvCell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExportLimiter(t *testing.T) {
	l := newExportLimiter()
	var releases []func()
	for range exportsPerPerson {
		r, ok := l.acquire(1)
		if !ok {
			t.Fatal("refused within the per-person limit")
		}
		releases = append(releases, r)
	}
	if _, ok := l.acquire(1); ok {
		t.Error("a third download of one person was allowed")
	}
	r, ok := l.acquire(2)
	if !ok {
		t.Error("another person was refused")
	}
	r()
	r() // twice changes nothing
	releases[0]()
	if _, ok := l.acquire(1); !ok {
		t.Error("a released place was not given back")
	}
	for i := int64(10); i < 10+exportsAtOnce; i++ {
		l.acquire(i)
	}
	if _, ok := l.acquire(99); ok {
		t.Error("the process limit was not applied")
	}
}
