package sandbox

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// kv is one key of an ordered JSON object.
type kv struct {
	K string
	V any
}

// obj is a JSON object whose keys keep their order when encoded. Webhook
// bodies are built from it so that key order matches real deliveries.
type obj []kv

// get returns the value of key k, or nil.
func (o obj) get(k string) any {
	for _, e := range o {
		if e.K == k {
			return e.V
		}
	}
	return nil
}

// jsonStyle is how a Python JSON encoder was configured.
type jsonStyle struct {
	itemSep, keySep string
	asciiOnly       bool
}

var (
	// webhookStyle is json.dumps with its defaults, as the recorded webhook
	// bodies show (docs/pinwheel.md#webhook-delivery): separators ", " and
	// ": ", non-ASCII as \uXXXX escapes.
	webhookStyle = jsonStyle{itemSep: ", ", keySep: ": ", asciiOnly: true}
	// apiStyle is the recorded API responses' encoder (FastAPI's
	// JSONResponse: separators "," and ":", UTF-8 kept as is).
	apiStyle = jsonStyle{itemSep: ",", keySep: ":"}
)

// rawJSON is already-encoded JSON (in apiStyle) embedded as is.
type rawJSON []byte

// pyJSON encodes v the way Python's json.dumps does with its defaults:
// separators ", " and ": ", ensure_ascii (non-ASCII as \uXXXX escapes), nulls
// kept, floats in repr form ("10.0"). Real Pinwheel deliveries are produced by
// Python, so this keeps emulated bodies byte-similar to them.
func pyJSON(v any) []byte { return encodeJSON(v, webhookStyle) }

// apiJSON encodes v like the API's responses: compact, UTF-8, numbers as
// Python writes them (an int as 1, a float as 1.0; docs/pinwheel.md#numbers).
func apiJSON(v any) []byte { return encodeJSON(v, apiStyle) }

// encodeJSON encodes v in style. Supported values: nil, bool, string, int,
// int64, float64 (Python float repr), time.Time (a Pinwheel timestamp
// string), obj, []obj, []any, []string, map[string]string (sorted keys) and
// rawJSON (apiStyle only).
func encodeJSON(v any, st jsonStyle) []byte {
	var b strings.Builder
	writePy(&b, v, st)
	return []byte(b.String())
}

func writePy(b *strings.Builder, v any, st jsonStyle) {
	str := func(s string) { writePyString(b, s, st.asciiOnly) }
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case string:
		str(x)
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		b.WriteString(pyFloat(x))
	case time.Time:
		str(formatTime(x))
	case rawJSON:
		b.Write(x)
	case obj:
		b.WriteByte('{')
		for i, e := range x {
			if i > 0 {
				b.WriteString(st.itemSep)
			}
			str(e.K)
			b.WriteString(st.keySep)
			writePy(b, e.V, st)
		}
		b.WriteByte('}')
	case []obj:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(st.itemSep)
			}
			writePy(b, e, st)
		}
		b.WriteByte(']')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(st.itemSep)
			}
			writePy(b, e, st)
		}
		b.WriteByte(']')
	case []string:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(st.itemSep)
			}
			str(e)
		}
		b.WriteByte(']')
	case map[string]string:
		keys := sortedKeys(x)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(st.itemSep)
			}
			str(k)
			b.WriteString(st.keySep)
			str(x[k])
		}
		b.WriteByte('}')
	default:
		panic(fmt.Sprintf("sandbox: encodeJSON: unsupported type %T", v))
	}
}

// pyFloat formats f like Python's float repr.
func pyFloat(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return "null"
	}
	abs := math.Abs(f)
	if f == 0 || (abs >= 1e-4 && abs < 1e16) {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(s, "e")
	sign := exp[0]
	digits := strings.TrimLeft(exp[1:], "0")
	if len(digits) < 2 {
		digits = strings.Repeat("0", 2-len(digits)) + digits
	}
	return mant + "e" + string(sign) + digits
}

const hexDigits = "0123456789abcdef"

// writePyString writes s as Python's json module does: with asciiOnly
// (ensure_ascii) every non-ASCII character becomes \uXXXX (surrogate pairs
// above U+FFFF); without it only quotes, backslashes and control characters
// are escaped.
func writePyString(b *strings.Builder, s string, asciiOnly bool) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || (asciiOnly && r > 0x7e):
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				writeU(b, r1)
				writeU(b, r2)
			} else {
				writeU(b, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

func writeU(b *strings.Builder, r rune) {
	b.WriteString(`\u`)
	b.WriteByte(hexDigits[(r>>12)&0xf])
	b.WriteByte(hexDigits[(r>>8)&0xf])
	b.WriteByte(hexDigits[(r>>4)&0xf])
	b.WriteByte(hexDigits[r&0xf])
}

// formatTime renders t the way Pinwheel does: UTC, microseconds, "+00:00".
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000") + "+00:00"
}

// formatDate renders the date part of t as YYYY-MM-DD.
func formatDate(t time.Time) string { return t.UTC().Format(time.DateOnly) }
