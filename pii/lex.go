package pii

import (
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// The masker reads JSON with this lexer rather than encoding/json's
// Decoder.Token: Token decodes every scalar through reflection into an
// interface and allocates for each, which made masking a webhook body the
// largest cost of a timeline page (2.9 ms of 12.8 for 50 entries, see
// docs/PERFORMANCE.md). The lexer reads the same grammar (RFC 8259) and
// decodes strings as encoding/json does: invalid UTF-8 and unpaired
// surrogates become U+FFFD. The masker checks where each token may stand.
// TestLexerMatchesDecoder and FuzzLexerMatchesDecoder compare the two on
// every input.

// tokKind is a lexical token's kind.
type tokKind uint8

const (
	tokEOF tokKind = iota
	tokBeginObject
	tokEndObject
	tokBeginArray
	tokEndArray
	tokComma
	tokColon
	tokString
	tokNumber
	tokTrue
	tokFalse
	tokNull
)

// lexer reads the tokens of a JSON text. With prefix, b is the start of a
// longer document: a number that reaches its end may go on, so it is not
// a token (an account number cut at the prefix would otherwise be masked
// as if its last digits were the cut ones).
type lexer struct {
	b      []byte
	i      int
	buf    []byte // decoding room for strings with escapes
	prefix bool
}

var errSyntax = errors.New("pii: invalid JSON")

// next returns the next token; text is a string's decoded value or a
// number's literal text.
func (l *lexer) next() (kind tokKind, text string, err error) {
	for l.i < len(l.b) {
		switch l.b[l.i] {
		case ' ', '\t', '\n', '\r':
			l.i++
			continue
		}
		break
	}
	if l.i >= len(l.b) {
		return tokEOF, "", nil
	}
	c := l.b[l.i]
	switch c {
	case '{':
		l.i++
		return tokBeginObject, "", nil
	case '}':
		l.i++
		return tokEndObject, "", nil
	case '[':
		l.i++
		return tokBeginArray, "", nil
	case ']':
		l.i++
		return tokEndArray, "", nil
	case ',':
		l.i++
		return tokComma, "", nil
	case ':':
		l.i++
		return tokColon, "", nil
	case '"':
		s, err := l.str()
		return tokString, s, err
	case 't':
		return tokTrue, "", l.literal("true")
	case 'f':
		return tokFalse, "", l.literal("false")
	case 'n':
		return tokNull, "", l.literal("null")
	}
	if c == '-' || c >= '0' && c <= '9' {
		s, err := l.number()
		return tokNumber, s, err
	}
	return tokEOF, "", errSyntax
}

func (l *lexer) literal(word string) error {
	if len(l.b)-l.i < len(word) || string(l.b[l.i:l.i+len(word)]) != word {
		return errSyntax
	}
	l.i += len(word)
	return nil
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and returns
// its text.
func (l *lexer) number() (string, error) {
	b, start := l.b, l.i
	i := start
	if b[i] == '-' {
		i++
	}
	digits := func() bool {
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > j
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return "", errSyntax
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return "", errSyntax
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return "", errSyntax
		}
	}
	if l.prefix && i == len(b) {
		return "", errSyntax
	}
	l.i = i
	return string(b[start:i]), nil
}

// str reads a string token and returns its decoded value.
func (l *lexer) str() (string, error) {
	b := l.b
	start := l.i + 1
	// The usual string: printable ASCII without escapes, returned as it is.
	i := start
	for i < len(b) {
		c := b[i]
		if c == '"' {
			l.i = i + 1
			return string(b[start:i]), nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		i++
	}
	out := append(l.buf[:0], b[start:i]...)
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			l.i = i + 1
			l.buf = out
			return string(out), nil
		case c < 0x20:
			return "", errSyntax
		case c == '\\':
			if i+1 >= len(b) {
				return "", errSyntax
			}
			switch e := b[i+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r := hex4(b[i+2:])
				if r < 0 {
					return "", errSyntax
				}
				i += 6
				if utf16.IsSurrogate(r) {
					// A pair makes one rune; anything else is U+FFFD, and
					// what follows is read on its own.
					if r2 := escapedRune(b[i:]); r2 >= 0 {
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							out = utf8.AppendRune(out, d)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
				continue
			default:
				return "", errSyntax
			}
			i += 2
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, b[i:i+size]...)
			}
			i += size
		}
	}
	return "", errSyntax // the text ends inside the string
}

// hex4 decodes the four hex digits after `\u` (b starts at them); -1 when
// they are not.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// escapedRune is the rune of a `\uXXXX` escape at the start of b, or -1.
func escapedRune(b []byte) rune {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return -1
	}
	return hex4(b[2:])
}
