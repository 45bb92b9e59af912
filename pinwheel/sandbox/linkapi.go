package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"hash/fnv"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"linkdesk/pinwheel"
)

// Sandbox credentials (docs/pinwheel.md#sandbox).
const (
	passGood    = "pass_good"
	mfaCode     = "mfa_code"
	userGood    = "user_good"
	userMFA     = "user_mfa"
	userError   = "user_error"
	userPending = "user_pending"
)

var sandboxUsers = []string{userGood, userMFA, userError, userPending}

// Steps of a Link session; each is also the screen the iframe shows.
const (
	stepIntro      = "intro"
	stepSearch     = "search"
	stepLogin      = "login"
	stepMFA        = "mfa"
	stepAllocation = "allocation"
	stepSuccess    = "success"
	stepError      = "error"
	stepExited     = "exited"
)

// screenNames are the screen_transition names of the steps whose real name
// a public source gives (docs/pinwheel.md#link-events: LOGIN, SEARCH_DEFAULT,
// JOB_SUCCESS; also seen: PROVIDER_CONFIRMATION, EXIT_CONFIRMATION). The
// names of the intro, MFA, allocation and error screens are not documented
// publicly (docs/pinwheel.md#undocumented): we chose to fire no
// screen_transition for them rather than invent names a client could come
// to depend on.
var screenNames = map[string]string{
	stepSearch:  "SEARCH_DEFAULT",
	stepLogin:   "LOGIN",
	stepSuccess: "JOB_SUCCESS",
}

// linkError is the payload of the Link error event (and of onExit after an
// error): {type, code, message, pendingRetry}.
type linkError struct {
	Type         string `json:"type"`
	Code         string `json:"code"`
	Message      string `json:"message"`
	PendingRetry bool   `json:"pendingRetry"`
	status       int
}

func (le *linkError) payload() obj {
	return obj{{"type", le.Type}, {"code", le.Code}, {"message", le.Message}, {"pendingRetry", le.PendingRetry}}
}

func errInvalidToken(code, msg string) *linkError {
	return &linkError{Type: "invalidLinkToken", Code: code, Message: msg, status: http.StatusBadRequest}
}

// The job error of user_error and of user_pending after its delay. The
// type/code the sandbox produces is not documented publicly
// (docs/pinwheel.md#undocumented): we chose systemError/systemError, a
// documented pair ("an unhandled error when a payroll integration behaves in
// an unexpected manner").
const (
	jobErrorType = linkCodeSystemError
	jobErrorCode = linkCodeSystemError
)

// sessionState is a Link session as stored.
type sessionState struct {
	ID         string        `json:"id"`
	TokenID    string        `json:"token_id"`
	CreatedAt  time.Time     `json:"created_at"`
	Step       string        `json:"step"`
	PlatformID string        `json:"platform_id,omitempty"`
	EmployerID string        `json:"employer_id,omitempty"`
	AccountID  string        `json:"account_id,omitempty"`
	Username   string        `json:"username,omitempty"`
	ODU        bool          `json:"odu,omitempty"`
	Relogin    bool          `json:"relogin,omitempty"`
	Message    string        `json:"message,omitempty"`
	Job        string        `json:"job,omitempty"`
	Error      *linkError    `json:"error,omitempty"`
	Switch     *switchChoice `json:"switch,omitempty"`
	// PrevScreen is the last screen name fired (for previousScreenName).
	PrevScreen string `json:"prev_screen,omitempty"`
}

// clientEvent is one Link client event for the iframe to relay to the page.
type clientEvent struct {
	Name    string `json:"name"`
	Payload obj    `json:"payload"`
}

// named is an id and a display name.
type named struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// targetView is a switch target as shown in Link: never the full number.
type targetView struct {
	Index               int    `json:"index"`
	Name                string `json:"name"`
	Type                string `json:"type"`
	MaskedAccountNumber string `json:"masked_account_number"`
}

// allocationView describes the allocation screen.
type allocationView struct {
	Targets             []targetView `json:"targets"`
	FixedType           string       `json:"fixed_type,omitempty"`
	FixedValue          *float64     `json:"fixed_value,omitempty"`
	MinAmount           *float64     `json:"min_amount,omitempty"`
	SplittingAllowed    bool         `json:"splitting_allowed"`
	PercentageSupported bool         `json:"percentage_supported"`
}

// screenView is the screen the iframe renders next.
type screenView struct {
	Name       string          `json:"name"`
	OrgName    string          `json:"org_name,omitempty"`
	Platform   *named          `json:"platform,omitempty"`
	Employer   *named          `json:"employer,omitempty"`
	Message    string          `json:"message,omitempty"`
	Allocation *allocationView `json:"allocation,omitempty"`
	Job        string          `json:"job,omitempty"`
	AccountID  string          `json:"account_id,omitempty"`
	Error      *linkError      `json:"error,omitempty"`
}

// tokenView is what Link may know about its token (targets masked).
type tokenView struct {
	ID         string   `json:"link_token_id"`
	OrgName    string   `json:"org_name"`
	Jobs       []string `json:"jobs"`
	AccountID  string   `json:"account_id,omitempty"`
	EmployerID string   `json:"employer_id,omitempty"`
	PlatformID string   `json:"platform_id,omitempty"`
	SkipIntro  bool     `json:"skip_intro_screen"`
	Language   string   `json:"language"`
	Expires    string   `json:"expires"`
	// Allocation is the token's switch setup with targets masked.
	Allocation *tokenAllocationView `json:"allocation,omitempty"`
}

// tokenAllocationView is a token's allocation as Link may see it.
type tokenAllocationView struct {
	Type      string       `json:"type,omitempty"`
	Value     *float64     `json:"value,omitempty"`
	MinAmount *float64     `json:"min_amount,omitempty"`
	Targets   []targetView `json:"targets"`
}

// apiAnswer is every link-api response: the next screen and the client
// events to fire, in order.
type apiAnswer struct {
	SessionID string        `json:"session_id,omitempty"`
	Screen    screenView    `json:"screen"`
	Events    []clientEvent `json:"events"`
	Token     *tokenView    `json:"token,omitempty"`
	Error     *linkError    `json:"error,omitempty"`
}

// flow carries one link-api request through the session state machine.
type flow struct {
	e      *Emulator
	ctx    context.Context
	st     *sessionState
	spec   *tokenSpec
	events []clientEvent
}

func (f *flow) fire(name string, payload obj) {
	if payload == nil {
		payload = obj{}
	}
	f.events = append(f.events, clientEvent{Name: name, Payload: payload})
}

// goTo moves to step. For a step whose screen name is known it fires what
// the recorded session shows for a new screen: other_event
// screen_transition_expanded (every field as a {key, value, type} entry,
// plus previousScreenName, "null" on the first screen), then
// screen_transition. The login screen names the chosen employer and
// platform; the success screen carries only its name (recorded).
func (f *flow) goTo(step string) {
	f.st.Step = step
	name, ok := screenNames[step]
	if !ok {
		return
	}
	p := obj{{"screenName", name}}
	if step == stepLogin {
		if emp, ok := findEmployer(f.st.EmployerID); ok {
			p = append(p, kv{"selectedEmployerId", emp.ID}, kv{"selectedEmployerName", emp.Name})
		}
		if pl, ok := findPlatform(f.st.PlatformID); ok {
			p = append(p, kv{"selectedPlatformId", pl.ID}, kv{"selectedPlatformName", pl.Name})
		}
	}
	entries := make([]obj, 0, len(p)+1)
	for _, e := range p {
		entries = append(entries, obj{{"key", e.K}, {"value", e.V}, {"type", "string"}})
	}
	prev := cmpOr(f.st.PrevScreen, "null")
	entries = append(entries, obj{{"key", "previousScreenName"}, {"value", prev}, {"type", "string"}})
	f.fire("other_event", obj{{"name", "screen_transition_expanded"}, {"payload", entries}})
	f.fire("screen_transition", p)
	f.st.PrevScreen = name
}

// inputSubmit fires the recorded other_event of a submitted login form.
func (f *flow) inputSubmit(fields ...string) {
	entries := make([]obj, 0, len(fields))
	for _, name := range fields {
		entries = append(entries, obj{{"key", "input_type"}, {"type", "string"}, {"value", name}})
	}
	f.fire("other_event", obj{{"name", "input_submit"}, {"payload", entries}})
}

// sessionLocks serialises requests of one session (striped by id).
type sessionLocks [64]sync.Mutex

func (l *sessionLocks) lock(id string) func() {
	h := fnv.New32a()
	h.Write([]byte(id))
	m := &l[h.Sum32()%uint32(len(l))]
	m.Lock()
	return m.Unlock
}

// ---- handlers ----

// apiOpen handles POST /link-api/sessions {link_token}: validates the token
// and starts a session (event open, then the first screen).
func (e *Emulator) apiOpen(w http.ResponseWriter, r *http.Request) {
	var body struct {
		LinkToken string `json:"link_token"`
	}
	if !e.decodeLinkBody(w, r, &body) {
		return
	}
	ctx := r.Context()
	row, lerr, err := e.loadToken(ctx, strings.TrimSpace(body.LinkToken))
	if err != nil {
		e.linkFail(w, r, err)
		return
	}
	if lerr != nil {
		e.writeLinkError(w, lerr, []clientEvent{{Name: "open", Payload: obj{}}, {Name: "error", Payload: lerr.payload()}})
		return
	}
	f := &flow{e: e, ctx: ctx, spec: &row.Spec, st: &sessionState{ID: newID(), TokenID: row.Spec.ID, CreatedAt: e.now()}}
	f.fire("open", nil)
	if err := f.start(); err != nil {
		e.linkFail(w, r, err)
		return
	}
	e.finish(w, r, f, true)
}

// start picks the first screen of a new session.
func (f *flow) start() error {
	if f.spec.AccountID != "" {
		f.st.ODU, f.st.AccountID = true, f.spec.AccountID
		a, err := f.e.store.account(f.ctx, f.e.store.db, f.spec.AccountID)
		if err != nil {
			return err
		}
		f.st.PlatformID = a.PlatformID
		f.st.EmployerID = a.EmployerID
		if !a.Connected {
			// The Link error for an On Demand Update on a disconnected
			// account is not documented publicly (docs/pinwheel.md#undocumented): we chose
			// the documented job error userActionRequired/accountNotActive
			// because it names exactly this state.
			f.fail(&linkError{Type: "userActionRequired", Code: linkCodeAccountNotActive,
				Message: "This account is disconnected. Connect it again."})
			return nil
		}
	}
	if !f.spec.SkipIntro {
		f.goTo(stepIntro)
		return nil
	}
	return f.enter()
}

// enter moves past the intro screen.
func (f *flow) enter() error {
	if f.st.ODU {
		return f.enterODU()
	}
	switch {
	case f.spec.EmployerID != "":
		emp, _ := findEmployer(f.spec.EmployerID)
		f.st.EmployerID, f.st.PlatformID = emp.ID, emp.PlatformID
		f.goTo(stepLogin)
	case f.spec.PlatformID != "":
		f.st.PlatformID = f.spec.PlatformID
		f.goTo(stepLogin)
	default:
		f.goTo(stepSearch)
	}
	return nil
}

// enterODU starts an On Demand Update: silent while the account is
// monitorable, a fresh login when it is user_action_required, the MFA step
// for user_mfa accounts.
//
// Which statuses ask for credentials is not documented publicly (docs/pinwheel.md#undocumented):
// we chose only user_action_required, because the sandbox docs pair it alone
// with a new login; degraded, customer_disabled and unavailable accounts take
// the silent path.
func (f *flow) enterODU() error {
	a, err := f.e.store.account(f.ctx, f.e.store.db, f.st.AccountID)
	if err != nil {
		return err
	}
	switch {
	case a.MonitoringStatus == pinwheel.StatusUserActionRequired:
		f.st.Relogin = true
		f.goTo(stepLogin)
		return nil
	case a.Username == userMFA:
		f.st.Username = userMFA
		f.goTo(stepMFA)
		return nil
	}
	return f.e.writeTx(f.ctx, func(tx *sql.Tx) error { return f.afterLogin(tx, a) })
}

func (f *flow) fail(le *linkError) {
	f.st.Error = le
	f.fire("error", le.payload())
	f.goTo(stepError)
}

// apiContinue handles POST /link-api/sessions/{id}/continue (leave the intro).
func (e *Emulator) apiContinue(w http.ResponseWriter, r *http.Request) {
	e.step(w, r, []string{stepIntro}, nil, func(f *flow) error { return f.enter() })
}

// apiSelect handles POST /link-api/sessions/{id}/select {platform_id | employer_id}.
func (e *Emulator) apiSelect(w http.ResponseWriter, r *http.Request) {
	var body struct {
		PlatformID string `json:"platform_id"`
		EmployerID string `json:"employer_id"`
	}
	e.step(w, r, []string{stepSearch}, &body, func(f *flow) error {
		if emp, ok := findEmployer(strings.ToLower(body.EmployerID)); ok {
			p, _ := findPlatform(emp.PlatformID)
			if !emp.supports(f.spec.Jobs) {
				return errUnsupported
			}
			f.st.EmployerID, f.st.PlatformID = emp.ID, p.ID
			f.fire("select_employer", obj{{"selectedEmployerId", emp.ID}, {"selectedEmployerName", emp.Name}})
			f.goTo(stepLogin)
			return nil
		}
		if p, ok := findPlatform(strings.ToLower(body.PlatformID)); ok {
			if !p.supports(f.spec.Jobs) {
				return errUnsupported
			}
			f.st.PlatformID = p.ID
			f.fire("select_platform", obj{{"selectedPlatformId", p.ID}, {"selectedPlatformName", p.Name}})
			f.goTo(stepLogin)
			return nil
		}
		return errUnknownSelection
	})
}

var (
	errUnsupported      = &linkError{Type: "clientError", Code: linkCodeUnsupported, Message: "This employer or platform does not support the requested jobs.", status: http.StatusUnprocessableEntity}
	errUnknownSelection = &linkError{Type: "clientError", Code: linkCodeUnknownSelection, Message: "Choose an employer or platform from the search results.", status: http.StatusUnprocessableEntity}
)

// Error implements error so step functions can return a client error.
func (le *linkError) Error() string { return "sandbox: link " + le.Type + " " + le.Code }

// apiLogin handles POST /link-api/sessions/{id}/login {username, password}.
func (e *Emulator) apiLogin(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	e.step(w, r, []string{stepLogin}, &body, func(f *flow) error {
		f.fire("login_attempt", obj{{"platformId", f.st.PlatformID}})
		f.inputSubmit("username", "password")
		user := strings.TrimSpace(body.Username)
		if !slices.Contains(sandboxUsers, user) || body.Password != passGood {
			// invalidCredentials is the documented code of a wrong password
			// (docs/pinwheel.md#link-errors); its type is not documented publicly (docs/pinwheel.md#undocumented):
			// we chose invalidUserInput, the job error type for user input.
			le := &linkError{Type: "invalidUserInput", Code: linkCodeInvalidCredential,
				Message: "The username or password is incorrect."}
			f.fire("error", le.payload())
			f.st.Message = le.Message
			return nil
		}
		f.st.Message = ""
		f.st.Username = user
		if user == userMFA {
			f.goTo(stepMFA)
			return nil
		}
		return f.e.writeTx(f.ctx, f.login)
	})
}

// apiMFA handles POST /link-api/sessions/{id}/mfa {code}.
func (e *Emulator) apiMFA(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Code string `json:"code"`
	}
	e.step(w, r, []string{stepMFA}, &body, func(f *flow) error {
		if strings.TrimSpace(body.Code) != mfaCode {
			le := &linkError{Type: "invalidUserInput", Code: linkCodeChallenge,
				Message: "The verification code is incorrect."}
			f.fire("error", le.payload())
			f.st.Message = le.Message
			return nil
		}
		f.st.Message = ""
		return f.e.writeTx(f.ctx, f.login)
	})
}

// login completes a successful login inside tx: it creates (or reuses) the
// account and sends account.added, or, for an On Demand Update that needed
// a login, makes the account active again and sends
// account.monitoring_status.updated. Then the jobs run (afterLogin).
func (f *flow) login(tx *sql.Tx) error {
	ctx, e, now := f.ctx, f.e, f.e.now()
	var a *account
	var err error
	if f.st.ODU {
		if a, err = e.store.account(ctx, tx, f.st.AccountID); err != nil {
			return err
		}
		a.Username = f.st.Username
		if a.MonitoringStatus == pinwheel.StatusUserActionRequired {
			a.MonitoringStatus = pinwheel.StatusActive
			if err := updateAccount(ctx, tx, a); err != nil {
				return err
			}
			if err := e.emit(ctx, tx, accountEvent(pinwheel.EventMonitoringStatusUpdated, a, f.spec.ID)); err != nil {
				return err
			}
		} else if err := updateAccount(ctx, tx, a); err != nil {
			return err
		}
	} else {
		// Whether a repeated login reuses the account is not documented publicly (docs/pinwheel.md#undocumented):
		// we chose to reuse it for the same end user on the same platform
		// because a payroll login is one account; every non-ODU login sends
		// account.added, the webhook counterpart of onLogin.
		a, err = accountByUserPlatform(ctx, tx, f.spec.EndUserID, f.st.PlatformID)
		switch {
		case errors.Is(err, errNotFound):
			a = &account{ID: newID(), EndUserID: f.spec.EndUserID, PlatformID: f.st.PlatformID,
				EmployerID: f.st.EmployerID, Username: f.st.Username, LinkTokenID: f.spec.ID,
				Jobs: f.spec.Jobs, Tags: f.spec.Tags, Connected: true, MonitoringStatus: pinwheel.StatusActive,
				CreatedAt: now, SyncedThrough: now}
			if a.Pay, err = presetPay(ctx, tx, a.EndUserID, a.PlatformID); err != nil {
				return err
			}
			if err := insertAccount(ctx, tx, a); err != nil {
				return err
			}
			if err := saveAllocations(ctx, tx, a.ID, initialAllocations(a)); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			a.Username = f.st.Username
			a.Connected, a.MonitoringStatus = true, pinwheel.StatusActive
			for _, j := range f.spec.Jobs {
				if !slices.Contains(a.Jobs, j) {
					a.Jobs = append(a.Jobs, j)
				}
			}
			if err := updateAccount(ctx, tx, a); err != nil {
				return err
			}
		}
		if err := e.emit(ctx, tx, accountEvent(pinwheel.EventAccountAdded, a, f.spec.ID)); err != nil {
			return err
		}
	}
	f.st.AccountID = a.ID
	f.fire("login", obj{{"platformId", a.PlatformID}, {"accountId", a.ID}})
	return f.afterLogin(tx, a)
}

// jobs returns the jobs this session runs. What an On Demand Update token
// without jobs runs is not documented publicly (docs/pinwheel.md#undocumented): we chose the
// jobs the account was connected with.
func (f *flow) jobs(a *account) []string {
	if len(f.spec.Jobs) > 0 || a == nil {
		return f.spec.Jobs
	}
	return a.Jobs
}

// afterLogin runs the session's jobs inside tx: the read jobs (the token's
// and the fan-out of sessionReadJobs) finish in the background, so Link
// fires success with job "login" right after login unless a switch was asked
// for (docs/pinwheel.md#link-events: "For all other jobs this event will fire
// when the user logs in successfully, as these jobs are completed in the
// background"). user_error and user_pending accounts fail their jobs: the
// read jobs only by webhook, a switch also in Link.
func (f *flow) afterLogin(tx *sql.Tx, a *account) error {
	ctx, e, now := f.ctx, f.e, f.e.now()
	jobs := f.jobs(a)
	rc := &runContext{acc: a, linkTokenID: f.spec.ID, now: now}
	reads := sessionReadJobs(a, jobs)
	if err := loadPayExtras(ctx, tx, a); err != nil {
		return err
	}
	switch a.Username {
	case userError, userPending:
		if err := f.failJobs(tx, rc, reads, nil); err != nil {
			return err
		}
	default:
		if err := e.emit(ctx, tx, successEvents(rc, reads)...); err != nil {
			return err
		}
		if err := updateAccount(ctx, tx, a); err != nil {
			return err
		}
	}
	if slices.Contains(jobs, pinwheel.JobDDSwitch) {
		f.goTo(stepAllocation)
		return nil
	}
	if err := consumeToken(ctx, tx, f.spec.ID, now); err != nil {
		return err
	}
	f.st.Job = pinwheel.JobLogin
	f.fire("success", obj{{"accountId", a.ID}, {"platformId", a.PlatformID}, {"job", pinwheel.JobLogin}})
	f.goTo(stepSuccess)
	return nil
}

// failJobs reports the jobs of a user_error (outcome error) or user_pending
// (outcome pending, then error after PendingDelay with the same job ids)
// account. sw is the user's choice when the job is a switch.
func (f *flow) failJobs(tx *sql.Tx, rc *runContext, jobs []string, sw *switchChoice) error {
	ctx, e, a := f.ctx, f.e, rc.acc
	outcome, errType, errCode := pinwheel.OutcomeError, jobErrorType, jobErrorCode
	if a.Username == userPending {
		outcome, errType, errCode = pinwheel.OutcomePending, "", ""
	}
	evs, runs := failedEvents(rc, jobs, outcome, errType, errCode)
	if sw != nil {
		for _, ev := range evs {
			c := *sw
			ev.job.Params = func(v string) obj { return switchParams(c, v) }
			ev.payload = ev.job.payload
		}
	}
	if err := e.emit(ctx, tx, evs...); err != nil {
		return err
	}
	if a.Username != userPending {
		return nil
	}
	flip := pendingFlip{AccountID: a.ID, LinkTokenID: f.spec.ID, EndUserID: a.EndUserID, PlatformID: a.PlatformID}
	for _, j := range runs {
		flip.Jobs = append(flip.Jobs, pendingJob{ID: j.ID, Name: j.Name, Switch: sw})
	}
	return insertTask(ctx, tx, taskPendingFlip, time.Now().Add(e.cfg.PendingDelay), flip)
}

// jobError is Link's error event for a failed switch of a user_error or
// user_pending account.
func jobError(username string) *linkError {
	if username == userPending {
		return &linkError{Type: jobErrorType, Code: jobErrorCode, PendingRetry: true,
			Message: "The payroll platform is slow to respond. We will keep trying."}
	}
	return &linkError{Type: jobErrorType, Code: jobErrorCode, Message: "The payroll platform is unavailable. Try again later."}
}

// allocationBody is the body of POST /link-api/sessions/{id}/allocation.
type allocationBody struct {
	Action      string   `json:"action"`
	Type        string   `json:"type"`
	Value       *float64 `json:"value"`
	TargetIndex int      `json:"target_index"`
}

// defaultTarget is used when a switch token names no targets.
// What Link does then is not documented publicly (docs/pinwheel.md#undocumented) (real
// Link may ask the user for bank details): we chose a fixed sandbox account
// so the switch can finish.
var defaultTarget = target{Name: "Sandbox Checking", Type: "checking", RoutingNumber: "021000021", AccountNumber: "000123456789"}

func (f *flow) targets() []target {
	if f.spec.Allocation != nil && len(f.spec.Allocation.Targets) > 0 {
		return f.spec.Allocation.Targets
	}
	return []target{defaultTarget}
}

// apiAllocation handles POST /link-api/sessions/{id}/allocation
// {action, type, value, target_index}.
func (e *Emulator) apiAllocation(w http.ResponseWriter, r *http.Request) {
	var body allocationBody
	e.step(w, r, []string{stepAllocation}, &body, func(f *flow) error {
		choice, msg := f.checkAllocation(body)
		if msg != "" {
			le := &linkError{Type: "invalidUserInput", Code: linkCodeInvalidAllocation, Message: msg}
			f.fire("error", le.payload())
			f.st.Message = msg
			return nil
		}
		f.st.Message = ""
		input := obj{{"action", choice.Action}}
		switch {
		case choice.Action == pinwheel.ActionFullSwitch:
		case choice.Type == pinwheel.AllocationRemainder:
			input = append(input, kv{"allocation", obj{{"type", choice.Type}}})
		default:
			input = append(input, kv{"allocation", obj{{"type", choice.Type}, {"value", number(*choice.Value)}}})
		}
		f.fire("input_allocation", input)
		return f.e.writeTx(f.ctx, func(tx *sql.Tx) error { return f.doSwitch(tx, choice, input) })
	})
}

// checkAllocation validates the user's choice against the token: splitting
// may be disabled, a fixed amount is preselected, min_amount is respected.
func (f *flow) checkAllocation(b allocationBody) (switchChoice, string) {
	ts := f.targets()
	if b.TargetIndex < 0 || b.TargetIndex >= len(ts) {
		return switchChoice{}, "Choose one of the listed accounts."
	}
	c := switchChoice{Action: b.Action, Type: b.Type, Value: b.Value, Target: ts[b.TargetIndex]}
	alloc := f.spec.Allocation
	if alloc != nil && alloc.Type == pinwheel.AllocationAmount && alloc.Value != nil {
		c.Action, c.Type, c.Value = pinwheel.ActionPartialSwitch, pinwheel.AllocationAmount, alloc.Value
	}
	switch c.Action {
	case pinwheel.ActionFullSwitch:
		c.Type, c.Value = "", nil
		return c, ""
	case pinwheel.ActionPartialSwitch:
	default:
		return c, "Choose a full or a partial switch."
	}
	if f.spec.DisableSplitting {
		return c, "Only a full switch is available."
	}
	switch c.Type {
	case pinwheel.AllocationRemainder:
		c.Value = nil
	case pinwheel.AllocationAmount:
		if c.Value == nil || *c.Value <= 0 {
			return c, "Enter an amount greater than 0."
		}
		if alloc != nil && alloc.MinAmount != nil && *c.Value < *alloc.MinAmount {
			return c, "The amount is below the minimum."
		}
		if *c.Value > 10000 {
			return c, "The amount is above the maximum."
		}
	case pinwheel.AllocationPercentage:
		if c.Value == nil || *c.Value < 1 || *c.Value > 100 {
			return c, "Enter a percentage between 1 and 100."
		}
	default:
		return c, "Choose an amount, a percentage or the remainder."
	}
	return c, ""
}

// doSwitch applies a successful deposit switch inside tx.
func (f *flow) doSwitch(tx *sql.Tx, c switchChoice, input obj) error {
	ctx, e, now := f.ctx, f.e, f.e.now()
	a, err := e.store.account(ctx, tx, f.st.AccountID)
	if err != nil {
		return err
	}
	if a.Username == userError || a.Username == userPending {
		rc := &runContext{acc: a, linkTokenID: f.spec.ID, now: now}
		if err := f.failJobs(tx, rc, []string{pinwheel.JobDDSwitch}, &c); err != nil {
			return err
		}
		if err := consumeToken(ctx, tx, f.spec.ID, now); err != nil {
			return err
		}
		f.fail(jobError(a.Username))
		return nil
	}
	set, err := e.store.allocations(ctx, tx, a.ID)
	if errors.Is(err, errNotFound) {
		set, err = initialAllocations(a), nil
	}
	if err != nil {
		return err
	}
	applySwitch(set, c, now)
	if err := saveAllocations(ctx, tx, a.ID, set); err != nil {
		return err
	}
	setTime(&a.DataUpdatedAt, pinwheel.JobDDAllocations, now)
	setTime(&a.DataRefreshedAt, pinwheel.JobDDAllocations, now)
	if err := updateAccount(ctx, tx, a); err != nil {
		return err
	}
	rc := &runContext{acc: a, linkTokenID: f.spec.ID, now: now}
	// Whether a switch is followed by direct_deposit_allocations.added is
	// not documented publicly (docs/pinwheel.md#undocumented): we chose to send it because
	// Monitoring does when allocations change.
	evs := []*event{switchEvent(rc, c), rc.job(pinwheel.JobDDAllocations, pinwheel.OutcomeSuccess).event(pinwheel.EventDDAllocationsAdded)}
	if err := e.emit(ctx, tx, evs...); err != nil {
		return err
	}
	if err := consumeToken(ctx, tx, f.spec.ID, now); err != nil {
		return err
	}
	f.st.Job, f.st.Switch = pinwheel.JobDDSwitch, &c
	f.fire("success", obj{{"accountId", a.ID}, {"platformId", a.PlatformID}, {"job", pinwheel.JobDDSwitch},
		{"params", input}})
	f.goTo(stepSuccess)
	return nil
}

// apiExit handles POST /link-api/sessions/{id}/exit: fires exit (with the
// error payload when the session ended in an error) and closes the session.
func (e *Emulator) apiExit(w http.ResponseWriter, r *http.Request) {
	e.step(w, r, nil, nil, func(f *flow) error {
		payload := obj{}
		if f.st.Step == stepError && f.st.Error != nil {
			payload = f.st.Error.payload()
		}
		f.fire("exit", payload)
		f.st.Step = stepExited
		return nil
	})
}

// apiSession handles GET /link-api/sessions/{id}: the current screen, no
// events (for a reloaded iframe).
func (e *Emulator) apiSession(w http.ResponseWriter, r *http.Request) {
	e.step(w, r, nil, nil, func(*flow) error { return nil })
}

// apiSearch handles GET /link-api/search?q=&session_id=: employers and
// platforms for the search screen, filtered by the session token's jobs.
func (e *Emulator) apiSearch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var jobs []string
	if id := q.Get("session_id"); id != "" {
		if st, err := e.store.session(r.Context(), id); err == nil {
			if row, err := e.store.token(r.Context(), e.store.db, st.TokenID); err == nil {
				jobs = row.Spec.Jobs
			}
		}
	}
	res := search(q.Get("q"), jobs, nil, 20)
	items := make([]linkSearchResult, 0, len(res))
	for _, r := range res {
		items = append(items, linkSearchResult{ID: r.ID, Name: r.Name, PlatformType: r.PlatformType,
			ResponseType: r.ResponseType, PlatformID: r.PlatformID, LogoURL: r.LogoURL})
	}
	e.writeJSON(w, http.StatusOK, struct {
		Data []linkSearchResult `json:"data"`
		Meta struct {
			Count int `json:"count"`
		} `json:"meta"`
	}{Data: items, Meta: struct {
		Count int `json:"count"`
	}{len(items)}})
}

// linkSearchResult is a search row of the link-api (the emulator's own API).
type linkSearchResult struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	PlatformType string `json:"platform_type"`
	ResponseType string `json:"response_type"`
	PlatformID   string `json:"platform_id,omitempty"`
	LogoURL      string `json:"logo_url,omitempty"`
}

// step runs one session transition: it loads the session under its lock,
// checks the step is allowed, decodes body, runs fn and saves the session.
func (e *Emulator) step(w http.ResponseWriter, r *http.Request, allowed []string, body any, fn func(*flow) error) {
	if body != nil && !e.decodeLinkBody(w, r, body) {
		return
	}
	ctx := r.Context()
	id := r.PathValue("id")
	defer e.locks.lock(id)()
	st, err := e.store.session(ctx, id)
	if errors.Is(err, errNotFound) {
		e.writeLinkError(w, &linkError{Type: "clientError", Code: linkCodeSessionNotFound,
			Message: "Unknown Link session.", status: http.StatusNotFound}, nil)
		return
	}
	if err != nil {
		e.linkFail(w, r, err)
		return
	}
	row, err := e.store.token(ctx, e.store.db, st.TokenID)
	if err != nil {
		e.linkFail(w, r, err)
		return
	}
	if allowed != nil && !slices.Contains(allowed, st.Step) {
		e.writeLinkError(w, &linkError{Type: "clientError", Code: linkCodeInvalidStep,
			Message: "This action is not available on the " + st.Step + " screen.", status: http.StatusConflict}, nil)
		return
	}
	if st.Step == stepExited && r.Method == http.MethodPost {
		e.writeLinkError(w, &linkError{Type: "clientError", Code: linkCodeSessionClosed,
			Message: "The Link session is closed.", status: http.StatusConflict}, nil)
		return
	}
	f := &flow{e: e, ctx: ctx, st: st, spec: &row.Spec}
	if err := fn(f); err != nil {
		var le *linkError
		switch {
		case errors.As(err, &le):
			e.writeLinkError(w, le, nil)
		case errors.Is(err, errTokenUsed):
			le := &linkError{Type: "invalidLinkToken", Code: linkCodeUsedToken,
				Message: "The link token was already used. Create a new one.", status: http.StatusBadRequest}
			e.writeLinkError(w, le, []clientEvent{{Name: "error", Payload: le.payload()}})
		default:
			e.linkFail(w, r, err)
		}
		return
	}
	e.finish(w, r, f, false)
}

// finish saves the session and answers with its screen and the events.
func (e *Emulator) finish(w http.ResponseWriter, r *http.Request, f *flow, withToken bool) {
	if err := e.store.saveSession(f.ctx, e.store.db, f.st); err != nil {
		e.linkFail(w, r, err)
		return
	}
	ans := apiAnswer{SessionID: f.st.ID, Screen: f.screen(), Events: f.events}
	if ans.Events == nil {
		ans.Events = []clientEvent{}
	}
	if withToken || r.Method == http.MethodGet {
		ans.Token = &tokenView{ID: f.spec.ID, OrgName: f.spec.OrgName, Jobs: f.spec.Jobs, AccountID: f.spec.AccountID,
			EmployerID: f.spec.EmployerID, PlatformID: f.spec.PlatformID, SkipIntro: f.spec.SkipIntro,
			Language: f.spec.Language, Expires: formatTime(f.spec.ExpiresAt)}
		if a := f.spec.Allocation; a != nil {
			ans.Token.Allocation = &tokenAllocationView{Type: a.Type, Value: a.Value, MinAmount: a.MinAmount,
				Targets: maskTargets(a.Targets)}
		}
	}
	e.writeJSON(w, http.StatusOK, ans)
}

// screen describes the current step for the iframe.
func (f *flow) screen() screenView {
	st := f.st
	s := screenView{Name: st.Step, OrgName: f.spec.OrgName, Message: st.Message}
	if p, ok := findPlatform(st.PlatformID); ok {
		s.Platform = &named{p.ID, p.Name}
	}
	if emp, ok := findEmployer(st.EmployerID); ok {
		s.Employer = &named{emp.ID, emp.Name}
	}
	switch st.Step {
	case stepAllocation:
		v := &allocationView{SplittingAllowed: !f.spec.DisableSplitting, PercentageSupported: true,
			Targets: maskTargets(f.targets())}
		if a := f.spec.Allocation; a != nil {
			v.MinAmount = a.MinAmount
			if a.Type == pinwheel.AllocationAmount && a.Value != nil {
				v.FixedType, v.FixedValue = a.Type, a.Value
			}
		}
		s.Allocation = v
	case stepSuccess:
		s.Job, s.AccountID = st.Job, st.AccountID
	case stepError:
		s.Error = st.Error
	}
	return s
}

// decodeLinkBody decodes a link-api JSON body, answering 400 on failure.
func (e *Emulator) decodeLinkBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := decodeJSON(r, v); err != nil {
		e.writeLinkError(w, &linkError{Type: "clientError", Code: linkCodeInvalidRequestBody,
			Message: "The request body is not valid JSON.", status: http.StatusBadRequest}, nil)
		return false
	}
	return true
}

// writeLinkError answers a link-api request with a 4xx and an error screen.
func (e *Emulator) writeLinkError(w http.ResponseWriter, le *linkError, events []clientEvent) {
	if events == nil {
		events = []clientEvent{}
	}
	status := le.status
	if status == 0 {
		status = http.StatusBadRequest
	}
	e.writeJSON(w, status, apiAnswer{Screen: screenView{Name: stepError, Error: le}, Events: events, Error: le})
}

func (e *Emulator) linkFail(w http.ResponseWriter, r *http.Request, err error) {
	e.log.Error("sandbox: link-api failed", "method", r.Method, "path", r.URL.Path, "err", err)
	le := &linkError{Type: "systemError", Code: linkCodeSystemError, Message: "Something went wrong.",
		status: http.StatusInternalServerError}
	e.writeLinkError(w, le, []clientEvent{{Name: "error", Payload: le.payload()}})
}

// maskTargets hides all but the last four digits of each account number.
func maskTargets(ts []target) []targetView {
	out := make([]targetView, 0, len(ts))
	for i, t := range ts {
		out = append(out, targetView{Index: i, Name: t.Name, Type: t.Type, MaskedAccountNumber: "••" + lastFour(t.AccountNumber)})
	}
	return out
}
