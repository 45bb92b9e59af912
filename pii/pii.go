// Package pii is Linkdesk's policy for personal data shown to staff: which
// values are masked for which role. Pages (views) and exports (handlers)
// both apply it, so a download never shows more than the page it came from.
//
// The policy:
//   - account numbers are masked for every role, everywhere (••6789);
//   - auditors also get identity PII masked in raw JSON: SSN-like values,
//     last_four_ssn, date_of_birth, emails, phone numbers, addresses, and
//     routing numbers;
//   - on the account page, date of birth and SSN last four are masked for
//     every role until an explicit Reveal, which is audited.
package pii

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"linkdesk/db"
)

// Masks shown in place of hidden values.
const (
	// Hidden replaces a hidden value.
	Hidden  = "•••"
	maskSSN = "•••-••-••••"
)

// maskMode says how a JSON value is shown.
type maskMode int

const (
	showValue maskMode = iota
	maskAccount
	maskPII
)

// accountNumberKeys hold bank account numbers (or their tails): masked for
// every role.
var accountNumberKeys = map[string]bool{
	"account_number": true, "masked_account_number": true, "last_four_account_number": true,
	"account_number_enc": true, "account_last4": true,
}

// piiKeys hold a person's identity data: masked for auditors.
var piiKeys = map[string]bool{
	"ssn": true, "social_security_number": true, "last_four_ssn": true, "ssn_last4": true,
	"date_of_birth": true, "dob": true,
	"email": true, "emails": true,
	"phone": true, "phone_number": true, "phone_numbers": true,
	"address": true, "addresses": true, "home_address": true,
	"routing_number": true,
}

// ssnLike matches a full Social Security number inside any string value.
var ssnLike = regexp.MustCompile(`\b\d{3}-?\d{2}-?\d{4}\b`)

// SeesIdentity reports whether a role sees identity PII (emails, phones,
// addresses, dates of birth, SSN digits, routing numbers): admins and
// operators do, auditors do not.
func SeesIdentity(role string) bool { return role == db.RoleAdmin || role == db.RoleOperator }

// keyMode is how the value under key is shown to role.
func keyMode(key, role string) maskMode {
	k := strings.ToLower(key)
	switch {
	case !SeesIdentity(role) && piiKeys[k]:
		return maskPII
	case accountNumberKeys[k]:
		return maskAccount
	}
	return showValue
}

// MaskJSON is a raw JSON document pretty-printed for a role, with the
// masks of the policy applied; hide names more keys to mask for every role
// (the account page hides date of birth and SSN last four until a Reveal).
// ok is false when raw is not JSON; the text then says so instead of
// showing bytes that could not be masked.
func MaskJSON(raw []byte, role string, hide ...string) (text string, ok bool) {
	out, err := maskJSON(raw, role, hide)
	if err != nil {
		return "Not valid JSON: not shown, because it cannot be masked.", false
	}
	return out, true
}

// MaskJSONLine is MaskJSON on one line (for JSON Lines exports).
func MaskJSONLine(raw []byte, role string) ([]byte, bool) {
	out, err := maskJSONIndent(raw, role, nil, "")
	if err != nil {
		return nil, false
	}
	return []byte(out), true
}

// frame is an open object or array of maskJSON.
type frame struct {
	obj       bool
	n         int
	expectKey bool
	mode      maskMode
	keyMode   maskMode // the mode of the value after the last key
}

// maskJSON rewrites a JSON document token by token (keeping key order) as
// two-space-indented text, masking values by the key they sit under. A
// container under a masked key masks every scalar inside it.
func maskJSON(raw []byte, role string, hide []string) (string, error) {
	return maskJSONIndent(raw, role, hide, "  ")
}

// maskJSONIndent is maskJSON with an indent unit; "" writes one line.
func maskJSONIndent(raw []byte, role string, hide []string, unit string) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var b strings.Builder
	var stack []*frame
	indent := func(depth int) {
		if unit == "" {
			return
		}
		b.WriteByte('\n')
		b.WriteString(strings.Repeat(unit, depth))
	}
	// valueMode is the mode of the next value and writes its separator.
	valueMode := func() maskMode {
		if len(stack) == 0 {
			return showValue
		}
		top := stack[len(stack)-1]
		if top.obj {
			top.expectKey = true
			return top.keyMode
		}
		if top.n > 0 {
			b.WriteByte(',')
		}
		indent(len(stack))
		top.n++
		return top.mode
	}
	roots := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		if len(stack) > 0 {
			top := stack[len(stack)-1]
			if top.obj && top.expectKey {
				if key, isKey := tok.(string); isKey {
					if top.n > 0 {
						b.WriteByte(',')
					}
					indent(len(stack))
					top.n++
					writeJSONString(&b, key)
					b.WriteByte(':')
					if unit != "" {
						b.WriteByte(' ')
					}
					top.expectKey = false
					top.keyMode = max(top.mode, keyMode(key, role))
					for _, h := range hide {
						if strings.EqualFold(h, key) {
							top.keyMode = maskPII
						}
					}
					continue
				}
			}
		} else if roots++; roots > 1 {
			return "", fmt.Errorf("pii: more than one JSON value")
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				mode := valueMode()
				b.WriteByte(byte(t))
				stack = append(stack, &frame{obj: t == '{', expectKey: t == '{', mode: mode})
			case '}', ']':
				top := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if top.n > 0 {
					indent(len(stack))
				}
				b.WriteByte(byte(t))
			}
		default:
			writeScalar(&b, t, valueMode(), role)
		}
	}
	if roots == 0 || len(stack) > 0 {
		return "", fmt.Errorf("pii: empty or truncated JSON")
	}
	return b.String(), nil
}

func writeScalar(b *strings.Builder, v any, mode maskMode, role string) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case json.Number:
		switch mode {
		case maskAccount:
			writeJSONString(b, MaskAccountNumber(x.String()))
		case maskPII:
			writeJSONString(b, Hidden)
		default:
			b.WriteString(x.String())
		}
	case string:
		switch mode {
		case maskAccount:
			writeJSONString(b, MaskAccountNumber(x))
		case maskPII:
			writeJSONString(b, Hidden)
		default:
			if !SeesIdentity(role) {
				x = ssnLike.ReplaceAllString(x, maskSSN)
			}
			writeJSONString(b, x)
		}
	}
}

func writeJSONString(b *strings.Builder, s string) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	b.Write(bytes.TrimRight(buf.Bytes(), "\n"))
}

// MaskAccountNumber shows only the last four digits of an account number:
// "••6789". Shorter tails (Pinwheel's masked_account_number may have two)
// keep what they have: "••53".
func MaskAccountNumber(n string) string {
	var digits []byte
	for i := 0; i < len(n); i++ {
		if n[i] >= '0' && n[i] <= '9' {
			digits = append(digits, n[i])
		}
	}
	if len(digits) > 4 {
		digits = digits[len(digits)-4:]
	}
	if len(digits) == 0 {
		return "••"
	}
	return "••" + string(digits)
}
