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
	"regexp"
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
type maskMode uint8

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

// maskSSNLike replaces what ssnLike matches in s with a mask. Most strings
// hold none, and a byte scan says so for a fraction of the regexp's cost.
func maskSSNLike(s string) string {
	if !holdsSSNLike(s) {
		return s
	}
	return ssnLike.ReplaceAllString(s, maskSSN)
}

// holdsSSNLike reports whether ssnLike matches somewhere in s: a match
// starts at a digit with no word character before it (\b), and each -? can
// only be taken when a dash is there, so one try per start decides.
func holdsSSNLike(s string) bool {
	for i := 0; i+9 <= len(s); i++ {
		if !isDigit(s[i]) || i > 0 && isWordByte(s[i-1]) {
			continue
		}
		j := i
		ok := true
		for g, n := range [3]int{3, 2, 4} {
			if g > 0 && j < len(s) && s[j] == '-' {
				j++
			}
			for range n {
				if j >= len(s) || !isDigit(s[j]) {
					ok = false
					break
				}
				j++
			}
			if !ok {
				break
			}
		}
		if ok && (j == len(s) || !isWordByte(s[j])) {
			return true
		}
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isWordByte is \w in Go's regexp: ASCII letters, digits and underscore.
func isWordByte(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

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

// MaskEmail shows an email address to role with its name part hidden
// ("l•••@example.com"); roles that do not see identity data get Hidden.
func MaskEmail(email, role string) string {
	if !SeesIdentity(role) {
		return Hidden
	}
	name, domain, ok := strings.Cut(email, "@")
	if !ok || name == "" {
		return Hidden
	}
	r := []rune(name)
	return string(r[0]) + "•••@" + domain
}

// MaskPhone shows a phone number to role with all but its last four digits
// hidden ("••• 1234"); roles that do not see identity data get Hidden.
func MaskPhone(phone, role string) string {
	if !SeesIdentity(role) {
		return Hidden
	}
	var digits []rune
	for _, c := range phone {
		if c >= '0' && c <= '9' {
			digits = append(digits, c)
		}
	}
	if len(digits) < 4 {
		return Hidden
	}
	return "••• " + string(digits[len(digits)-4:])
}
