package pii

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"linkdesk/db"
)

// nested is a JSON document of depth levels of arrays around an object,
// padded to about size bytes, so that documents of one size and different
// depths can be compared.
func nested(depth, size int) []byte {
	inner := `{"account_number": "123456789", "note": "` + strings.Repeat("x", max(0, size-2*depth-50)) + `"}`
	return []byte(strings.Repeat("[", depth) + inner + strings.Repeat("]", depth))
}

// TestRender_LinearInDepth is the regression test of the quadratic
// pretty-printer: a document's rendering costs (in bytes written and bytes
// allocated) in proportion to its size, whatever its depth.
func TestRender_LinearInDepth(t *testing.T) {
	const size = 18 << 10
	var first float64
	for _, depth := range []int{1, 12, 100, 1000, 5000, 20000} {
		raw := nested(depth, size)
		d := Render(raw, db.RoleAdmin, 1<<30)
		if !d.OK || d.Truncated {
			t.Fatalf("depth %d: ok %v truncated %v: %.80s", depth, d.OK, d.Truncated, d.Text)
		}
		if depth > IndentLevels != d.Flattened {
			t.Errorf("depth %d: flattened %v", depth, d.Flattened)
		}
		if depth <= 10000 && !json.Valid([]byte(d.Text)) { // json.Valid stops at 10,000 levels
			t.Errorf("depth %d: output is not JSON", depth)
		}
		if strings.Contains(d.Text, "123456789") {
			t.Errorf("depth %d: account number not masked", depth)
		}
		// Each level adds at most a newline and 2×IndentLevels spaces
		// before its bracket and before its closing bracket.
		if limit := len(raw) + 2*depth*(1+2*IndentLevels) + 256; len(d.Text) > limit {
			t.Errorf("depth %d: %d bytes of text for %d of input, want at most %d", depth, len(d.Text), len(raw), limit)
		}
		allocated := allocatedBytes(func() { Render(raw, db.RoleAdmin, 1<<30) })
		if depth == 1 {
			first = allocated
		}
		t.Logf("depth %5d: input %6d bytes, text %7d bytes, allocated %8.0f bytes", depth, len(raw), len(d.Text), allocated)
		// Per token the decoder allocates a little; a document of 5,000
		// levels has 10,000 more tokens than one of 1. The bound is linear
		// in the input: 64 bytes per input byte.
		if allocated > 64*float64(len(raw)) {
			t.Errorf("depth %d: allocated %.0f bytes for %d of input", depth, allocated, len(raw))
		}
	}
	if first == 0 {
		t.Fatal("nothing measured")
	}
}

// allocatedBytes is the bytes f allocates, averaged over a few runs (no
// other goroutine of this package allocates meanwhile).
func allocatedBytes(f func()) float64 {
	const runs = 5
	f()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return float64(after.TotalAlloc-before.TotalAlloc) / runs
}

func TestRender_Cap(t *testing.T) {
	raw := nested(3, 200<<10)
	d := Render(raw, db.RoleAuditor, CapEntry)
	if !d.OK || !d.Truncated || d.Size != len(raw) {
		t.Fatalf("ok %v truncated %v size %d", d.OK, d.Truncated, d.Size)
	}
	if len(d.Text) > CapEntry+8 {
		t.Errorf("text of %d bytes over the cap %d", len(d.Text), CapEntry)
	}
	line := RenderLine(raw, db.RoleAuditor, CapCell)
	if !line.Truncated || len(line.Text) > CapCell+8 || strings.Contains(line.Text, "\n") {
		t.Errorf("line: truncated %v, %d bytes", line.Truncated, len(line.Text))
	}
	small := Render([]byte(`{"a": 1}`), db.RoleAdmin, CapEntry)
	if small.Truncated || small.Text != "{\n  \"a\": 1\n}" {
		t.Errorf("small: %+v", small)
	}
}

// CapCell mirrors views.CapCell for the test above.
const CapCell = 1 << 10

func TestRender_NotJSON(t *testing.T) {
	for _, raw := range []string{"", "{", `{"a": 1} {"b": 2}`, "not json", "[[[[]]]"} {
		d := Render([]byte(raw), db.RoleAdmin, CapPage)
		if d.OK || d.Text != notShown {
			t.Errorf("%.20q: %+v", raw, d)
		}
		if err := WriteCompact(&bytes.Buffer{}, []byte(raw), db.RoleAdmin); err == nil {
			t.Errorf("%.20q: WriteCompact accepted it", raw)
		}
	}
}

func TestWriteCompact(t *testing.T) {
	raw := `{"b": [1, 2.50, {"account_number": 123456789, "s": "line\nbreak \u2028 \"q\" <b>"}], "emails": ["a@example.com"], "n": null}`
	var buf bytes.Buffer
	if err := WriteCompact(&buf, []byte(raw), db.RoleAuditor); err != nil {
		t.Fatal(err)
	}
	want := `{"b":[1,2.50,{"account_number":"••6789","s":"line\nbreak \u2028 \"q\" <b>"}],"emails":["•••"],"n":null}`
	if buf.String() != want {
		t.Errorf("got  %s\nwant %s", buf.String(), want)
	}
}

// FuzzRender checks the renderer on any input: it never panics, its text
// stays under the cap, its cost in proportion to the input, and what it
// renders in full is JSON again.
func FuzzRender(f *testing.F) {
	for _, s := range []string{
		`{"a": 1}`, `[]`, `"x"`, `{"account_number": "123456789", "emails": ["a@b.c"], "x": {"ssn": 123456789}}`,
		string(nested(40, 200)), `{"a": "\u2028\u0000\ud800"}`, `[1e999, -0, 0.1]`, `{"a":`, "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, role := range []string{db.RoleAdmin, db.RoleAuditor} {
			d := Render(raw, role, 512)
			if len(d.Text) > 512+len(" …") {
				t.Fatalf("text of %d bytes over the cap", len(d.Text))
			}
			if d.OK && !d.Truncated && !json.Valid([]byte(d.Text)) {
				t.Fatalf("rendered text is not JSON: %q", d.Text)
			}
			full := Render(raw, role, 1<<30)
			if len(full.Text) > 40*len(raw)+len(notShown) {
				t.Fatalf("%d bytes of text for %d of input", len(full.Text), len(raw))
			}
			var buf bytes.Buffer
			if err := WriteCompact(&buf, raw, role); err == nil {
				if !json.Valid(buf.Bytes()) {
					t.Fatalf("compact output is not JSON: %q", buf.String())
				}
				// A mask ("•••", 11 bytes with quotes) may replace a
				// one-digit value; a byte of invalid UTF-8 becomes U+FFFD.
				if buf.Len() > 12*len(raw)+16 {
					t.Fatalf("compact: %d bytes for %d", buf.Len(), len(raw))
				}
				if !full.OK {
					t.Fatalf("WriteCompact accepted what Render refused")
				}
			}
		}
	})
}
