package db

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/bcrypt"
)

// Staff two-factor sign-in: TOTP (RFC 6238: six digits, 30-second steps,
// SHA-1, the parameters every authenticator app reads from an otpauth://
// URL), computed by github.com/pquerna/otp, and one-time recovery codes.
//
// Enrolment is two steps: a secret is kept (encrypted at rest, like every
// secret) while pending, and only a code computed from it turns it on;
// then recovery codes are made and shown once (only their hashes are
// kept). At sign-in, after the password, a code is accepted once (never
// twice: totp_last_step) within one step of the clock either way, and wrong
// codes are throttled like passwords (scope second_factor, whatever the
// address: whoever gets here has the password). An organisation may
// require a second factor of everyone (settingRequire2FA): who has none is
// sent to enrol at the next sign-in. An admin may reset someone's second
// factor (a lost phone); each of these is audited.

// Audit actions of the second factor. A sign-in completed by the second
// step is ActionSignIn with the method in its detail; the password step
// before it is ActionPasswordAccepted.
const (
	ActionSecondFactorEnrolled = "staff.second_factor_enrolled"
	ActionSecondFactorDisabled = "staff.second_factor_disabled"
	ActionSecondFactorReset    = "staff.second_factor_reset"
	ActionSecondFactorFailed   = "staff.second_factor_failed"
	ActionRecoveryCodesRenewed = "staff.recovery_codes_renewed"
	ActionPasswordAccepted     = "staff.password_accepted"
	ActionSecondFactorRequired = "settings.second_factor_required"
)

const (
	// settingRequire2FA is the settings key of "require a second factor
	// of everyone" ("on" or "off").
	settingRequire2FA = "require_second_factor"
	purposeTOTPSecret = "staff.totp_secret"
	totpPeriod        = 30
	recoveryCodeCount = 10
	recoveryAlphabet  = "abcdefghjkmnpqrstuvwxyz23456789" // no 0/o, 1/l/i
	recoveryCodeLen   = 10
	// secondFactorMaxCode bounds what a code field may carry.
	secondFactorMaxCode = 32
)

// totpOpts are the parameters of the codes: RFC 6238's defaults, which
// every authenticator app assumes.
var totpOpts = totp.ValidateOpts{Period: totpPeriod, Skew: 0, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// ErrNoSecondFactor means the staff member has no second factor enrolled
// (or no enrolment pending, for ConfirmSecondFactor).
var ErrNoSecondFactor = errors.New("db: no second factor")

// ErrSecondFactorRequired means a second factor cannot be turned off: the
// organisation requires one.
var ErrSecondFactorRequired = errors.New("db: the organisation requires a second factor")

// Enrolment is a pending second factor as the enrolment page shows it.
type Enrolment struct {
	// Secret is the base32 secret, for typing into an app.
	Secret string
	// URL is the otpauth:// URL the QR code encodes.
	URL string
}

// SecondFactorRequired reports whether the organisation requires every
// staff member to have a second factor.
func (s *Store) SecondFactorRequired(ctx context.Context) (bool, error) {
	v, err := s.Setting(ctx, settingRequire2FA)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return v == "on", err
}

// SetSecondFactorRequired turns the requirement on or off, audited.
func (s *Store) SetSecondFactorRequired(ctx context.Context, a Actor, on bool) error {
	v := "off"
	if on {
		v = "on"
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var old string
		err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, settingRequire2FA).Scan(&old)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if old == v || old == "" && v == "off" {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, settingRequire2FA, v, FormatTime(s.now())); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionSecondFactorRequired, "settings", settingRequire2FA, map[string]any{"required": on})
	})
}

// PendingEnrolment returns the staff member's pending enrolment, starting
// one (a new secret) when none is pending. issuer names the organisation in
// the authenticator app. ErrConflict when a second factor is already on.
func (s *Store) PendingEnrolment(ctx context.Context, staffID int64, issuer string) (Enrolment, error) {
	var e Enrolment
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var email string
		var sealed, enabled sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT email, totp_secret_enc, totp_enabled_at FROM staff WHERE id = ?`, staffID).Scan(&email, &sealed, &enabled); err != nil {
			return notFound(err)
		}
		if enabled.Valid {
			return ErrConflict
		}
		if issuer = strings.TrimSpace(issuer); issuer == "" {
			issuer = "Linkdesk"
		}
		if sealed.Valid {
			secret, err := s.keys.open(purposeTOTPSecret, sealed.String)
			if err != nil {
				return err
			}
			e = enrolment(issuer, email, secret)
			return nil
		}
		key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: email, Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return err
		}
		e = enrolment(issuer, email, key.Secret())
		_, err = tx.ExecContext(ctx, `UPDATE staff SET totp_secret_enc = ?, totp_last_step = 0 WHERE id = ?`, s.keys.seal(purposeTOTPSecret, key.Secret()), staffID)
		return err
	})
	if err != nil && !errors.Is(err, ErrConflict) && !errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("db: second factor enrolment of %d: %w", staffID, err)
	}
	return e, err
}

// enrolment is a secret with its otpauth:// URL (Google Authenticator's
// key URI format, which every app reads: issuer and account as the label,
// the parameters as the query).
func enrolment(issuer, email, secret string) Enrolment {
	v := url.Values{}
	v.Set("secret", secret)
	v.Set("issuer", issuer)
	v.Set("period", strconv.Itoa(totpPeriod))
	v.Set("digits", "6")
	v.Set("algorithm", "SHA1")
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + email, RawQuery: v.Encode()}
	return Enrolment{Secret: secret, URL: u.String()}
}

// ConfirmSecondFactor turns on the pending second factor of a staff member
// when code is right for its secret, makes their recovery codes and
// returns them (the only time they are shown). A wrong code is a field
// error; no pending enrolment is ErrNoSecondFactor. Audited.
func (s *Store) ConfirmSecondFactor(ctx context.Context, a Actor, staffID int64, code string) ([]string, error) {
	var codes []string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var sealed, enabled sql.NullString
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT totp_secret_enc, totp_enabled_at, totp_last_step FROM staff WHERE id = ?`, staffID).Scan(&sealed, &enabled, &last); err != nil {
			return notFound(err)
		}
		if !sealed.Valid || enabled.Valid {
			return ErrNoSecondFactor
		}
		secret, err := s.keys.open(purposeTOTPSecret, sealed.String)
		if err != nil {
			return err
		}
		step, ok := matchTOTP(secret, code, s.now(), last)
		if !ok {
			return FieldErrors{"code": "That code is not right. Enter the six digits your app shows now."}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE staff SET totp_enabled_at = ?, totp_last_step = ? WHERE id = ?`, FormatTime(s.now()), step, staffID); err != nil {
			return err
		}
		if codes, err = replaceRecoveryCodes(ctx, tx, staffID); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionSecondFactorEnrolled, "staff", fmt.Sprint(staffID), map[string]any{"method": "totp", "recovery_codes": len(codes)})
	})
	return codes, secondFactorErr("confirm", staffID, err)
}

// secondFactorErr wraps err, keeping the errors callers tell apart.
func secondFactorErr(what string, id int64, err error) error {
	var fe FieldErrors
	switch {
	case err == nil, errors.As(err, &fe), errors.Is(err, ErrNotFound), errors.Is(err, ErrNoSecondFactor),
		errors.Is(err, ErrSecondFactorRequired), errors.Is(err, ErrBadCredentials):
		return err
	}
	var thr *ThrottledError
	if errors.As(err, &thr) {
		return err
	}
	return fmt.Errorf("db: second factor %s of %d: %w", what, id, err)
}

// matchTOTP checks code against secret at now and one step either side,
// refusing steps at or before last (a code is used once). It returns the
// step matched.
func matchTOTP(secret, code string, now time.Time, last int64) (int64, bool) {
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, code)
	if len(code) != 6 {
		return 0, false
	}
	step := now.Unix() / totpPeriod
	for _, d := range []int64{0, -1, 1} {
		st := step + d
		if st <= last {
			continue
		}
		want, err := totp.GenerateCodeCustom(secret, time.Unix(st*totpPeriod, 0), totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return st, true
		}
	}
	return 0, false
}

// replaceRecoveryCodes drops a staff member's recovery codes and makes
// recoveryCodeCount new ones, returning them in clear.
func replaceRecoveryCodes(ctx context.Context, tx *sql.Tx, staffID int64) ([]string, error) {
	if _, err := tx.ExecContext(ctx, `DELETE FROM staff_recovery_codes WHERE staff_id = ?`, staffID); err != nil {
		return nil, err
	}
	codes := make([]string, recoveryCodeCount)
	for i := range codes {
		codes[i] = newRecoveryCode()
		if _, err := tx.ExecContext(ctx, `INSERT INTO staff_recovery_codes (staff_id, code_hash) VALUES (?, ?)`, staffID, hashRecoveryCode(codes[i])); err != nil {
			return nil, err
		}
	}
	return codes, nil
}

// newRecoveryCode is 10 random characters of an unambiguous alphabet (about
// 49 bits), shown as xxxxx-xxxxx.
func newRecoveryCode() string {
	b := make([]byte, recoveryCodeLen)
	rand.Read(b)
	for i := range b {
		b[i] = recoveryAlphabet[int(b[i])%len(recoveryAlphabet)]
	}
	return string(b[:5]) + "-" + string(b[5:])
}

// hashRecoveryCode hashes a code as typed: lower case, without spaces or
// dashes.
func hashRecoveryCode(code string) string {
	norm := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, strings.ToLower(strings.TrimSpace(code)))
	sum := sha256.Sum256([]byte("linkdesk recovery code\x00" + norm))
	return hex.EncodeToString(sum[:])
}

// VerifySecondFactor checks the second step of a sign-in: a TOTP code or
// a recovery code (used up by this) of staff member id, under the
// second_factor throttle. It audits the sign-in (with the method) or the
// failure. Errors: *ThrottledError, ErrBadCredentials (wrong code),
// ErrNoSecondFactor.
func (s *Store) VerifySecondFactor(ctx context.Context, a Actor, id int64, code string) (Staff, error) {
	code = truncate(strings.TrimSpace(code), secondFactorMaxCode)
	now := s.now().UTC()
	var st Staff
	var refused *ThrottledError
	var method string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var sealed, enabled sql.NullString
		var last int64
		var err error
		if st, err = scanStaff(tx.QueryRowContext(ctx, `SELECT `+staffColumns+`, totp_secret_enc, totp_enabled_at, totp_last_step FROM staff WHERE id = ?`, id), &sealed, &enabled, &last); err != nil {
			return notFound(err)
		}
		if !sealed.Valid || !enabled.Valid || !st.Active {
			return ErrNoSecondFactor
		}
		key := throttleKey{scope: ThrottleSecondFactor, email: st.Email}
		if err := pruneThrottles(ctx, tx, now); err != nil {
			return err
		}
		th, err := readThrottle(ctx, tx, key)
		if err != nil {
			return err
		}
		if th.blocked.After(now) {
			refused = &ThrottledError{RetryAt: th.blocked}
			return nil
		}
		secret, err := s.keys.open(purposeTOTPSecret, sealed.String)
		if err != nil {
			return err
		}
		if step, ok := matchTOTP(secret, code, now, last); ok {
			method = "totp"
			if _, err := tx.ExecContext(ctx, `UPDATE staff SET totp_last_step = ? WHERE id = ?`, step, id); err != nil {
				return err
			}
		} else if len(code) >= recoveryCodeLen {
			res, err := tx.ExecContext(ctx, `UPDATE staff_recovery_codes SET used_at = ? WHERE id = (
				SELECT id FROM staff_recovery_codes WHERE staff_id = ? AND code_hash = ? AND used_at IS NULL LIMIT 1)`,
				FormatTime(now), id, hashRecoveryCode(code))
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				method = "recovery_code"
			}
		}
		a.StaffID, a.Email = st.ID, st.Email
		if method == "" {
			if err := writeThrottle(ctx, tx, key, th.failure(now)); err != nil {
				return err
			}
			return s.appendAudit(ctx, tx, a, ActionSecondFactorFailed, "staff", fmt.Sprint(id), nil)
		}
		if err := deleteThrottle(ctx, tx, key); err != nil {
			return err
		}
		detail := map[string]any{"second_factor": method}
		if method == "recovery_code" {
			var left int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM staff_recovery_codes WHERE staff_id = ? AND used_at IS NULL`, id).Scan(&left); err != nil {
				return err
			}
			detail["recovery_codes_left"] = left
		}
		return s.appendAudit(ctx, tx, a, ActionSignIn, "staff", fmt.Sprint(id), detail)
	})
	switch {
	case err != nil:
		return Staff{}, secondFactorErr("verify", id, err)
	case refused != nil:
		return Staff{}, refused
	case method == "":
		return Staff{}, ErrBadCredentials
	}
	return st, nil
}

// RecoveryCodesLeft is how many unused recovery codes a staff member has.
func (s *Store) RecoveryCodesLeft(ctx context.Context, staffID int64) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM staff_recovery_codes WHERE staff_id = ? AND used_at IS NULL`, staffID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("db: recovery codes of %d: %w", staffID, err)
	}
	return n, nil
}

// RenewRecoveryCodes replaces a staff member's recovery codes after a
// current TOTP code proves the second factor is at hand; it returns the new
// codes (shown once). Audited.
func (s *Store) RenewRecoveryCodes(ctx context.Context, a Actor, staffID int64, code string) ([]string, error) {
	var codes []string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var sealed, enabled sql.NullString
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT totp_secret_enc, totp_enabled_at, totp_last_step FROM staff WHERE id = ?`, staffID).Scan(&sealed, &enabled, &last); err != nil {
			return notFound(err)
		}
		if !sealed.Valid || !enabled.Valid {
			return ErrNoSecondFactor
		}
		secret, err := s.keys.open(purposeTOTPSecret, sealed.String)
		if err != nil {
			return err
		}
		step, ok := matchTOTP(secret, code, s.now(), last)
		if !ok {
			return FieldErrors{"code": "That code is not right. Enter the six digits your app shows now."}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE staff SET totp_last_step = ? WHERE id = ?`, step, staffID); err != nil {
			return err
		}
		if codes, err = replaceRecoveryCodes(ctx, tx, staffID); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionRecoveryCodesRenewed, "staff", fmt.Sprint(staffID), map[string]any{"recovery_codes": len(codes)})
	})
	return codes, secondFactorErr("renew recovery codes", staffID, err)
}

// DisableSecondFactor turns off a staff member's own second factor after
// their password proves it is them; refused (ErrSecondFactorRequired)
// while the organisation requires one. Audited.
func (s *Store) DisableSecondFactor(ctx context.Context, a Actor, staffID int64, password string) error {
	required, err := s.SecondFactorRequired(ctx)
	if err != nil {
		return err
	}
	if required {
		return ErrSecondFactorRequired
	}
	var hash string
	if err := s.r.QueryRowContext(ctx, `SELECT password_hash FROM staff WHERE id = ?`, staffID).Scan(&hash); err != nil {
		return fmt.Errorf("db: disable second factor of %d: %w", staffID, notFound(err))
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return FieldErrors{"password": "That is not your current password."}
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := clearSecondFactor(ctx, tx, staffID); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionSecondFactorDisabled, "staff", fmt.Sprint(staffID), nil)
	})
	return secondFactorErr("disable", staffID, err)
}

// ResetSecondFactor removes someone's second factor (an admin, for a lost
// phone): they sign in with their password alone, and enrol again (at once
// if the organisation requires it). Their sessions end. Audited.
func (s *Store) ResetSecondFactor(ctx context.Context, a Actor, staffID int64) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var email string
		var enabled sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT email, totp_enabled_at FROM staff WHERE id = ?`, staffID).Scan(&email, &enabled); err != nil {
			return notFound(err)
		}
		if !enabled.Valid {
			return ErrNoSecondFactor
		}
		if err := clearSecondFactor(ctx, tx, staffID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE staff SET session_epoch = session_epoch + 1 WHERE id = ?`, staffID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM signin_throttles WHERE scope = ? AND email = ?`, ThrottleSecondFactor, email); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionSecondFactorReset, "staff", fmt.Sprint(staffID), map[string]any{"email": email})
	})
	return secondFactorErr("reset", staffID, err)
}

func clearSecondFactor(ctx context.Context, tx *sql.Tx, staffID int64) error {
	if _, err := tx.ExecContext(ctx, `UPDATE staff SET totp_secret_enc = NULL, totp_enabled_at = NULL, totp_last_step = 0 WHERE id = ?`, staffID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM staff_recovery_codes WHERE staff_id = ?`, staffID)
	return err
}
