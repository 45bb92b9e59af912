package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Roles a staff member can hold.
const (
	RoleAdmin    = "admin"
	RoleOperator = "operator"
	RoleAuditor  = "auditor"
)

// Roles lists every role, most powerful first.
var Roles = []string{RoleAdmin, RoleOperator, RoleAuditor}

// MinPasswordLen is the shortest password accepted.
const MinPasswordLen = 12

// Staff is a person who signs in to Linkdesk.
type Staff struct {
	ID        int64
	Email     string
	Name      string
	Role      string
	Active    bool
	CreatedAt time.Time
	UpdatedAt time.Time
	// SessionEpoch is stored in each session cookie; bumping it (sign-out,
	// password change) ends every session of this staff member.
	SessionEpoch int64
	// MustChangePassword is set while the password is one handed over by
	// `linkdesk staff` (a reset or a console-created account): sign-in
	// leads to the password-change page before anything else.
	MustChangePassword bool
	// LastSignInAt is the latest successful sign-in from the audit trail,
	// zero if never. Only ListStaff fills it.
	LastSignInAt time.Time
	// SecondFactor says a TOTP second factor is enrolled (twofactor.go).
	SecondFactor bool
	// MustEnrolSecondFactor is set while the organisation requires a
	// second factor and this person has none: after sign-in, the
	// enrolment page comes before anything else.
	MustEnrolSecondFactor bool
	// AccessUntil is when the staff member's access ends (time-boxed
	// access, given to auditors); zero means no end.
	AccessUntil time.Time
}

// AccessEnded reports whether time-boxed access has ended at now.
func (st Staff) AccessEnded(now time.Time) bool {
	return !st.AccessUntil.IsZero() && !now.Before(st.AccessUntil)
}

// CanWrite reports whether the role may change state (mint tokens, run
// campaigns). Auditors read only.
func (st Staff) CanWrite() bool { return st.Role == RoleAdmin || st.Role == RoleOperator }

// IsAdmin reports whether the staff member manages staff and settings.
func (st Staff) IsAdmin() bool { return st.Role == RoleAdmin }

// StaffCreate is the input of CreateStaff.
type StaffCreate struct {
	Email    string
	Name     string
	Role     string
	Password string
	// MustChangePassword makes the first sign-in lead to the
	// password-change page (the password was handed over, not chosen).
	MustChangePassword bool
}

// StaffUpdate changes a staff member; nil fields stay as they are.
type StaffUpdate struct {
	Name   *string
	Role   *string
	Active *bool
}

// staffColumns are a staff row's columns, with whether a second factor is
// enrolled and whether the organisation requires one (settingRequire2FA),
// and when time-boxed access ends: RequireStaff reads all it needs in one
// query.
const staffColumns = `id, email, name, role, active, created_at, updated_at, session_epoch, must_change_password,
	CASE WHEN totp_enabled_at IS NULL THEN 0 ELSE 1 END,
	COALESCE((SELECT value FROM settings WHERE key = '` + settingRequire2FA + `'), ''), COALESCE(access_until, '')`

func scanStaff(sc interface{ Scan(...any) error }, extra ...any) (Staff, error) {
	var st Staff
	var active, mustChange, second int
	var created, updated, required, until string
	err := sc.Scan(append([]any{&st.ID, &st.Email, &st.Name, &st.Role, &active, &created, &updated, &st.SessionEpoch, &mustChange, &second, &required, &until}, extra...)...)
	st.Active, st.MustChangePassword, st.SecondFactor = active == 1, mustChange == 1, second == 1
	st.MustEnrolSecondFactor = required == "on" && !st.SecondFactor
	st.CreatedAt, st.UpdatedAt, st.AccessUntil = ParseTime(created), ParseTime(updated), ParseTime(until)
	return st, err
}

func normalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func validRole(r string) bool {
	for _, x := range Roles {
		if r == x {
			return true
		}
	}
	return false
}

func validatePassword(p string) string {
	switch {
	case utf8.RuneCountInString(p) < MinPasswordLen:
		return fmt.Sprintf("Use at least %d characters.", MinPasswordLen)
	case len(p) > 72:
		return "Use at most 72 bytes."
	}
	return ""
}

// ValidateStaffCreate checks the fields of a new staff member.
func ValidateStaffCreate(c StaffCreate) FieldErrors {
	fe := FieldErrors{}
	email := normalizeEmail(c.Email)
	if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email {
		fe["email"] = "Enter a valid email address."
	}
	if n := strings.TrimSpace(c.Name); n == "" || utf8.RuneCountInString(n) > 100 {
		fe["name"] = "Enter a name of 1 to 100 characters."
	}
	if !validRole(c.Role) {
		fe["role"] = "Choose admin, operator or auditor."
	}
	if msg := validatePassword(c.Password); msg != "" {
		fe["password"] = msg
	}
	return fe
}

// StaffByID returns one staff member.
func (s *Store) StaffByID(ctx context.Context, id int64) (Staff, error) {
	st, err := scanStaff(s.r.QueryRowContext(ctx, `SELECT `+staffColumns+` FROM staff WHERE id = ?`, id))
	if err != nil {
		return Staff{}, fmt.Errorf("db: staff %d: %w", id, notFound(err))
	}
	return st, nil
}

// StaffByEmail returns one staff member by email (case-insensitive, as
// stored).
func (s *Store) StaffByEmail(ctx context.Context, email string) (Staff, error) {
	st, err := scanStaff(s.r.QueryRowContext(ctx, `SELECT `+staffColumns+` FROM staff WHERE email = ?`, normalizeEmail(email)))
	if err != nil {
		return Staff{}, fmt.Errorf("db: staff %q: %w", normalizeEmail(email), notFound(err))
	}
	return st, nil
}

// ListStaff returns every staff member, active first, by name, each with
// the time of their last sign-in (read from the audit trail: the latest
// staff.sign_in row of that actor, found backwards through the
// (actor_id, id) index).
func (s *Store) ListStaff(ctx context.Context) ([]Staff, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+staffColumns+`,
		COALESCE((SELECT at FROM audit_log WHERE actor_id = staff.id AND action = ? ORDER BY id DESC LIMIT 1), '')
		FROM staff ORDER BY active DESC, name, id`, ActionSignIn)
	if err != nil {
		return nil, fmt.Errorf("db: list staff: %w", err)
	}
	defer rows.Close()
	var out []Staff
	for rows.Next() {
		var last string
		st, err := scanStaff(rows, &last)
		if err != nil {
			return nil, fmt.Errorf("db: list staff: %w", err)
		}
		if last != "" {
			st.LastSignInAt = ParseTime(last)
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// countStaff returns how many staff rows exist.
func (s *Store) countStaff(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM staff`).Scan(&n)
	return n, err
}

// CreateStaff validates and inserts a staff member and audits it.
func (s *Store) CreateStaff(ctx context.Context, a Actor, c StaffCreate) (Staff, error) {
	if fe := ValidateStaffCreate(c); len(fe) > 0 {
		return Staff{}, fe
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(c.Password), s.cost)
	if err != nil {
		return Staff{}, fmt.Errorf("db: hash password: %w", err)
	}
	var st Staff
	err = s.tx(ctx, func(tx *sql.Tx) error {
		now := FormatTime(s.now())
		row := tx.QueryRowContext(ctx, `INSERT INTO staff (email, name, role, password_hash, active, created_at, updated_at, must_change_password)
			VALUES (?, ?, ?, ?, 1, ?, ?, ?) RETURNING `+staffColumns,
			normalizeEmail(c.Email), strings.TrimSpace(c.Name), c.Role, string(hash), now, now, boolInt(c.MustChangePassword))
		var err error
		if st, err = scanStaff(row); err != nil {
			if s.d.isUnique(err) {
				return FieldErrors{"email": "A staff member with this email already exists."}
			}
			return err
		}
		detail := map[string]any{"email": st.Email, "name": st.Name, "role": st.Role}
		if st.MustChangePassword {
			detail["must_change_password"] = true
		}
		return s.appendAudit(ctx, tx, a, ActionStaffCreated, "staff", fmt.Sprint(st.ID), detail)
	})
	if err != nil {
		var fe FieldErrors
		if errors.As(err, &fe) {
			return Staff{}, fe
		}
		return Staff{}, fmt.Errorf("db: create staff: %w", err)
	}
	return st, nil
}

// ErrLastAdmin is returned when a change would leave no active admin.
var ErrLastAdmin = errors.New("db: the last active admin cannot be deactivated or demoted")

// UpdateStaff changes name, role or active state and audits the change. The
// last active admin can be neither deactivated nor demoted.
func (s *Store) UpdateStaff(ctx context.Context, a Actor, id int64, u StaffUpdate) (Staff, error) {
	fe := FieldErrors{}
	if u.Name != nil {
		if n := strings.TrimSpace(*u.Name); n == "" || utf8.RuneCountInString(n) > 100 {
			fe["name"] = "Enter a name of 1 to 100 characters."
		}
	}
	if u.Role != nil && !validRole(*u.Role) {
		fe["role"] = "Choose admin, operator or auditor."
	}
	if len(fe) > 0 {
		return Staff{}, fe
	}
	var st Staff
	err := s.tx(ctx, func(tx *sql.Tx) error {
		old, err := scanStaff(tx.QueryRowContext(ctx, `SELECT `+staffColumns+` FROM staff WHERE id = ?`, id))
		if err != nil {
			return notFound(err)
		}
		st = old
		if u.Name != nil {
			st.Name = strings.TrimSpace(*u.Name)
		}
		if u.Role != nil {
			st.Role = *u.Role
		}
		if u.Active != nil {
			st.Active = *u.Active
		}
		losesAdmin := old.Role == RoleAdmin && old.Active && (st.Role != RoleAdmin || !st.Active)
		if losesAdmin {
			var admins int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM staff WHERE role = 'admin' AND active = 1`).Scan(&admins); err != nil {
				return err
			}
			if admins <= 1 {
				return ErrLastAdmin
			}
		}
		detail := map[string]any{}
		if st.Name != old.Name {
			detail["name"] = []string{old.Name, st.Name}
		}
		if st.Role != old.Role {
			detail["role"] = []string{old.Role, st.Role}
		}
		if st.Active != old.Active {
			detail["active"] = []bool{old.Active, st.Active}
		}
		if len(detail) == 0 {
			return nil
		}
		now := s.now()
		st.UpdatedAt = now.UTC()
		if _, err := tx.ExecContext(ctx, `UPDATE staff SET name = ?, role = ?, active = ?, updated_at = ? WHERE id = ?`,
			st.Name, st.Role, boolInt(st.Active), FormatTime(now), id); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionStaffUpdated, "staff", fmt.Sprint(id), detail)
	})
	if err != nil {
		if errors.Is(err, ErrLastAdmin) || errors.Is(err, ErrNotFound) {
			return Staff{}, err
		}
		return Staff{}, fmt.Errorf("db: update staff %d: %w", id, err)
	}
	return st, nil
}

// ChangePassword sets a new password after checking the current one, and
// audits it. Wrong current passwords, and a new password equal to the
// current one, come back as field errors. It clears MustChangePassword and
// ends every session of the staff member.
func (s *Store) ChangePassword(ctx context.Context, a Actor, id int64, current, next string) error {
	var hash string
	if err := s.r.QueryRowContext(ctx, `SELECT password_hash FROM staff WHERE id = ?`, id).Scan(&hash); err != nil {
		return fmt.Errorf("db: change password %d: %w", id, notFound(err))
	}
	fe := FieldErrors{}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(current)) != nil {
		fe["current"] = "That is not your current password."
	}
	if msg := validatePassword(next); msg != "" {
		fe["password"] = msg
	} else if next == current {
		fe["password"] = "Choose a new password, not the current one."
	}
	if len(fe) > 0 {
		return fe
	}
	newHash, err := bcrypt.GenerateFromPassword([]byte(next), s.cost)
	if err != nil {
		return fmt.Errorf("db: hash password: %w", err)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE staff SET password_hash = ?, updated_at = ?, session_epoch = session_epoch + 1, must_change_password = 0 WHERE id = ?`, string(newHash), FormatTime(s.now()), id); err != nil {
			return fmt.Errorf("db: change password %d: %w", id, err)
		}
		return s.appendAudit(ctx, tx, a, ActionPasswordChange, "staff", fmt.Sprint(id), nil)
	})
}

// ResetPassword replaces a staff member's password with one handed over by
// an administrator (`linkdesk staff reset-password`) and audits it. The
// password works for one sign-in only in the sense that matters: until a new
// one is chosen, every request leads to the password-change page. The reset
// ends every open session of that person and clears their sign-in failures,
// so a throttled email can sign in at once.
func (s *Store) ResetPassword(ctx context.Context, a Actor, id int64, password string) error {
	if msg := validatePassword(password); msg != "" {
		return FieldErrors{"password": msg}
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return fmt.Errorf("db: hash password: %w", err)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var email string
		err := tx.QueryRowContext(ctx, `UPDATE staff SET password_hash = ?, must_change_password = 1, session_epoch = session_epoch + 1, updated_at = ?
			WHERE id = ? RETURNING email`, string(hash), FormatTime(s.now()), id).Scan(&email)
		if err != nil {
			return notFound(err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM signin_throttles WHERE email = ?`, email); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionPasswordReset, "staff", fmt.Sprint(id), map[string]any{"email": email, "must_change_password": true})
	})
	if err != nil {
		return fmt.Errorf("db: reset password %d: %w", id, err)
	}
	return nil
}

// ErrBadCredentials is the one failure for an unknown email, a wrong
// password and a deactivated account, so the answer leaks nothing.
var ErrBadCredentials = errors.New("db: bad credentials")

// AccessEndedError is the failure of a right password whose time-boxed
// access has ended: only someone who knows the password learns it.
type AccessEndedError struct{ Until time.Time }

func (e *AccessEndedError) Error() string {
	return "db: access ended at " + e.Until.Format(time.RFC3339)
}

// maxEmailLen bounds what a sign-in attempt stores: a longer "email" is
// cut, so a hostile form cannot grow the database.
const maxEmailLen = 254

// SignInAttempt is one try at the password step of sign-in.
type SignInAttempt struct {
	Email, Password string
	IP, UserAgent   string
	// Device is the id of the browser's device cookie when it holds one
	// for this email (it signed in as this email before), else "".
	Device string
}

// Authenticate checks an email and password (see SignIn).
func (s *Store) Authenticate(ctx context.Context, email, password, ip, userAgent string) (Staff, error) {
	return s.SignIn(ctx, SignInAttempt{Email: email, Password: password, IP: ip, UserAgent: userAgent})
}

// SignIn checks the password step of a sign-in attempt under the
// throttles of throttle.go: it refuses a throttled attempt with a
// *ThrottledError before comparing anything, records failures, and audits
// success and failure. A correct password from a source that has not been
// failing is accepted, whatever others tried.
func (s *Store) SignIn(ctx context.Context, at SignInAttempt) (Staff, error) {
	email := truncate(normalizeEmail(at.Email), maxEmailLen)
	ip := truncate(at.IP, 64)
	now := s.now().UTC()
	pair := throttleKey{scope: ThrottlePair, email: email, source: "ip:" + ip}
	if at.Device != "" {
		pair.source = "device:" + truncate(at.Device, 64)
	}
	addr := throttleKey{scope: ThrottleIP, source: "ip:" + ip}
	var refused *ThrottledError
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// Serialized with every other sign-in (the single writer on SQLite;
		// the dialect's lock on PostgreSQL, whatever instance the attempt
		// reaches), so that concurrent guesses read and move the throttles
		// one at a time.
		if err := s.d.lock(ctx, tx, "sign-in"); err != nil {
			return err
		}
		if err := pruneThrottles(ctx, tx, now); err != nil {
			return err
		}
		p, err := readThrottle(ctx, tx, pair)
		if err != nil {
			return err
		}
		if p.blocked.After(now) {
			refused = &ThrottledError{RetryAt: p.blocked}
			return nil
		}
		if at.Device == "" && ip != "" {
			a, err := readThrottle(ctx, tx, addr)
			if err != nil {
				return err
			}
			level := a.levelAt(now)
			if retry := ipRetry(level+1, now); !retry.IsZero() {
				refused = &ThrottledError{RetryAt: retry, ByAddress: true}
				return nil
			}
			// A provisional failure, undone on success.
			if err := writeThrottle(ctx, tx, addr, throttle{level: level + 1, updated: now}); err != nil {
				return err
			}
		}
		return writeThrottle(ctx, tx, pair, p.failure(now))
	})
	if err != nil {
		return Staff{}, fmt.Errorf("db: authenticate: %w", err)
	}
	if refused != nil {
		return Staff{}, refused
	}

	var hash string
	st, err := scanStaff(s.r.QueryRowContext(ctx, `SELECT `+staffColumns+`, password_hash FROM staff WHERE email = ?`, email), &hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Staff{}, fmt.Errorf("db: authenticate: %w", err)
	}
	ok := false
	if err == nil {
		ok = bcrypt.CompareHashAndPassword([]byte(hash), []byte(at.Password)) == nil && st.Active
	} else {
		// Same cost as a real comparison, so timing reveals nothing.
		s.burnDummyHash(at.Password)
	}
	a := Actor{StaffID: st.ID, Email: email, IP: ip, UserAgent: at.UserAgent}
	if !ok {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			target := ""
			if st.ID != 0 {
				target = fmt.Sprint(st.ID)
			}
			return s.appendAudit(ctx, tx, a, ActionSignInFailed, "staff", target, map[string]any{"email": email})
		})
		if err != nil {
			return Staff{}, fmt.Errorf("db: record sign-in failure: %w", err)
		}
		return Staff{}, ErrBadCredentials
	}
	ended := st.AccessEnded(now)
	err = s.tx(ctx, func(tx *sql.Tx) error {
		// The right password clears the failures of its own key (only:
		// the owner signing in from their browser must not reset a
		// guesser's wait behind the same address), and takes back the
		// provisional failure of the address.
		if err := deleteThrottle(ctx, tx, pair); err != nil {
			return err
		}
		if at.Device == "" && ip != "" {
			b, err := readThrottle(ctx, tx, addr)
			if err != nil {
				return err
			}
			if err := writeThrottle(ctx, tx, addr, throttle{level: max(0, b.levelAt(now)-1), updated: now}); err != nil {
				return err
			}
		}
		if ended {
			return s.appendAudit(ctx, tx, a, ActionSignInExpired, "staff", fmt.Sprint(st.ID), map[string]any{"access_until": FormatTime(st.AccessUntil)})
		}
		// With a second factor, this was only the first of two steps.
		action := ActionSignIn
		if st.SecondFactor {
			action = ActionPasswordAccepted
		}
		return s.appendAudit(ctx, tx, a, action, "staff", fmt.Sprint(st.ID), nil)
	})
	if err != nil {
		return Staff{}, fmt.Errorf("db: record sign-in: %w", err)
	}
	if ended {
		return Staff{}, &AccessEndedError{Until: st.AccessUntil}
	}
	return st, nil
}

// SignOut ends every session of the staff member (the session epoch moves
// on, so a copied cookie stops working too) and audits it.
func (s *Store) SignOut(ctx context.Context, a Actor) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE staff SET session_epoch = session_epoch + 1 WHERE id = ?`, a.StaffID); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionSignOut, "staff", fmt.Sprint(a.StaffID), nil)
	})
}

// Audit actions of time-boxed access.
const (
	// ActionStaffAccessUntil sets or clears when a staff member's access
	// ends.
	ActionStaffAccessUntil = "staff.access_until"
	// ActionSignInExpired is a right password refused because access ended.
	ActionSignInExpired = "staff.sign_in_expired"
)

// SetAccessUntil sets when a staff member's access ends (until zero
// clears it): after it they cannot sign in and their open sessions end.
// Admins give end dates to auditor accounts only (an outside auditor's
// engagement has an end; operators and admins are deactivated instead).
func (s *Store) SetAccessUntil(ctx context.Context, a Actor, id int64, until time.Time) (Staff, error) {
	var st Staff
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if st, err = scanStaff(tx.QueryRowContext(ctx, `SELECT `+staffColumns+` FROM staff WHERE id = ?`, id)); err != nil {
			return notFound(err)
		}
		if st.Role != RoleAuditor && !until.IsZero() {
			return FieldErrors{"access_until": "Only auditor accounts get an access end date; deactivate others instead."}
		}
		if st.AccessUntil.Equal(until) {
			return nil
		}
		var v any
		detail := map[string]any{"access_until": nil}
		if !until.IsZero() {
			v = FormatTime(until)
			detail["access_until"] = v
		}
		if !st.AccessUntil.IsZero() {
			detail["was"] = FormatTime(st.AccessUntil)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE staff SET access_until = ?, updated_at = ? WHERE id = ?`, v, FormatTime(s.now()), id); err != nil {
			return err
		}
		st.AccessUntil = until.UTC()
		return s.appendAudit(ctx, tx, a, ActionStaffAccessUntil, "staff", fmt.Sprint(id), detail)
	})
	var fe FieldErrors
	switch {
	case errors.As(err, &fe), errors.Is(err, ErrNotFound):
		return Staff{}, err
	case err != nil:
		return Staff{}, fmt.Errorf("db: set access end of %d: %w", id, err)
	}
	return st, nil
}

// EnsureAdmin creates an admin with the given email and password when no
// staff exists yet. It reports whether it created one: instances starting
// together on one database race to it, and the losers find staff there.
func (s *Store) EnsureAdmin(ctx context.Context, email, password string) (bool, error) {
	n, err := s.countStaff(ctx)
	if err != nil || n > 0 {
		return false, err
	}
	_, err = s.CreateStaff(ctx, Actor{Email: "system", IP: "local"}, StaffCreate{Email: email, Name: "Administrator", Role: RoleAdmin, Password: password})
	if err != nil {
		if n, cerr := s.countStaff(ctx); cerr == nil && n > 0 {
			return false, nil // another instance created it meanwhile
		}
		return false, err
	}
	return true, nil
}
