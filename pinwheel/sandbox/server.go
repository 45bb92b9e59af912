package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"linkdesk/pinwheel"
)

// Config configures an Emulator. Only StatePath, Secret and PublicURL are
// needed; the rest have defaults suited to interactive use.
type Config struct {
	// StatePath is the SQLite file of the emulator's own state (created if
	// missing). Tests use a file under t.TempDir().
	StatePath string
	// Secret is the API secret: requests must send it as x-api-secret, and
	// webhook deliveries are signed with it.
	Secret string
	// PublicURL is the absolute base URL where the handler is reachable, with
	// no trailing slash, e.g. "http://127.0.0.1:8080/sandbox". link.js and
	// the Link iframe are addressed from it, never from guessed paths.
	PublicURL string
	// HTTPClient sends webhook deliveries; nil means a client with a 15 s
	// timeout.
	HTTPClient *http.Client
	// Now is the clock for everything the API reports (created_at, token
	// expiry, X-Timestamp); nil means time.Now. Delivery retries and delayed
	// jobs are scheduled on the wall clock regardless, so tests may freeze or
	// move Now freely.
	Now func() time.Time
	// Logger receives operational logs; nil discards them. Secrets and PII
	// are never logged.
	Logger *slog.Logger
	// PendingDelay is how long a user_pending job stays pending before its
	// error outcome is sent; 0 means 60 s, as in Pinwheel's sandbox.
	PendingDelay time.Duration
	// RetryBase is the first retry delay of a failed delivery; later ones
	// double (1 s, 2 s, 4 s, …) up to RetryMax. 0 means 1 s.
	RetryBase time.Duration
	// RetryMax caps the retry delay; 0 means 10 minutes.
	RetryMax time.Duration
	// MaxAttempts is how many times a delivery is tried before it is given
	// up; 0 means 20.
	MaxAttempts int
	// DeliveryTimeout is how long a receiver may take to answer before the
	// attempt counts as failed; 0 means 15 s, as Pinwheel documents.
	DeliveryTimeout time.Duration
	// Delivery shapes the order of webhook deliveries. The zero value is
	// untidy like real traffic: events of different types interleave, some
	// are held back and overtaken, some are delivered twice (seeded,
	// reproducible). Tests that need the generated order set Tidy.
	Delivery DeliveryOptions
	// RateLimit is how many /v1 requests per second each API secret may
	// make before getting 429 with Retry-After (a bucket of one second's
	// worth, on Now). 0 means DefaultRateLimit (10); a negative value turns
	// the limit off.
	RateLimit float64
	// AllowHTTPWebhooks accepts webhook URLs with plain http:// when the host
	// is a loopback address (127.0.0.0/8, ::1, localhost). Pinwheel accepts
	// https:// only and so does the emulator by default; Linkdesk's emulator
	// mode turns this on because it registers its own loopback URL.
	AllowHTTPWebhooks bool
}

// Emulator is the sandbox: an http.Handler for the /v1 API, link.js, the
// Link iframe and its /link-api, plus a background webhook sender (Run).
// It is safe for concurrent use.
type Emulator struct {
	cfg    Config
	store  *store
	log    *slog.Logger
	now    func() time.Time
	mux    *http.ServeMux
	origin string // scheme://host[:port] of PublicURL

	faultsMu sync.RWMutex
	faults   Faults

	reqMu    sync.Mutex
	requests []RecordedRequest

	limiter *limiter

	wake  chan struct{} // nudges Run when deliveries or tasks are queued
	locks sessionLocks  // serialise the requests of one Link session
}

// New opens (and migrates) the state file and returns a ready Emulator.
// Call Run to send webhooks and Close when done.
func New(cfg Config) (*Emulator, error) {
	if cfg.StatePath == "" {
		return nil, errors.New("sandbox: Config.StatePath is required")
	}
	if cfg.Secret == "" {
		return nil, errors.New("sandbox: Config.Secret is required")
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	origin, err := originOf(cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PendingDelay <= 0 {
		cfg.PendingDelay = 60 * time.Second
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 10 * time.Minute
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 20
	}
	if cfg.DeliveryTimeout <= 0 {
		cfg.DeliveryTimeout = 15 * time.Second
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = DefaultRateLimit
	}
	cfg.Delivery = cfg.Delivery.withDefaults()
	st, err := openStore(context.Background(), cfg.StatePath)
	if err != nil {
		return nil, err
	}
	e := &Emulator{
		cfg:    cfg,
		store:  st,
		log:    cfg.Logger,
		now:    func() time.Time { return cfg.Now().UTC() },
		origin: origin,
		wake:   make(chan struct{}, 1),
	}
	e.limiter = newLimiter(cfg.RateLimit, e.now)
	e.mux = e.routes()
	return e, nil
}

// Close closes the state file. Stop Run (cancel its context and wait for it
// to return) first.
func (e *Emulator) Close() error { return e.store.close() }

// routes is the whole route table of the emulator.
func (e *Emulator) routes() *http.ServeMux {
	m := http.NewServeMux()

	// Link tokens
	m.HandleFunc("POST /v1/link_tokens", e.createLinkToken)

	// Accounts and their data
	m.HandleFunc("GET /v1/accounts", e.listAccounts)
	m.HandleFunc("GET /v1/accounts/{id}", e.getAccount)
	m.HandleFunc("GET /v1/end_users/{end_user_id}/accounts", e.listEndUserAccounts)
	m.HandleFunc("GET /v1/accounts/{id}/identity", e.getIdentity)
	m.HandleFunc("GET /v1/accounts/{id}/employment", e.getEmployment)
	m.HandleFunc("GET /v1/accounts/{id}/income", e.getIncome)
	m.HandleFunc("GET /v1/accounts/{id}/direct_deposit_allocations", e.getAllocations)
	m.HandleFunc("GET /v1/accounts/{id}/paystubs", e.listPaystubs)
	m.HandleFunc("GET /v1/accounts/{id}/paystubs/{paystub_id}", e.getPaystub)
	m.HandleFunc("GET /v1/accounts/{id}/shifts", e.listShifts)
	m.HandleFunc("GET /v1/accounts/{id}/tax_forms", e.listTaxForms)
	m.HandleFunc("GET /v1/accounts/{id}/tax_forms/{tax_form_id}", e.getTaxForm)
	m.HandleFunc("POST /v1/accounts/{id}/disconnect", e.disconnectAccount)
	m.HandleFunc("POST /v1/accounts/{id}/disable_monitoring", e.disableMonitoring)
	m.HandleFunc("PATCH /v1/sandbox/accounts/{id}", e.patchSandboxAccount)
	m.HandleFunc("GET /v1/jobs", e.listJobs)

	// Webhooks
	m.HandleFunc("GET /v1/webhooks", e.listWebhooks)
	m.HandleFunc("POST /v1/webhooks", e.createWebhook)
	m.HandleFunc("GET /v1/webhooks/{id}", e.getWebhook)
	m.HandleFunc("PUT /v1/webhooks/{id}", e.updateWebhook)
	m.HandleFunc("DELETE /v1/webhooks/{id}", e.deleteWebhook)

	// Directory
	m.HandleFunc("GET /v1/platforms", e.listPlatforms)
	m.HandleFunc("GET /v1/platforms/{id}", e.getPlatform)
	m.HandleFunc("GET /v1/employers", e.listEmployers)
	m.HandleFunc("GET /v1/employers/{id}", e.getEmployer)
	m.HandleFunc("GET /v1/search", e.searchV1)

	// Link modal: script, iframe pages, their JSON API
	m.HandleFunc("GET /link.js", e.serveLinkJS)
	m.HandleFunc("GET /link", e.redirectLinkPage)
	m.HandleFunc("GET /link/{$}", e.serveLinkPage)
	m.HandleFunc("GET /link/{file}", e.serveLinkAsset)
	m.HandleFunc("POST /link-api/sessions", e.apiOpen)
	m.HandleFunc("GET /link-api/sessions/{id}", e.apiSession)
	m.HandleFunc("POST /link-api/sessions/{id}/continue", e.apiContinue)
	m.HandleFunc("POST /link-api/sessions/{id}/select", e.apiSelect)
	m.HandleFunc("POST /link-api/sessions/{id}/login", e.apiLogin)
	m.HandleFunc("POST /link-api/sessions/{id}/mfa", e.apiMFA)
	m.HandleFunc("POST /link-api/sessions/{id}/allocation", e.apiAllocation)
	m.HandleFunc("POST /link-api/sessions/{id}/exit", e.apiExit)
	m.HandleFunc("GET /link-api/search", e.apiSearch)

	// Document downloads (the pre-signed URLs of paystubs and tax forms).
	m.HandleFunc("GET /files/{account}/{kind}/{file}", e.serveDocument)

	// Emulator-only controls, outside /v1 so nobody mistakes them for
	// Pinwheel's API.
	m.HandleFunc("POST /emulator/accounts/{id}/monitoring_status", e.emulatorSetStatus)
	m.HandleFunc("POST /emulator/pay_profiles", e.emulatorPresetPay)
	m.HandleFunc("POST /emulator/accounts/{id}/paystubs", e.emulatorAddPaystub)
	m.HandleFunc("POST /emulator/accounts/{id}/paystubs/{paystub_id}/delete", e.emulatorDeletePaystub)
	m.HandleFunc("POST /emulator/platforms/{id}/monitoring_status", e.emulatorPlatformStatus)
	m.HandleFunc("GET /emulator/webhooks/rules", e.emulatorRules)
	m.HandleFunc("POST /emulator/webhooks/rules", e.emulatorAddRule)
	m.HandleFunc("DELETE /emulator/webhooks/rules", e.emulatorDeleteRule)
	m.HandleFunc("DELETE /emulator/webhooks/rules/{id}", e.emulatorDeleteRule)
	m.HandleFunc("POST /emulator/accounts/{id}/allocations", e.emulatorSetAllocations)

	m.HandleFunc("/", e.notFound)
	return m
}

// ServeHTTP serves the emulator. Paths are relative to the mount point:
// /v1/..., /link.js, /link/..., /link-api/....
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(pinwheel.HeaderRequestID, newID())
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			e.log.Error("sandbox: panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v),
				"stack", string(debug.Stack()))
			e.writeError(w, unknownError())
		}
	}()
	if strings.HasPrefix(r.URL.Path, "/v1/") || r.URL.Path == "/v1" {
		e.serveAPI(w, r)
		return
	}
	e.mux.ServeHTTP(w, r)
}

// serveAPI wraps /v1 routes: recording, faults, auth, version, security headers.
func (e *Emulator) serveAPI(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		e.writeError(w, invalid(codeInvalidJSON, "Could not read the request body."))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	e.record(r, body)

	// The recorded response headers (docs/pinwheel.md#transport), but Server.
	h := w.Header()
	h.Set("Content-Security-Policy", "frame-ancestors 'none'")
	h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains;")
	if v := r.Header.Get(pinwheel.HeaderVersion); slices.Contains(pinwheel.KnownVersions, v) {
		h.Set(pinwheel.HeaderVersion, v)
	}

	if !e.applyFaults(w, r) {
		return
	}
	if !e.authorized(w, r) {
		return
	}
	// A missing version is not documented publicly
	// (docs/pinwheel.md#undocumented): we chose 400 like an unknown one,
	// because the OpenAPI document marks the header required.
	switch v := r.Header.Get(pinwheel.HeaderVersion); {
	case v == "":
		e.writeError(w, invalid(codeInvalidVersion, "Missing Pinwheel-Version header.",
			pinwheel.FieldError{Name: pinwheel.HeaderVersion, Message: msgRequired}))
		return
	case !slices.Contains(pinwheel.KnownVersions, v):
		e.writeError(w, invalid(codeInvalidVersion, "Unsupported Pinwheel-Version.",
			pinwheel.FieldError{Name: pinwheel.HeaderVersion, Message: enumMsg(pinwheel.KnownVersions)}))
		return
	}
	if e.rateLimited(w, r) {
		return
	}
	e.mux.ServeHTTP(w, r)
}

// authorized checks x-api-secret in constant time.
func (e *Emulator) authorized(w http.ResponseWriter, r *http.Request) bool {
	// The status of UNAUTHORIZED_REQUEST is not documented publicly
	// (docs/pinwheel.md#undocumented): we chose 401, the HTTP status for
	// missing or wrong credentials.
	got := r.Header.Get(pinwheel.HeaderAPISecret)
	if got == "" {
		e.writeError(w, apiError(http.StatusUnauthorized, pinwheel.TypeUnauthorized, codeUnauthorized, "Missing API secret."))
		return false
	}
	if !constantTimeEqual(got, e.cfg.Secret) {
		e.writeError(w, apiError(http.StatusUnauthorized, pinwheel.TypeUnauthorized, codeUnauthorized, "Invalid API secret."))
		return false
	}
	return true
}

// notFound answers unknown routes (404) and known paths with the wrong
// method (405), always with the JSON envelope.
func (e *Emulator) notFound(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := e.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		e.writeError(w, apiError(http.StatusMethodNotAllowed, pinwheel.TypeInvalidRequest, codeMethodNotAllowed,
			"Method not allowed."))
		return
	}
	e.writeError(w, apiError(http.StatusNotFound, pinwheel.TypeNotFound, codeRouteNotFound, "Not found."))
}

// writeJSON writes v as compact JSON with encoding/json: the link-api's
// answers (the emulator's own API); /v1 answers go through writeAPI.
func (e *Emulator) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		e.log.Error("sandbox: encode response", "err", err)
		status = http.StatusInternalServerError
		b = apiJSON(errorBody(unknownError()))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError writes the API error envelope with the error's status.
func (e *Emulator) writeError(w http.ResponseWriter, pe *pinwheel.Error) {
	e.writeAPI(w, pe.StatusCode, errorBody(pe))
}

// fail logs an unexpected error and answers 500 UNKNOWN_ERROR.
func (e *Emulator) fail(w http.ResponseWriter, r *http.Request, err error) {
	e.log.Error("sandbox: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	e.writeError(w, unknownError())
}

// decodeBody decodes a JSON object body into v, answering 400 on failure.
func (e *Emulator) decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	err := decodeJSON(r, v)
	if err == nil {
		return true
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		name := te.Field
		if i := strings.LastIndexByte(name, '.'); i >= 0 {
			name = name[i+1:]
		}
		e.writeError(w, invalid(codeValidation, "Validation error.",
			pinwheel.FieldError{Name: name, Message: "Invalid type: expected " + te.Type.String() + "."}))
		return false
	}
	e.writeError(w, invalid(codeInvalidJSON, "Request body is not valid JSON.",
		pinwheel.FieldError{Name: "body", Message: "Expected a JSON object."}))
	return false
}

// originOf returns scheme://host of an absolute URL.
func originOf(u string) (string, error) {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok || scheme == "" || rest == "" {
		return "", fmt.Errorf("sandbox: Config.PublicURL must be an absolute URL, got %q", u)
	}
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + host, nil
}

// decodeJSON decodes one JSON value from the request body (at most 1 MiB)
// and rejects trailing data.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("sandbox: trailing data after JSON body")
	}
	return nil
}
