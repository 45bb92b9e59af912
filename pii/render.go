package pii

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"unicode/utf8"
)

// Rendering stored JSON. Every page, download and stream that shows a JSON
// document Linkdesk stored (webhook bodies, rejected deliveries, launch
// events, data snapshots, audit details) goes through Render or
// WriteCompact, so the masks of the policy always apply and the cost
// stays in proportion to the input:
//
//   - one pass over the tokens, each written once: time and output are
//     linear in the input. Indentation stops growing at IndentLevels (deeper
//     levels continue on the line of their parent), so a deeply nested
//     document cannot multiply its size by its depth the way a plain
//     pretty-printer does (2 spaces × depth on every line: a 60 KB body of
//     nested arrays became 1.8 GB);
//   - a hard cap on the output (Render's max): past it the text stops, the
//     result says Truncated, and the page offers the whole document as a
//     download (WriteCompact, one line, no indentation at all);
//
// Intake refuses what no real Pinwheel body needs (db.MaxWebhookDepth,
// db.MaxLaunchDepth), but rows stored before those limits, or by a future
// path that forgets them, still render within these bounds.

// IndentLevels is the deepest nesting level that gets its own indentation;
// deeper values are written compactly on their parent's line.
const IndentLevels = 16

// Default caps of rendered text, by where it is shown.
const (
	// CapPage is the cap of a document that is the page's subject (an
	// event's body).
	CapPage = 256 << 10
	// CapPanel is the cap of a document in a panel of a larger page (a data
	// snapshot on the account page).
	CapPanel = 64 << 10
	// CapEntry is the cap of a document in a list of many (timeline
	// entries, rejected deliveries, launch events): 50 entries stay under
	// a megabyte.
	CapEntry = 16 << 10
)

// notShown is the text of a document that cannot be masked.
const notShown = "Not valid JSON: not shown, because it cannot be masked."

// Doc is a stored JSON document as a role may see it.
type Doc struct {
	// Text is the masked, indented text (cut at the cap when Truncated),
	// or a sentence saying why nothing is shown.
	Text string
	// OK is false when the input is not a JSON document the masker can
	// read (Text then says so).
	OK bool
	// Truncated says Text stops at the cap; the download has it all.
	Truncated bool
	// Flattened says some values nested deeper than IndentLevels are
	// written on their parent's line.
	Flattened bool
	// Size is the size of the stored document in bytes.
	Size int
}

// Render is raw as role may see it: masked by the policy (hide names more
// keys to mask for every role), indented up to IndentLevels, and at most
// max bytes of text (0 means CapPage). It never fails: a document that is
// not JSON gives OK false and a sentence.
func Render(raw []byte, role string, max int, hide ...string) Doc {
	return render(raw, len(raw), role, max, true, hide)
}

// RenderPrefix is Render of a document of size bytes of which only the
// first ones were read (a list reads a bounded prefix of each stored
// body, see db.BodyPrefix): whatever the prefix holds is shown, and the
// result is Truncated when the document goes on.
func RenderPrefix(prefix []byte, size int, role string, cap int) Doc {
	return render(prefix, max(size, len(prefix)), role, cap, true, nil)
}

// RenderLine is Render on one line (a table cell), cut at max bytes.
func RenderLine(raw []byte, role string, max int) Doc {
	return render(raw, len(raw), role, max, false, nil)
}

func render(raw []byte, size int, role string, max int, pretty bool, hide []string) Doc {
	if max <= 0 {
		max = CapPage
	}
	m := masker{role: role, hide: hide, pretty: pretty, max: max, prefix: size > len(raw)}
	m.out.Grow(min(len(raw)+len(raw)/4, max) + 64)
	err := m.run(raw)
	if err == nil && m.out.Len() > max || err != nil && size > len(raw) && m.out.Len() > 0 {
		err = errCapped // cut here, or the prefix ends before the document
	}
	d := Doc{Size: size, Flattened: m.flattened}
	switch {
	case errors.Is(err, errCapped):
		d.Text, d.OK, d.Truncated = cutRunes(m.out.String(), max)+" …", true, true
	case err != nil:
		d.Text = notShown
	default:
		d.Text, d.OK = m.out.String(), true
	}
	return d
}

// MaskJSON is Render's text with the page cap, for callers that need no
// more than the text; ok is false when raw is not JSON.
func MaskJSON(raw []byte, role string, hide ...string) (text string, ok bool) {
	d := Render(raw, role, CapPage, hide...)
	return d.Text, d.OK
}

// MaskJSONLine is raw masked for role on one line, without a cap (a JSON
// Lines export: its size is in proportion to the stored body, which intake
// bounds). ok is false when raw is not JSON, or nested deeper than
// encoding/json (which writes the export's lines) accepts.
func MaskJSONLine(raw []byte, role string) ([]byte, bool) {
	m := masker{role: role}
	m.out.Grow(len(raw) + 64)
	if err := m.run(raw); err != nil || m.deepest > maxDecoderDepth {
		return nil, false
	}
	return m.out.Bytes(), true
}

// maxDecoderDepth is the deepest nesting encoding/json decodes or
// re-encodes as a json.RawMessage.
const maxDecoderDepth = 10000

// WriteCompact writes raw masked for role on one line (the raw download);
// hide masks more keys for every role. The output is a small multiple of
// the input at worst (a mask may replace a one-digit value, a byte of
// invalid UTF-8 becomes U+FFFD), whatever its shape; nothing is written
// when raw is not JSON.
func WriteCompact(w io.Writer, raw []byte, role string, hide ...string) error {
	m := masker{role: role, hide: hide}
	m.out.Grow(len(raw) + 64)
	if err := m.run(raw); err != nil {
		return err
	}
	_, err := w.Write(m.out.Bytes())
	return err
}

// errCapped stops a render that reached its cap.
var errCapped = errors.New("pii: output cap reached")

// frame is an open object or array; it is small because a deeply nested
// document holds one per level.
type frame struct {
	obj      bool
	nonEmpty bool
	state    frameState
	mode     maskMode
	keyMode  maskMode // the mode of the value after the last key
}

// frameState is what may come next in an open object or array.
type frameState uint8

const (
	firstOrEnd frameState = iota // just opened: a key or value, or the end
	keyNext                      // after a comma in an object
	colonNext                    // after a key
	valueNext                    // after a colon, or a comma in an array
	commaOrEnd                   // after a value
)

// masker rewrites a JSON document token by token, keeping key order,
// masking values by the key they sit under. A container under a masked key
// masks every scalar inside it.
type masker struct {
	role      string
	hide      []string
	pretty    bool
	max       int // 0: no cap
	out       bytes.Buffer
	stack     []frame
	deepest   int
	flattened bool
	prefix    bool // the input is the start of a longer document
}

func (m *masker) newline(depth int) {
	if !m.pretty {
		return
	}
	if depth > IndentLevels {
		m.flattened = true
		return
	}
	m.out.WriteByte('\n')
	for range depth {
		m.out.WriteString("  ")
	}
}

// valueMode is the mode of the next value, or an error when no value may
// stand here; it writes the separator before an array element.
func (m *masker) valueMode() (maskMode, error) {
	if len(m.stack) == 0 {
		return showValue, nil
	}
	top := &m.stack[len(m.stack)-1]
	if top.obj {
		if top.state != valueNext {
			return 0, errSyntax
		}
		top.state = commaOrEnd
		return top.keyMode, nil
	}
	if top.state != firstOrEnd && top.state != valueNext {
		return 0, errSyntax
	}
	top.state = commaOrEnd
	if top.nonEmpty {
		m.out.WriteByte(',')
	}
	m.newline(len(m.stack))
	top.nonEmpty = true
	return top.mode, nil
}

func (m *masker) run(raw []byte) error {
	lex := lexer{b: raw, prefix: m.prefix}
	roots := 0
	for {
		if m.max > 0 && m.out.Len() > m.max {
			return errCapped
		}
		kind, text, err := lex.next()
		if err != nil {
			return err
		}
		if kind == tokEOF {
			break
		}
		if len(m.stack) == 0 {
			if roots++; roots > 1 {
				return errors.New("pii: more than one JSON value")
			}
		}
		var top *frame
		if len(m.stack) > 0 {
			top = &m.stack[len(m.stack)-1]
		}
		switch kind {
		case tokComma:
			if top == nil || top.state != commaOrEnd {
				return errSyntax
			}
			top.state = valueNext
			if top.obj {
				top.state = keyNext
			}
		case tokColon:
			if top == nil || top.state != colonNext {
				return errSyntax
			}
			top.state = valueNext
		case tokEndObject, tokEndArray:
			if top == nil || top.obj != (kind == tokEndObject) || top.state != commaOrEnd && top.state != firstOrEnd {
				return errSyntax
			}
			nonEmpty := top.nonEmpty
			m.stack = m.stack[:len(m.stack)-1]
			if nonEmpty {
				m.newline(len(m.stack))
			}
			if kind == tokEndObject {
				m.out.WriteByte('}')
			} else {
				m.out.WriteByte(']')
			}
		case tokBeginObject, tokBeginArray:
			mode, err := m.valueMode()
			if err != nil {
				return err
			}
			obj := kind == tokBeginObject
			if obj {
				m.out.WriteByte('{')
			} else {
				m.out.WriteByte('[')
			}
			m.stack = append(m.stack, frame{obj: obj, mode: mode})
			m.deepest = max(m.deepest, len(m.stack))
		default:
			if kind == tokString && top != nil && top.obj && (top.state == firstOrEnd || top.state == keyNext) {
				m.key(top, text)
				continue
			}
			mode, err := m.valueMode()
			if err != nil {
				return err
			}
			m.scalar(kind, text, mode)
		}
	}
	if roots == 0 || len(m.stack) > 0 {
		return errors.New("pii: empty or truncated JSON")
	}
	return nil
}

// key writes an object key and decides the mode of its value.
func (m *masker) key(top *frame, key string) {
	if top.nonEmpty {
		m.out.WriteByte(',')
	}
	m.newline(len(m.stack))
	top.nonEmpty = true
	writeString(&m.out, key)
	m.out.WriteByte(':')
	if m.pretty {
		m.out.WriteByte(' ')
	}
	top.state = colonNext
	top.keyMode = max(top.mode, keyMode(key, m.role))
	for _, h := range m.hide {
		if strings.EqualFold(h, key) {
			top.keyMode = maskPII
		}
	}
}

// scalar writes a string, number, true, false or null (text is a string's
// value or a number's literal).
func (m *masker) scalar(kind tokKind, text string, mode maskMode) {
	b := &m.out
	switch kind {
	case tokNull:
		b.WriteString("null")
	case tokTrue:
		b.WriteString("true")
	case tokFalse:
		b.WriteString("false")
	case tokNumber:
		switch mode {
		case maskAccount:
			writeString(b, MaskAccountNumber(text))
		case maskPII:
			writeString(b, Hidden)
		default:
			b.WriteString(text)
		}
	case tokString:
		switch mode {
		case maskAccount:
			writeString(b, MaskAccountNumber(text))
		case maskPII:
			writeString(b, Hidden)
		default:
			if !SeesIdentity(m.role) {
				text = maskSSNLike(text)
			}
			writeString(b, text)
		}
	}
}

const hexDigits = "0123456789abcdef"

// writeString writes s as a JSON string: quotes, backslashes and control
// characters escaped, and U+2028/U+2029 too (they end lines in
// JavaScript); HTML characters stay as they are (templ escapes the page).
func writeString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b.WriteString(s[start:i])
			switch c {
			case '"', '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			default:
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '\u2028' || r == '\u2029' {
			b.WriteString(s[start:i])
			b.WriteString(`\u202`)
			b.WriteByte(hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}

// cutRunes shortens s to at most n bytes without splitting a rune.
func cutRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
