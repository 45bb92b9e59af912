package pii

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"linkdesk/db"
)

// The reference masker below is the one the lexer replaced (it read tokens
// with encoding/json's Decoder.Token); the tests compare the two.

// refFrame is an open object or array; it is small because a deeply nested
// document holds one per level.
type refFrame struct {
	obj       bool
	nonEmpty  bool
	expectKey bool
	mode      maskMode
	keyMode   maskMode // the mode of the value after the last key
}

// refMasker rewrites a JSON document token by token, keeping key order,
// masking values by the key they sit under. A container under a masked key
// masks every scalar inside it.
type refMasker struct {
	role      string
	hide      []string
	pretty    bool
	max       int // 0: no cap
	out       bytes.Buffer
	stack     []refFrame
	deepest   int
	flattened bool
}

func (m *refMasker) newline(depth int) {
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

// valueMode is the mode of the next value; it writes the separator before
// an array element.
func (m *refMasker) valueMode() maskMode {
	if len(m.stack) == 0 {
		return showValue
	}
	top := &m.stack[len(m.stack)-1]
	if top.obj {
		top.expectKey = true
		return top.keyMode
	}
	if top.nonEmpty {
		m.out.WriteByte(',')
	}
	m.newline(len(m.stack))
	top.nonEmpty = true
	return top.mode
}

func (m *refMasker) run(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	roots := 0
	for {
		if m.max > 0 && m.out.Len() > m.max {
			return errCapped
		}
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if len(m.stack) > 0 {
			if top := &m.stack[len(m.stack)-1]; top.obj && top.expectKey {
				if key, isKey := tok.(string); isKey {
					m.key(top, key)
					continue
				}
			}
		} else if roots++; roots > 1 {
			return errors.New("pii: more than one JSON value")
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				mode := m.valueMode()
				m.out.WriteByte(byte(t))
				m.stack = append(m.stack, refFrame{obj: t == '{', expectKey: t == '{', mode: mode})
				m.deepest = max(m.deepest, len(m.stack))
			case '}', ']':
				top := m.stack[len(m.stack)-1]
				m.stack = m.stack[:len(m.stack)-1]
				if top.nonEmpty {
					m.newline(len(m.stack))
				}
				m.out.WriteByte(byte(t))
			}
		default:
			m.scalar(t, m.valueMode())
		}
	}
	if roots == 0 || len(m.stack) > 0 {
		return errors.New("pii: empty or truncated JSON")
	}
	return nil
}

// key writes an object key and decides the mode of its value.
func (m *refMasker) key(top *refFrame, key string) {
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
	top.expectKey = false
	top.keyMode = max(top.mode, keyMode(key, m.role))
	for _, h := range m.hide {
		if strings.EqualFold(h, key) {
			top.keyMode = maskPII
		}
	}
}

func (m *refMasker) scalar(v any, mode maskMode) {
	b := &m.out
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case json.Number:
		switch mode {
		case maskAccount:
			writeString(b, MaskAccountNumber(x.String()))
		case maskPII:
			writeString(b, Hidden)
		default:
			b.WriteString(x.String())
		}
	case string:
		switch mode {
		case maskAccount:
			writeString(b, MaskAccountNumber(x))
		case maskPII:
			writeString(b, Hidden)
		default:
			if !SeesIdentity(m.role) {
				x = ssnLike.ReplaceAllString(x, maskSSN)
			}
			writeString(b, x)
		}
	}
}

// refRender is render with the reference masker.
func refRender(raw []byte, size int, role string, max int, pretty bool, hide []string) Doc {
	m := refMasker{role: role, hide: hide, pretty: pretty, max: max}
	err := m.run(raw)
	if err == nil && m.out.Len() > max || err != nil && size > len(raw) && m.out.Len() > 0 {
		err = errCapped
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

// sameAsReference fails t when the lexer's masker and the reference differ
// on raw, in full, as a prefix of a longer document, and on one line.
func sameAsReference(t *testing.T, raw []byte) {
	t.Helper()
	for _, role := range []string{db.RoleAdmin, db.RoleAuditor} {
		for _, c := range []struct {
			size, max int
			pretty    bool
		}{{len(raw), 1 << 30, true}, {len(raw) + 10, 1 << 30, true}, {len(raw), 1 << 30, false}, {len(raw), 64, true}} {
			if c.size > len(raw) && len(raw) > 0 && raw[len(raw)-1] >= '0' && raw[len(raw)-1] <= '9' {
				continue // a number cut by the prefix: see TestRenderPrefix_CutNumber
			}
			got := render(raw, c.size, role, c.max, c.pretty, []string{"Hidden_Key"})
			want := refRender(raw, c.size, role, c.max, c.pretty, []string{"Hidden_Key"})
			if got != want {
				t.Fatalf("%q (%s, size %d, max %d, pretty %v):\n got  %+v\n want %+v", raw, role, c.size, c.max, c.pretty, got, want)
			}
		}
	}
}

// TestLexerMatchesDecoder compares the masker with the reference on
// generated documents, every prefix of some, and byte mutations.
func TestLexerMatchesDecoder(t *testing.T) {
	for _, s := range lexerSeeds {
		sameAsReference(t, []byte(s))
		for i := range len(s) {
			sameAsReference(t, []byte(s[:i]))
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		doc := randomJSON(r, 0)
		sameAsReference(t, doc)
		if len(doc) > 0 {
			sameAsReference(t, doc[:r.IntN(len(doc))])
			b := append([]byte(nil), doc...)
			b[r.IntN(len(b))] = "{}[],:\"\\ 0-.eE+tfnu\x00\xff\xc3"[r.IntN(22)]
			sameAsReference(t, b)
		}
	}
}

// TestRenderPrefix_CutNumber: a prefix that ends inside a number does not
// show the number: an account number cut there would be masked to its cut
// digits, which are not its last four.
func TestRenderPrefix_CutNumber(t *testing.T) {
	full := `{"note": "x", "account_number": 1234567890123, "n": 42}`
	prefix := full[:strings.Index(full, "90123")]
	d := RenderPrefix([]byte(prefix), len(full), db.RoleAdmin, CapEntry)
	if !d.OK || !d.Truncated || strings.Contains(d.Text, "5678") || !strings.Contains(d.Text, `"note": "x"`) {
		t.Errorf("prefix ending inside a number: %+v", d)
	}
	whole := Render([]byte(full), db.RoleAdmin, CapEntry)
	if !strings.Contains(whole.Text, `"••0123"`) || !strings.Contains(whole.Text, `"n": 42`) {
		t.Errorf("whole document: %+v", whole)
	}
	// A document that is all there ends in a number legitimately.
	if d := RenderPrefix([]byte(`42`), 2, db.RoleAdmin, CapEntry); !d.OK || d.Truncated || d.Text != "42" {
		t.Errorf("a whole number: %+v", d)
	}
}

func TestHoldsSSNLike(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := "0123456789--- a_é"
	for range 20000 {
		n := r.IntN(16)
		var b strings.Builder
		for range n {
			b.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
		s := b.String()
		if got, want := holdsSSNLike(s), ssnLike.MatchString(s); got != want {
			t.Fatalf("%q: holdsSSNLike %v, regexp %v", s, got, want)
		}
	}
	for _, s := range []string{"123-45-6789", "x 123456789", "a123-45-6789", "123-45-67890", "SSN:123-456789.", "1234-5-6789"} {
		if got, want := holdsSSNLike(s), ssnLike.MatchString(s); got != want {
			t.Errorf("%q: holdsSSNLike %v, regexp %v", s, got, want)
		}
	}
}

var lexerSeeds = []string{
	`{"a": 1}`, `[]`, `{}`, `"x"`, `  [ 1 , 2 ]  `, `{"account_number": "123456789", "emails": ["a@b.c"], "x": {"ssn": 123456789}}`,
	`{"a": "\u2028\u0000\ud800"}`, `[1e999, -0, 0.1, 1E+2, -1.5e-3]`, `{"a":`, "\xff", `"\ud83d\ude00 \ud83d x \udc00\ud800\ud800\udc00"`,
	`{"n": "call 123-45-6789 or 987654321"}`, `[true, false, null]`, `{"a" 1}`, `[1 2]`, `{1: 2}`, `[1,]`, `{"a":1,}`, `[01]`, `[1.]`, `[.5]`, `[-]`,
	`["\x"]`, "[\"a\tb\"]", `{"Hidden_Key": {"x": [1, "y"]}, "hidden_key": 2}`, `[[[[]]]]`, `{"a": {"b": {}}}`, `{"a": 1} {"b": 2}`,
	"[\"\xc3\xa9 \xe2\x80\xa8 \xc3\"]", `"\/\b\f\n\r\t\\\""`, `[tru]`, `[nul]`, `[1e]`, `[1e+]`, `{"a":1]`, `[1}`,
}

// randomJSON is a random JSON value with keys the policy masks, strings
// with escapes and non-ASCII text, and numbers of every form.
func randomJSON(r *rand.Rand, depth int) []byte {
	keys := []string{"a", "account_number", "ssn", "emails", "note", "Hidden_Key", "date_of_birth", "x\\u00e9", "phone"}
	strs := []string{"plain", "123-45-6789", "a 123456789 b", `q\"uote`, `\u00e9\u2028`, "é€😀", `\ud83d\ude00`, `\ud800`, "", `tab\tnl\n`}
	nums := []string{"0", "-1", "12.50", "1e9", "-0.0E-2", "123456789", "6789"}
	ws := func() string { return []string{"", " ", "\n  ", "\t"}[r.IntN(4)] }
	switch k := r.IntN(10); {
	case depth < 6 && k < 3:
		var b bytes.Buffer
		b.WriteString("{" + ws())
		for i := range r.IntN(4) {
			if i > 0 {
				b.WriteString("," + ws())
			}
			b.WriteString(`"` + keys[r.IntN(len(keys))] + `"` + ws() + ":" + ws())
			b.Write(randomJSON(r, depth+1))
		}
		b.WriteString(ws() + "}")
		return b.Bytes()
	case depth < 6 && k < 5:
		var b bytes.Buffer
		b.WriteString("[" + ws())
		for i := range r.IntN(4) {
			if i > 0 {
				b.WriteString(ws() + ",")
			}
			b.Write(randomJSON(r, depth+1))
		}
		b.WriteString("]")
		return b.Bytes()
	case k < 7:
		return []byte(`"` + strs[r.IntN(len(strs))] + `"`)
	case k < 9:
		return []byte(nums[r.IntN(len(nums))])
	}
	return []byte([]string{"true", "false", "null"}[r.IntN(3)])
}

// FuzzLexerMatchesDecoder compares the masker with the reference on any
// input.
func FuzzLexerMatchesDecoder(f *testing.F) {
	for _, s := range lexerSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { sameAsReference(t, raw) })
}
