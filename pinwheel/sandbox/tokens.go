package sandbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"linkdesk/pinwheel"
)

// linkTokenTTL is how long a Link token lives (one hour, docs/pinwheel.md#link-tokens).
const linkTokenTTL = time.Hour

// target is one deposit-switch destination account of a Link token.
type target struct {
	Name          string `json:"name"`
	Type          string `json:"type"`
	RoutingNumber string `json:"routing_number"`
	AccountNumber string `json:"account_number"`
}

// tokenAllocation is the allocation object of a Link token.
type tokenAllocation struct {
	Type      string   `json:"type"` // "" or "amount"
	Value     *float64 `json:"value"`
	MinAmount *float64 `json:"min_amount"`
	Targets   []target `json:"targets"`
}

// tokenSpec is a validated Link token request, as stored.
type tokenSpec struct {
	ID               string            `json:"id"`
	Version          string            `json:"version"`
	CreatedAt        time.Time         `json:"created_at"`
	ExpiresAt        time.Time         `json:"expires_at"`
	OrgName          string            `json:"org_name"`
	Solution         string            `json:"solution,omitempty"`
	EndUserID        string            `json:"end_user_id,omitempty"`
	AccountID        string            `json:"account_id,omitempty"`
	EmployerID       string            `json:"employer_id,omitempty"`
	PlatformID       string            `json:"platform_id,omitempty"`
	PlatformType     string            `json:"platform_type,omitempty"`
	Language         string            `json:"language"`
	Jobs             []string          `json:"jobs"`
	SkipIntro        bool              `json:"skip_intro_screen"`
	DisableSplitting bool              `json:"disable_direct_deposit_splitting"`
	Allocation       *tokenAllocation  `json:"allocation,omitempty"`
	Tags             map[string]string `json:"tags,omitempty"`
}

// Job names accepted in required_jobs (2023-11-22 enum, plus the legacy
// card_switch the card-switch guide mentions) and in features (2025-07-08).
var (
	requiredJobsEnum = []string{pinwheel.JobDDSwitch, pinwheel.JobEmployment, pinwheel.JobDDAllocations,
		pinwheel.JobIdentity, pinwheel.JobTaxForms, pinwheel.JobIncome, pinwheel.JobShifts, pinwheel.JobPaystubs,
		pinwheel.JobDDPayment, pinwheel.JobCardSwitch}
	featuresEnum = []string{pinwheel.JobDDAllocations, pinwheel.JobBillCancellation, pinwheel.JobDDSwitch,
		pinwheel.JobPaycheckViewer, pinwheel.JobPaystubs, pinwheel.JobBillSwitch, pinwheel.JobIdentity,
		pinwheel.JobDDPayment, pinwheel.JobIncome, pinwheel.JobEmployment, pinwheel.JobTaxForms, pinwheel.JobShifts}
	solutionEnum = []string{pinwheel.SolutionVerify, pinwheel.SolutionBillSwitch, pinwheel.SolutionBillManager,
		pinwheel.SolutionPaycheckViewer, pinwheel.SolutionSwitchKit, pinwheel.SolutionDepositSwitch}
)

// fieldErrs collects validation failures; the first code wins as the
// envelope's code, except that a more specific code replaces the generic one.
type fieldErrs struct {
	code   string
	fields []pinwheel.FieldError
}

func (f *fieldErrs) add(code, name, msg string) {
	if f.code == "" || f.code == codeValidation {
		f.code = code
	}
	f.fields = append(f.fields, pinwheel.FieldError{Name: name, Message: msg})
}

func (f *fieldErrs) err() *pinwheel.Error {
	if len(f.fields) == 0 {
		return nil
	}
	return &pinwheel.Error{Type: pinwheel.TypeInvalidRequest, Code: f.code, Message: "Validation error.",
		StatusCode: http.StatusBadRequest, Fields: f.fields}
}

const (
	msgRequired = "Field required."
	msgFormat   = "Provided value doesn't match valid format."
)

var digitsRE = regexp.MustCompile(`^[0-9]+$`)

func enumMsg(values []string) string {
	return "Value must be one of: " + strings.Join(values, ", ") + "."
}

// validateLinkToken applies the rules of docs/pinwheel.md#link-token-validation
// for the given API version.
//
// How each version treats the other's job field is not documented publicly (docs/pinwheel.md#undocumented):
// we chose strictness because version mix-ups then surface: 2023-11-22 (and
// older) rejects features, and 2025-07-08 rejects the deprecated
// required_jobs.
func validateLinkToken(version string, req *pinwheel.LinkTokenCreate) *fieldErrs {
	v := &fieldErrs{}
	v2025 := version == pinwheel.Version20250708

	if n := utf8.RuneCountInString(req.OrgName); req.OrgName == "" {
		v.add(codeValidation, "org_name", msgRequired)
	} else if n < 3 || n > 30 {
		v.add(codeValidation, "org_name", "Must be between 3 and 30 characters.")
	}

	jobs, jobField, jobEnum := req.RequiredJobs, "required_jobs", requiredJobsEnum
	if v2025 {
		jobs, jobField, jobEnum = req.Features, "features", featuresEnum
		if req.Solution == "" {
			v.add(codeValidation, "solution", msgRequired)
		} else if !slices.Contains(solutionEnum, req.Solution) {
			v.add(codeValidation, "solution", enumMsg(solutionEnum))
		}
		if len(req.RequiredJobs) > 0 {
			v.add(codeValidation, "required_jobs", "Not supported in version 2025-07-08; use features.")
		}
	} else if len(req.Features) > 0 {
		v.add(codeValidation, "features", "Not supported before version 2025-07-08; use required_jobs.")
	}
	if len(jobs) == 0 && req.AccountID == "" {
		v.add(codeValidation, jobField, "Field required unless account_id is given.")
	}
	for _, j := range jobs {
		if !slices.Contains(jobEnum, j) {
			v.add(codeValidation, jobField, enumMsg(jobEnum))
			break
		}
	}

	endUser := strings.TrimSpace(req.EndUserID)
	switch {
	case req.AccountID == "" && endUser == "":
		v.add(codeValidation, "end_user_id", "Field required unless account_id is given.")
	case utf8.RuneCountInString(endUser) > 255:
		v.add(codeValidation, "end_user_id", "Must be between 1 and 255 characters.")
	}

	for _, f := range []struct{ name, value string }{
		{"account_id", req.AccountID}, {"employer_id", req.EmployerID}, {"platform_id", req.PlatformID},
	} {
		if f.value != "" && !isUUID(f.value) {
			v.add(codeValidation, f.name, "Value is not a valid uuid.")
		}
	}

	platformTypes := []string{pinwheel.PlatformPayroll, pinwheel.PlatformTimeAndAttendance, pinwheel.PlatformTax}
	if v2025 {
		platformTypes = append(platformTypes, pinwheel.PlatformMerchant)
	}
	enums := []struct {
		name, value string
		allowed     []string
	}{
		{"language", req.Language, []string{"en", "es"}},
		{"platform_type", req.PlatformType, platformTypes},
		{"document_uploads", req.DocumentUploads, []string{"direct", "fallback", "disabled"}},
		{"deposit_forms", req.DepositForms, []string{"direct", "fallback", "disabled"}},
	}
	if v2025 {
		enums = append(enums, struct {
			name, value string
			allowed     []string
		}{"use_case", req.UseCase, []string{"account_onboarding", "account_servicing", "underwriting"}})
	}
	for _, e := range enums {
		if e.value != "" && !slices.Contains(e.allowed, e.value) {
			v.add(codeValidation, e.name, enumMsg(e.allowed))
		}
	}
	if req.ResellerCustomerID != "" {
		v.add(codeValidation, "reseller_customer_id", "Only resellers may set reseller_customer_id.")
	}
	if req.SkipIntroScreen != nil && *req.SkipIntroScreen && req.EndUser != nil && req.EndUser.PlatformMatching != nil {
		v.add(codeValidation, "skip_intro_screen", "Cannot be combined with end_user.platform_matching.")
	}

	validateAllocation(v, req.Allocation, slices.Contains(jobs, pinwheel.JobDDSwitch), v2025)
	return v
}

func validateAllocation(v *fieldErrs, a *pinwheel.Allocation, dds, v2025 bool) {
	if a == nil {
		return
	}
	if a.Type != nil && *a.Type != pinwheel.AllocationAmount {
		v.add(codeValidation, "type", enumMsg([]string{pinwheel.AllocationAmount}))
	}
	if a.Type != nil && *a.Type == pinwheel.AllocationAmount {
		switch {
		case a.Value == nil:
			v.add(codeValidation, "value", "Field required when type is amount.")
		case *a.Value <= 0:
			v.add(codeValidation, "value", "Must be greater than 0.")
		case a.MinAmount != nil && *a.Value < *a.MinAmount:
			v.add(codeValidation, "value", "Must be greater than or equal to min_amount.")
		}
	}
	if a.MinAmount != nil && *a.MinAmount < 0 {
		v.add(codeValidation, "min_amount", "Must be greater than or equal to 0.")
	}
	minAccount := 6 // 2023 client
	if v2025 {
		minAccount = 5
	}
	for _, t := range a.Targets {
		if t.Name != "" && (utf8.RuneCountInString(t.Name) < 2 || utf8.RuneCountInString(t.Name) > 30) {
			v.add(codeValidation, "name", "Must be between 2 and 30 characters.")
		}
		switch {
		case t.Type == "" && dds:
			v.add(codeValidation, "type", msgRequired)
		case t.Type != "" && t.Type != "checking" && t.Type != "savings":
			v.add(codeValidation, "type", enumMsg([]string{"checking", "savings"}))
		}
		switch {
		case t.RoutingNumber == "" && dds:
			v.add(codeInvalidRouting, "routing_number", msgRequired)
		case t.RoutingNumber != "" && (len(t.RoutingNumber) != 9 || !digitsRE.MatchString(t.RoutingNumber)):
			v.add(codeInvalidRouting, "routing_number", msgFormat)
		}
		switch {
		case t.AccountNumber == "" && dds:
			v.add(codeInvalidAccountNo, "account_number", msgRequired)
		case t.AccountNumber != "" && (len(t.AccountNumber) < minAccount || !digitsRE.MatchString(t.AccountNumber)):
			v.add(codeInvalidAccountNo, "account_number", msgFormat)
		}
	}
}

// createLinkToken handles POST /v1/link_tokens.
func (e *Emulator) createLinkToken(w http.ResponseWriter, r *http.Request) {
	var req pinwheel.LinkTokenCreate
	if !e.decodeBody(w, r, &req) {
		return
	}
	version := r.Header.Get(pinwheel.HeaderVersion)
	if fe := validateLinkToken(version, &req).err(); fe != nil {
		e.writeError(w, fe)
		return
	}
	ctx := r.Context()

	jobs := req.RequiredJobs
	if version == pinwheel.Version20250708 {
		jobs = req.Features
	}
	now := e.now()
	spec := &tokenSpec{
		ID:           newID(),
		Version:      version,
		CreatedAt:    now,
		ExpiresAt:    now.Add(linkTokenTTL),
		OrgName:      req.OrgName,
		Solution:     req.Solution,
		EndUserID:    strings.TrimSpace(req.EndUserID),
		AccountID:    strings.ToLower(req.AccountID),
		EmployerID:   strings.ToLower(req.EmployerID),
		PlatformID:   strings.ToLower(req.PlatformID),
		PlatformType: req.PlatformType,
		Language:     cmpOr(req.Language, "en"),
		Jobs:         slices.Clone(jobs),
		Tags:         req.Tags,
	}
	if req.SkipIntroScreen != nil {
		spec.SkipIntro = *req.SkipIntroScreen
	}
	if req.DisableDirectDepositSplitting != nil {
		spec.DisableSplitting = *req.DisableDirectDepositSplitting
	}
	if a := req.Allocation; a != nil {
		spec.Allocation = &tokenAllocation{Value: a.Value, MinAmount: a.MinAmount}
		if a.Type != nil {
			spec.Allocation.Type = *a.Type
		}
		for _, t := range a.Targets {
			spec.Allocation.Targets = append(spec.Allocation.Targets, target(t))
		}
	}

	// Referenced records must exist. The error for an unknown account_id,
	// employer_id or platform_id is not documented publicly (docs/pinwheel.md#undocumented):
	// we chose 404 RECORD_NOT_FOUND because that type names a missing record.
	if spec.AccountID != "" {
		acc, err := e.store.account(ctx, e.store.db, spec.AccountID)
		if errors.Is(err, errNotFound) {
			e.writeError(w, notFound("No account found with the given account_id."))
			return
		}
		if err != nil {
			e.fail(w, r, err)
			return
		}
		if spec.EndUserID == "" {
			spec.EndUserID = acc.EndUserID
		}
	}
	if _, ok := findEmployer(spec.EmployerID); spec.EmployerID != "" && !ok {
		e.writeError(w, notFound("No employer found with the given employer_id."))
		return
	}
	if _, ok := findPlatform(spec.PlatformID); spec.PlatformID != "" && !ok {
		e.writeError(w, notFound("No platform found with the given platform_id."))
		return
	}

	if err := e.store.insertToken(ctx, spec); err != nil {
		e.fail(w, r, err)
		return
	}
	tok, err := e.signToken(spec, req)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	e.writeAPI(w, http.StatusOK, dataEnvelope(obj{
		{"mode", string(pinwheel.ModeSandbox)},
		{"id", spec.ID},
		{"token", tok},
		{"smart_branch_url", nil},
		{"expires", spec.ExpiresAt},
	}, nil))
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// tokenKey is the HMAC key of Link token JWTs, derived from the API secret
// so a token minted with one secret never opens a session of another.
func (e *Emulator) tokenKey() []byte {
	mac := hmac.New(sha256.New, []byte(e.cfg.Secret))
	mac.Write([]byte("pinwheel-sandbox link token"))
	return mac.Sum(nil)
}

var b64 = base64.RawURLEncoding

// signToken builds the opaque token: a JWT (HS256) shaped like the observed
// one, with claims {data: {...}, iat, exp}. Clients must treat it as opaque;
// the emulator reads only data.token_id back and keeps the rest in its DB.
func (e *Emulator) signToken(spec *tokenSpec, req pinwheel.LinkTokenCreate) (string, error) {
	var alloc any
	if req.Allocation != nil {
		// The token carries no full account numbers, only their last four.
		a := *req.Allocation
		a.Targets = nil
		for _, t := range req.Allocation.Targets {
			t.AccountNumber = lastFour(t.AccountNumber)
			a.Targets = append(a.Targets, t)
		}
		alloc = a
	}
	data := map[string]any{
		"token_id":                         spec.ID,
		"account_id":                       nilIfEmpty(spec.AccountID),
		"end_user_id":                      nilIfEmpty(spec.EndUserID),
		"org_name":                         spec.OrgName,
		"mode":                             string(pinwheel.ModeSandbox),
		"required_jobs":                    spec.Jobs,
		"solution":                         nilIfEmpty(spec.Solution),
		"allocation":                       alloc,
		"employer_id":                      nilIfEmpty(spec.EmployerID),
		"platform_id":                      nilIfEmpty(spec.PlatformID),
		"platform_type":                    nilIfEmpty(spec.PlatformType),
		"skip_intro_screen":                spec.SkipIntro,
		"disable_direct_deposit_splitting": spec.DisableSplitting,
		"language":                         spec.Language,
		"tags":                             spec.Tags,
		"smart_branch":                     nil,
		"workspace_name":                   "Linkdesk Sandbox",
	}
	claims := map[string]any{"data": data, "iat": spec.CreatedAt.Unix(), "exp": spec.ExpiresAt.Unix()}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signing := b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + b64.EncodeToString(payload)
	mac := hmac.New(sha256.New, e.tokenKey())
	mac.Write([]byte(signing))
	return signing + "." + b64.EncodeToString(mac.Sum(nil)), nil
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// errBadToken means the string is not a token this emulator minted.
var errBadToken = errors.New("sandbox: invalid link token")

// parseToken checks the JWT signature and returns the token id it carries.
func (e *Emulator) parseToken(tok string) (string, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", errBadToken
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return "", errBadToken
	}
	mac := hmac.New(sha256.New, e.tokenKey())
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return "", errBadToken
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return "", errBadToken
	}
	var claims struct {
		Data struct {
			TokenID string `json:"token_id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(bytes.NewReader(payload)).Decode(&claims); err != nil || claims.Data.TokenID == "" {
		return "", errBadToken
	}
	return claims.Data.TokenID, nil
}

// loadToken resolves a JWT to its stored spec, checking expiry and use.
func (e *Emulator) loadToken(ctx context.Context, tok string) (*tokenRow, *linkError, error) {
	id, err := e.parseToken(tok)
	if err != nil {
		return nil, errInvalidToken(linkCodeBadSignature, "The link token is invalid."), nil
	}
	row, err := e.store.token(ctx, e.store.db, id)
	if errors.Is(err, errNotFound) {
		return nil, errInvalidToken(linkCodeUnknownToken, "The link token is invalid."), nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox: load token: %w", err)
	}
	// The code of an expired token is not documented publicly
	// (docs/pinwheel.md#undocumented): we chose the emulator-only
	// emulatorExpiredLinkToken under the documented type invalidLinkToken.
	if !e.now().Before(row.Spec.ExpiresAt) {
		return nil, errInvalidToken(linkCodeExpiredToken, "The link token has expired. Create a new one."), nil
	}
	if row.Used {
		return nil, errInvalidToken(linkCodeUsedToken, "The link token was already used. Create a new one."), nil
	}
	return row, nil, nil
}
