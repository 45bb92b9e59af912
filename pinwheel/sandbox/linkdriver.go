package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Driver walks Link sessions through the emulator's /link-api without a
// browser, the way the iframe does. Tests, demo-data generators and load
// tools use it. It is safe for concurrent use.
type Driver struct {
	// BaseURL is the emulator's PublicURL (no trailing slash).
	BaseURL string
	// HTTPClient sends the requests; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Secret is the emulator's API secret; only SetMonitoringStatus needs
	// it.
	Secret string
}

// SetMonitoringStatus sets an account's monitoring status to any of the five
// statuses through the emulator-only endpoint POST
// /emulator/accounts/{id}/monitoring_status. Pinwheel's own
// PATCH /v1/sandbox/accounts/{id} accepts user_action_required only; this
// knob exists for demo data and tests that need the others. The emulator
// sends account.monitoring_status.updated as for the PATCH.
func (d *Driver) SetMonitoringStatus(ctx context.Context, accountID, status string) error {
	return d.emulatorPost(ctx, "/emulator/accounts/"+url.PathEscape(accountID)+"/monitoring_status", map[string]string{"monitoring_status": status})
}

// emulatorPost sends v as JSON to an emulator-only endpoint with the API
// secret and expects 200.
func (d *Driver) emulatorPost(ctx context.Context, path string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(d.BaseURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-api-secret", d.Secret)
	resp, err := d.client().Do(req)
	if err != nil {
		return fmt.Errorf("sandbox: POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sandbox: POST %s: %s: %s", path, resp.Status, raw)
	}
	return nil
}

// urlPathEscape escapes one path segment.
func urlPathEscape(s string) string { return url.PathEscape(s) }

// AllocationChoice is what the user picks on the deposit switch screen.
type AllocationChoice struct {
	// Action is "full_switch" or "partial_switch".
	Action string
	// Type is "amount", "percentage" or "remainder" (partial switches only).
	Type string
	// Value is dollars for amount, percent for percentage.
	Value float64
	// TargetIndex picks one of the token's allocation targets.
	TargetIndex int
}

// SessionPlan is what the simulated user does in Link.
type SessionPlan struct {
	// Username and Password are the sandbox credentials; empty means
	// user_good / pass_good.
	Username, Password string
	// MFACode answers the MFA step; empty means the sandbox code mfa_code.
	MFACode string
	// PlatformID or EmployerID is picked on the search screen; both empty
	// means the first search result for "Workday".
	PlatformID string
	EmployerID string
	// Allocation is the deposit switch choice; nil means a full switch to
	// the first target.
	Allocation *AllocationChoice
	// StayOpen leaves the session open after success or error instead of
	// pressing exit (so no exit event is fired).
	StayOpen bool
}

// ClientEvent is one Link client event as the page's onEvent receives it.
type ClientEvent struct {
	Name    string          `json:"name"`
	Payload json.RawMessage `json:"payload"`
}

// LinkError is an error payload of Link ({type, code, message,
// pendingRetry}); it is also returned when the link-api answers 4xx.
type LinkError struct {
	Type         string `json:"type"`
	Code         string `json:"code"`
	Message      string `json:"message"`
	PendingRetry bool   `json:"pendingRetry"`
	// Status is the HTTP status when the link-api refused a request (0 for
	// an error event of a successful answer).
	Status int `json:"-"`
}

// Error implements error.
func (e *LinkError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("sandbox: link-api %d %s %s: %s", e.Status, e.Type, e.Code, e.Message)
	}
	return fmt.Sprintf("sandbox: link %s %s: %s", e.Type, e.Code, e.Message)
}

// Screen is the screen the iframe would show next.
type Screen struct {
	// Name is intro, search, login, mfa, allocation, success, error or exited.
	Name      string `json:"name"`
	OrgName   string `json:"org_name"`
	Message   string `json:"message"`
	Job       string `json:"job"`
	AccountID string `json:"account_id"`
	Platform  *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"platform"`
	Error      *LinkError      `json:"error"`
	Allocation json.RawMessage `json:"allocation"`
}

// Step is one link-api answer.
type Step struct {
	SessionID string        `json:"session_id"`
	Screen    Screen        `json:"screen"`
	Events    []ClientEvent `json:"events"`
	Error     *LinkError    `json:"error"`
}

// SearchResult is one employer or platform of the search screen.
type SearchResult struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	ResponseType string `json:"response_type"`
	PlatformType string `json:"platform_type"`
}

// Result is the outcome of a whole Link session.
type Result struct {
	// SessionID is the link-api session.
	SessionID string
	// AccountID and PlatformID are known once login succeeded (or at once
	// for an On Demand Update).
	AccountID, PlatformID string
	// Events are every client event fired, in order, as onEvent saw them.
	Events []ClientEvent
	// Outcome is "success", "error" or "exit" (left before finishing).
	Outcome string
	// Error is the last Link error, if any.
	Error *LinkError
}

// EventNames returns the names of r.Events in order.
func (r Result) EventNames() []string {
	out := make([]string, len(r.Events))
	for i, e := range r.Events {
		out[i] = e.Name
	}
	return out
}

func (d *Driver) client() *http.Client {
	if d.HTTPClient != nil {
		return d.HTTPClient
	}
	return http.DefaultClient
}

// call sends one link-api request. A 4xx/5xx answer returns the decoded
// Step (with its events) and a *LinkError.
func (d *Driver) call(ctx context.Context, method, path string, body any) (*Step, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(d.BaseURL, "/")+"/link-api/"+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("sandbox: link-api %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	var st Step
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&st); err != nil {
		return nil, fmt.Errorf("sandbox: link-api %s %s: status %d: %w", method, path, resp.StatusCode, err)
	}
	if resp.StatusCode >= 400 {
		le := st.Error
		if le == nil {
			le = &LinkError{Type: "clientError", Code: "http", Message: resp.Status}
		}
		le.Status = resp.StatusCode
		return &st, le
	}
	return &st, nil
}

func (d *Driver) post(ctx context.Context, sessionID, action string, body any) (*Step, error) {
	if body == nil {
		body = struct{}{}
	}
	return d.call(ctx, http.MethodPost, "sessions/"+url.PathEscape(sessionID)+"/"+action, body)
}

// Open starts a session with a link token (the iframe's first request).
func (d *Driver) Open(ctx context.Context, linkToken string) (*Step, error) {
	return d.call(ctx, http.MethodPost, "sessions", map[string]string{"link_token": linkToken})
}

// Continue leaves the intro screen.
func (d *Driver) Continue(ctx context.Context, sessionID string) (*Step, error) {
	return d.post(ctx, sessionID, "continue", nil)
}

// Search queries the search screen.
func (d *Driver) Search(ctx context.Context, sessionID, q string) ([]SearchResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(d.BaseURL, "/")+
		"/link-api/search?q="+url.QueryEscape(q)+"&session_id="+url.QueryEscape(sessionID), nil)
	if err != nil {
		return nil, err
	}
	resp, err := d.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("sandbox: link-api search: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Data []SearchResult `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("sandbox: link-api search: %w", err)
	}
	return body.Data, nil
}

// SelectPlatform picks a platform on the search screen.
func (d *Driver) SelectPlatform(ctx context.Context, sessionID, platformID string) (*Step, error) {
	return d.post(ctx, sessionID, "select", map[string]string{"platform_id": platformID})
}

// SelectEmployer picks an employer on the search screen.
func (d *Driver) SelectEmployer(ctx context.Context, sessionID, employerID string) (*Step, error) {
	return d.post(ctx, sessionID, "select", map[string]string{"employer_id": employerID})
}

// Login submits credentials.
func (d *Driver) Login(ctx context.Context, sessionID, username, password string) (*Step, error) {
	return d.post(ctx, sessionID, "login", map[string]string{"username": username, "password": password})
}

// MFA submits the verification code.
func (d *Driver) MFA(ctx context.Context, sessionID, code string) (*Step, error) {
	return d.post(ctx, sessionID, "mfa", map[string]string{"code": code})
}

// Allocate submits the deposit switch choice.
func (d *Driver) Allocate(ctx context.Context, sessionID string, c AllocationChoice) (*Step, error) {
	body := map[string]any{"action": c.Action, "target_index": c.TargetIndex}
	if c.Action == "partial_switch" {
		body["type"] = c.Type
		if c.Type != "remainder" {
			body["value"] = c.Value
		}
	}
	return d.post(ctx, sessionID, "allocation", body)
}

// Exit closes the session (the modal's close button).
func (d *Driver) Exit(ctx context.Context, sessionID string) (*Step, error) {
	return d.post(ctx, sessionID, "exit", nil)
}

// maxSteps bounds Complete against a plan that never finishes.
const maxSteps = 20

// Complete walks a whole session with plan: intro, search, login, MFA,
// allocation, then exit. It returns the events fired and the outcome. A
// refused request (e.g. an expired or reused token) returns the Result so
// far with a *LinkError; so does a plan whose credentials or code are
// rejected (Link would let the user retry; Complete does not).
func (d *Driver) Complete(ctx context.Context, linkToken string, plan SessionPlan) (Result, error) {
	var res Result
	user, pass, code := plan.Username, plan.Password, plan.MFACode
	if user == "" {
		user = "user_good"
	}
	if pass == "" {
		pass = "pass_good"
	}
	if code == "" {
		code = "mfa_code"
	}
	track := func(st *Step, err error) (*Step, error) {
		if st != nil {
			res.Events = append(res.Events, st.Events...)
			for _, ev := range st.Events {
				switch ev.Name {
				case "login", "success":
					var p struct{ AccountID, PlatformID string }
					if json.Unmarshal(ev.Payload, &p) == nil && p.AccountID != "" {
						res.AccountID, res.PlatformID = p.AccountID, p.PlatformID
					}
				case "error":
					var le LinkError
					if json.Unmarshal(ev.Payload, &le) == nil {
						res.Error = &le
					}
				}
			}
			if st.SessionID != "" {
				res.SessionID = st.SessionID
			}
		}
		var le *LinkError
		if errors.As(err, &le) {
			res.Error, res.Outcome = le, "error"
		}
		return st, err
	}

	st, err := track(d.Open(ctx, linkToken))
	if err != nil {
		return res, err
	}
	for range maxSteps {
		sid := res.SessionID
		switch st.Screen.Name {
		case stepIntro:
			st, err = track(d.Continue(ctx, sid))
		case stepSearch:
			switch {
			case plan.EmployerID != "":
				st, err = track(d.SelectEmployer(ctx, sid, plan.EmployerID))
			case plan.PlatformID != "":
				st, err = track(d.SelectPlatform(ctx, sid, plan.PlatformID))
			default:
				found, serr := d.Search(ctx, sid, "Workday")
				if serr != nil {
					return res, serr
				}
				if len(found) == 0 {
					return res, errors.New("sandbox: driver: search found nothing to select")
				}
				st, err = track(d.post(ctx, sid, "select", map[string]string{found[0].ResponseType + "_id": found[0].ID}))
			}
		case stepLogin:
			if st.Screen.Message != "" {
				return res, res.Error
			}
			st, err = track(d.Login(ctx, sid, user, pass))
		case stepMFA:
			if st.Screen.Message != "" {
				return res, res.Error
			}
			st, err = track(d.MFA(ctx, sid, code))
		case stepAllocation:
			if st.Screen.Message != "" {
				return res, res.Error
			}
			c := AllocationChoice{Action: "full_switch"}
			if plan.Allocation != nil {
				c = *plan.Allocation
			}
			st, err = track(d.Allocate(ctx, sid, c))
		case stepSuccess, stepError:
			res.Outcome = map[string]string{stepSuccess: "success", stepError: "error"}[st.Screen.Name]
			if st.Screen.AccountID != "" {
				res.AccountID = st.Screen.AccountID
			}
			if !plan.StayOpen {
				if _, err := track(d.Exit(ctx, sid)); err != nil {
					return res, err
				}
			}
			return res, nil
		case stepExited:
			if res.Outcome == "" {
				res.Outcome = "exit"
			}
			return res, nil
		default:
			return res, fmt.Errorf("sandbox: driver: unexpected screen %q", st.Screen.Name)
		}
		if err != nil {
			return res, err
		}
	}
	return res, errors.New("sandbox: driver: session did not finish")
}
