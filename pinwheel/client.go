package pinwheel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Retry tuning. Rate limits and Retry-After are not documented publicly (docs/pinwheel.md#undocumented): we chose
// conventional values because nothing better is known
// (docs/pinwheel.md#rate-limits).
const (
	backoffBase = 200 * time.Millisecond
	backoffCap  = 5 * time.Second
	// maxRetryAfter is the longest Retry-After the client waits out by
	// itself; a longer one is returned to the caller as the error.
	maxRetryAfter = time.Minute
	// maxResponseBytes bounds how much of a response body is read.
	maxResponseBytes = 16 << 20
)

// Config configures a Client. Only Secret and BaseURL are needed.
type Config struct {
	// BaseURL is the API root ending in /v1, e.g. BaseURL(ModeSandbox), or
	// the emulator's base + "/v1".
	BaseURL string
	// Secret is the API secret of the mode, sent as x-api-secret.
	Secret string
	// Version is the Pinwheel-Version header; "" means DefaultVersion.
	Version string
	// HTTPClient sends the requests; nil means a client with a 10 s timeout
	// per attempt.
	HTTPClient *http.Client
	// MaxRetries is how many times a failed request may be retried; 0 means
	// 3, a negative value disables retries.
	MaxRetries int
	// Sleep waits between retries; nil means a real timer that stops early
	// when ctx is done. Tests set it to record the waits instead.
	Sleep func(context.Context, time.Duration) error
}

// Client calls the Pinwheel API. It is safe for concurrent use.
//
// Retry policy. Reads (GET) and the idempotent PUT are retried, with
// jittered exponential backoff (200 ms doubling, capped at 5 s) or the
// server's Retry-After, on 429, on 5xx and on transport failures including
// timeouts. Everything else (POST, PATCH, DELETE) is retried only when the
// request provably never left this machine (TransportError.NeverSent: dial,
// DNS or TLS handshake failure) or the server refused it with 429 Too Many
// Requests, never after a timeout or any other response: a timed-out POST
// /link_tokens may have minted a token, and minting a second one unknowingly
// is worse than reporting the failure, while a rate limiter turns a request
// away at the door, before any work. The client decides by HTTP status only,
// never by the error's code (docs/pinwheel.md#errors: no code but
// INVALID_ROUTING_NUMBER is documented). No retry sleeps past the context's
// deadline; the last error is returned instead.
type Client struct {
	base       string
	secret     string
	version    string
	http       *http.Client
	maxRetries int
	sleep      func(context.Context, time.Duration) error
}

// New returns a Client for cfg, filling in defaults.
func New(cfg Config) *Client {
	c := &Client{
		base:       strings.TrimRight(cfg.BaseURL, "/"),
		secret:     cfg.Secret,
		version:    cfg.Version,
		http:       cfg.HTTPClient,
		maxRetries: cfg.MaxRetries,
		sleep:      cfg.Sleep,
	}
	if c.version == "" {
		c.version = DefaultVersion
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: 10 * time.Second}
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = 3
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.sleep == nil {
		c.sleep = sleepContext
	}
	return c
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// CreateLinkToken mints a Link token (POST /link_tokens). It is retried only
// when the request never reached Pinwheel; see Client.
func (c *Client) CreateLinkToken(ctx context.Context, in LinkTokenCreate) (LinkToken, error) {
	out, _, err := call[LinkToken](ctx, c, http.MethodPost, "/link_tokens", nil, in)
	return out, err
}

// Account returns one payroll account (GET /accounts/{id}).
func (c *Client) Account(ctx context.Context, id string) (Account, error) {
	out, _, err := call[Account](ctx, c, http.MethodGet, "/accounts/"+url.PathEscape(id), nil, nil)
	return out, err
}

// AccountsFilter narrows GET /accounts; zero fields are not sent.
type AccountsFilter struct {
	Connected        *bool
	MonitoringStatus string
	// Limit is the page size, 1–100 (Pinwheel's default is 25).
	Limit int
}

func (f AccountsFilter) query(cursor string) url.Values {
	q := url.Values{}
	if f.Connected != nil {
		q.Set("connected", strconv.FormatBool(*f.Connected))
	}
	setNonEmpty(q, "monitoring_status", f.MonitoringStatus)
	setPage(q, f.Limit, cursor)
	return q
}

// AccountsPage returns one page of GET /accounts; pass Meta.NextCursor of a
// page as cursor to get the next one ("" for the first).
func (c *Client) AccountsPage(ctx context.Context, f AccountsFilter, cursor string) ([]Account, Meta, error) {
	return call[[]Account](ctx, c, http.MethodGet, "/accounts", f.query(cursor), nil)
}

// ListAccounts iterates over all accounts matching f, page by page. An error
// is yielded once, as the last element.
func (c *Client) ListAccounts(ctx context.Context, f AccountsFilter) iter.Seq2[Account, error] {
	return paginate(ctx, func(ctx context.Context, cursor string) ([]Account, Meta, error) {
		return c.AccountsPage(ctx, f, cursor)
	})
}

// EndUserAccounts iterates over the accounts of one end user
// (GET /end_users/{end_user_id}/accounts); limit 0 means Pinwheel's default.
func (c *Client) EndUserAccounts(ctx context.Context, endUserID string, limit int) iter.Seq2[Account, error] {
	path := "/end_users/" + url.PathEscape(endUserID) + "/accounts"
	return paginate(ctx, func(ctx context.Context, cursor string) ([]Account, Meta, error) {
		q := url.Values{}
		setPage(q, limit, cursor)
		return call[[]Account](ctx, c, http.MethodGet, path, q, nil)
	})
}

// DisableMonitoring stops scheduled refreshes of an account
// (POST /accounts/{id}/disable_monitoring).
func (c *Client) DisableMonitoring(ctx context.Context, accountID string) error {
	return c.noContent(ctx, http.MethodPost, "/accounts/"+url.PathEscape(accountID)+"/disable_monitoring", nil)
}

// Disconnect permanently disconnects an account; its data stays readable
// (POST /accounts/{id}/disconnect).
func (c *Client) Disconnect(ctx context.Context, accountID string) error {
	return c.noContent(ctx, http.MethodPost, "/accounts/"+url.PathEscape(accountID)+"/disconnect", nil)
}

// Identity returns the identity of an account; Meta.RefreshedAt says when
// Pinwheel last queried the payroll provider.
func (c *Client) Identity(ctx context.Context, accountID string) (Identity, Meta, error) {
	return call[Identity](ctx, c, http.MethodGet, accountPath(accountID, "identity"), nil, nil)
}

// Employment returns the employment of an account.
func (c *Client) Employment(ctx context.Context, accountID string) (Employment, Meta, error) {
	return call[Employment](ctx, c, http.MethodGet, accountPath(accountID, "employment"), nil, nil)
}

// Income returns the income of an account.
func (c *Client) Income(ctx context.Context, accountID string) (Income, Meta, error) {
	return call[Income](ctx, c, http.MethodGet, accountPath(accountID, "income"), nil, nil)
}

// DirectDepositAllocations returns how an account's paycheck is split.
func (c *Client) DirectDepositAllocations(ctx context.Context, accountID string) (DDAllocations, Meta, error) {
	return call[DDAllocations](ctx, c, http.MethodGet, accountPath(accountID, "direct_deposit_allocations"), nil, nil)
}

// PaystubsFilter narrows GET /accounts/{id}/paystubs; zero fields are not
// sent. From and To are pay dates (YYYY-MM-DD).
type PaystubsFilter struct {
	From   string
	To     string
	Limit  int
	Cursor string
}

// Paystubs returns one page of an account's paystubs, newest pay date first.
func (c *Client) Paystubs(ctx context.Context, accountID string, f PaystubsFilter) ([]Paystub, Meta, error) {
	q := url.Values{}
	setNonEmpty(q, "from_pay_date", f.From)
	setNonEmpty(q, "to_pay_date", f.To)
	setPage(q, f.Limit, f.Cursor)
	return call[[]Paystub](ctx, c, http.MethodGet, accountPath(accountID, "paystubs"), q, nil)
}

// AllPaystubs iterates over every paystub matching f, starting at f.Cursor.
func (c *Client) AllPaystubs(ctx context.Context, accountID string, f PaystubsFilter) iter.Seq2[Paystub, error] {
	return paginate(ctx, func(ctx context.Context, cursor string) ([]Paystub, Meta, error) {
		g := f
		if cursor != "" {
			g.Cursor = cursor
		}
		return c.Paystubs(ctx, accountID, g)
	})
}

// Paystub returns one paystub with its document.
func (c *Client) Paystub(ctx context.Context, accountID, paystubID string) (Paystub, error) {
	out, _, err := call[Paystub](ctx, c, http.MethodGet, accountPath(accountID, "paystubs")+"/"+url.PathEscape(paystubID), nil, nil)
	return out, err
}

// RawPage is one page of a list endpoint with its items left as Pinwheel
// sent them: callers that keep what Pinwheel said (the paystubs and shifts
// of an income report) decode each item themselves, so that an amount sent
// as null stays null instead of becoming 0.
type RawPage = Page[json.RawMessage]

// PaystubPages iterates over the pages of an account's paystubs matching f
// (newest pay date first), starting at f.Cursor; an error is yielded once,
// as the last element.
func (c *Client) PaystubPages(ctx context.Context, accountID string, f PaystubsFilter) iter.Seq2[RawPage, error] {
	return pages(ctx, f.Cursor, func(ctx context.Context, cursor string) ([]json.RawMessage, Meta, error) {
		q := url.Values{}
		setNonEmpty(q, "from_pay_date", f.From)
		setNonEmpty(q, "to_pay_date", f.To)
		setPage(q, f.Limit, cursor)
		return call[[]json.RawMessage](ctx, c, http.MethodGet, accountPath(accountID, "paystubs"), q, nil)
	})
}

// PaystubRaw returns one paystub as Pinwheel sent it.
func (c *Client) PaystubRaw(ctx context.Context, accountID, paystubID string) (json.RawMessage, error) {
	out, _, err := call[json.RawMessage](ctx, c, http.MethodGet, accountPath(accountID, "paystubs")+"/"+url.PathEscape(paystubID), nil, nil)
	return out, err
}

// ShiftsFilter narrows GET /accounts/{id}/shifts; zero fields are not sent.
// Dates are YYYY-MM-DD.
type ShiftsFilter struct {
	FromStartDate string
	ToStartDate   string
	FromEndDate   string
	ToEndDate     string
	Limit         int
	Cursor        string
}

// Shifts returns one page of an account's shifts, newest end date first.
func (c *Client) Shifts(ctx context.Context, accountID string, f ShiftsFilter) ([]Shift, Meta, error) {
	q := url.Values{}
	setNonEmpty(q, "from_start_date", f.FromStartDate)
	setNonEmpty(q, "to_start_date", f.ToStartDate)
	setNonEmpty(q, "from_end_date", f.FromEndDate)
	setNonEmpty(q, "to_end_date", f.ToEndDate)
	setPage(q, f.Limit, f.Cursor)
	return call[[]Shift](ctx, c, http.MethodGet, accountPath(accountID, "shifts"), q, nil)
}

// AllShifts iterates over every shift matching f, starting at f.Cursor.
func (c *Client) AllShifts(ctx context.Context, accountID string, f ShiftsFilter) iter.Seq2[Shift, error] {
	return paginate(ctx, func(ctx context.Context, cursor string) ([]Shift, Meta, error) {
		g := f
		if cursor != "" {
			g.Cursor = cursor
		}
		return c.Shifts(ctx, accountID, g)
	})
}

// ShiftPages iterates over the pages of an account's shifts matching f
// (newest end date first), starting at f.Cursor, items as Pinwheel sent
// them (see RawPage).
func (c *Client) ShiftPages(ctx context.Context, accountID string, f ShiftsFilter) iter.Seq2[RawPage, error] {
	return pages(ctx, f.Cursor, func(ctx context.Context, cursor string) ([]json.RawMessage, Meta, error) {
		g := f
		g.Cursor = cursor
		q := url.Values{}
		setNonEmpty(q, "from_start_date", g.FromStartDate)
		setNonEmpty(q, "to_start_date", g.ToStartDate)
		setNonEmpty(q, "from_end_date", g.FromEndDate)
		setNonEmpty(q, "to_end_date", g.ToEndDate)
		setPage(q, g.Limit, cursor)
		return call[[]json.RawMessage](ctx, c, http.MethodGet, accountPath(accountID, "shifts"), q, nil)
	})
}

// Webhooks returns every registered webhook, following cursors.
func (c *Client) Webhooks(ctx context.Context) ([]Webhook, error) {
	var all []Webhook
	for w, err := range paginate(ctx, func(ctx context.Context, cursor string) ([]Webhook, Meta, error) {
		q := url.Values{}
		setPage(q, 0, cursor)
		return call[[]Webhook](ctx, c, http.MethodGet, "/webhooks", q, nil)
	}) {
		if err != nil {
			return nil, err
		}
		all = append(all, w)
	}
	return all, nil
}

// Webhook returns one registered webhook.
func (c *Client) Webhook(ctx context.Context, id string) (Webhook, error) {
	out, _, err := call[Webhook](ctx, c, http.MethodGet, "/webhooks/"+url.PathEscape(id), nil, nil)
	return out, err
}

// CreateWebhook registers a webhook (at most 10 per API key).
func (c *Client) CreateWebhook(ctx context.Context, in WebhookCreate) (Webhook, error) {
	out, _, err := call[Webhook](ctx, c, http.MethodPost, "/webhooks", nil, in)
	return out, err
}

// UpdateWebhook changes a webhook's URL, status, events or customer id; its
// version cannot be changed.
func (c *Client) UpdateWebhook(ctx context.Context, id string, in WebhookUpdate) (Webhook, error) {
	out, _, err := call[Webhook](ctx, c, http.MethodPut, "/webhooks/"+url.PathEscape(id), nil, in)
	return out, err
}

// DeleteWebhook removes a webhook.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	return c.noContent(ctx, http.MethodDelete, "/webhooks/"+url.PathEscape(id), nil)
}

// PlatformsFilter narrows GET /platforms; zero fields are not sent.
type PlatformsFilter struct {
	IncludeESPs *bool
	Type        string
	// LastUpdated is passed through verbatim.
	// Its format is not documented publicly (docs/pinwheel.md#undocumented): we
	// chose a timestamp string because the field it filters is one.
	LastUpdated string
	Limit       int
}

// Platforms iterates over the platform directory.
func (c *Client) Platforms(ctx context.Context, f PlatformsFilter) iter.Seq2[Platform, error] {
	return paginate(ctx, func(ctx context.Context, cursor string) ([]Platform, Meta, error) {
		q := url.Values{}
		if f.IncludeESPs != nil {
			q.Set("include_esps", strconv.FormatBool(*f.IncludeESPs))
		}
		setNonEmpty(q, "type", f.Type)
		setNonEmpty(q, "last_updated", f.LastUpdated)
		setPage(q, f.Limit, cursor)
		return call[[]Platform](ctx, c, http.MethodGet, "/platforms", q, nil)
	})
}

// Platform returns one platform.
func (c *Client) Platform(ctx context.Context, id string) (Platform, error) {
	out, _, err := call[Platform](ctx, c, http.MethodGet, "/platforms/"+url.PathEscape(id), nil, nil)
	return out, err
}

// JobsFilter narrows GET /jobs; zero fields are not sent. JobTypes are sent
// as repeated job_types keys.
type JobsFilter struct {
	LinkTokenID string
	AccountID   string
	JobTypes    []string
	Outcome     string
	From        time.Time
	To          time.Time
	Limit       int
}

// Jobs iterates over Link-initiated jobs (not monitoring refreshes).
func (c *Client) Jobs(ctx context.Context, f JobsFilter) iter.Seq2[Job, error] {
	return paginate(ctx, func(ctx context.Context, cursor string) ([]Job, Meta, error) {
		q := url.Values{}
		setNonEmpty(q, "link_token_id", f.LinkTokenID)
		setNonEmpty(q, "account_id", f.AccountID)
		for _, j := range f.JobTypes {
			q.Add("job_types", j)
		}
		setNonEmpty(q, "outcome", f.Outcome)
		if !f.From.IsZero() {
			q.Set("from_timestamp", f.From.Format(TimeLayout))
		}
		if !f.To.IsZero() {
			q.Set("to_timestamp", f.To.Format(TimeLayout))
		}
		setPage(q, f.Limit, cursor)
		return call[[]Job](ctx, c, http.MethodGet, "/jobs", q, nil)
	})
}

// SandboxSetMonitoringStatus overrides a sandbox account's monitoring status
// (PATCH /sandbox/accounts/{id}); Pinwheel accepts only
// StatusUserActionRequired.
func (c *Client) SandboxSetMonitoringStatus(ctx context.Context, accountID, status string) (Account, error) {
	body := struct {
		MonitoringStatus string `json:"monitoring_status"`
	}{status}
	out, _, err := call[Account](ctx, c, http.MethodPatch, "/sandbox/accounts/"+url.PathEscape(accountID), nil, body)
	return out, err
}

func accountPath(id, sub string) string {
	return "/accounts/" + url.PathEscape(id) + "/" + sub
}

func setNonEmpty(q url.Values, key, v string) {
	if v != "" {
		q.Set(key, v)
	}
}

func setPage(q url.Values, limit int, cursor string) {
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	setNonEmpty(q, "cursor", cursor)
}

// errCursorLoop stops an iterator whose server hands back a cursor it
// already gave, which would otherwise page forever.
var errCursorLoop = errors.New("pinwheel: pagination cursor repeated")

// paginate turns a page fetcher into an iterator that follows next_cursor
// until it is null. A fetch error is yielded once and ends the iteration.
func paginate[T any](ctx context.Context, fetch func(context.Context, string) ([]T, Meta, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		for page, err := range pages(ctx, "", fetch) {
			if err != nil {
				yield(zero, err)
				return
			}
			for _, it := range page.Items {
				if !yield(it, nil) {
					return
				}
			}
		}
	}
}

// pages is the cursor loop behind every list iterator: it fetches the page
// at first (or the first page when ""), then follows next_cursor until it
// is null, yielding each page with its meta. A fetch error is yielded once
// and ends the iteration; so does a cursor the server already gave, which
// would otherwise page forever.
func pages[T any](ctx context.Context, first string, fetch func(context.Context, string) ([]T, Meta, error)) iter.Seq2[Page[T], error] {
	return func(yield func(Page[T], error) bool) {
		seen := map[string]bool{}
		cursor := first
		for {
			items, meta, err := fetch(ctx, cursor)
			if err != nil {
				yield(Page[T]{}, err)
				return
			}
			if !yield(Page[T]{Items: items, Meta: meta}, nil) {
				return
			}
			if meta.NextCursor == nil || *meta.NextCursor == "" {
				return
			}
			cursor = *meta.NextCursor
			if seen[cursor] {
				yield(Page[T]{}, errCursorLoop)
				return
			}
			seen[cursor] = true
		}
	}
}

// Page is one page of a list endpoint: its items and its meta.
type Page[T any] struct {
	Items []T
	Meta  Meta
}

// envelope is the success body; Data is decoded into the caller's type
// afterwards so a missing "data" can be told apart from a zero value.
type envelope struct {
	Data json.RawMessage `json:"data"`
	Meta *Meta           `json:"meta"`
}

// call sends one request (with retries) and decodes {"data": T, "meta": …}.
func call[T any](ctx context.Context, c *Client, method, path string, q url.Values, in any) (T, Meta, error) {
	var out T
	body, err := c.send(ctx, method, path, q, in)
	if err != nil {
		return out, Meta{}, err
	}

	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return out, Meta{}, fmt.Errorf("pinwheel: %s %s: decode response: %w", method, path, err)
	}
	if len(env.Data) == 0 || bytes.Equal(env.Data, []byte("null")) {
		return out, Meta{}, fmt.Errorf("pinwheel: %s %s: response has no data", method, path)
	}
	if err := json.Unmarshal(env.Data, &out); err != nil {
		return out, Meta{}, fmt.Errorf("pinwheel: %s %s: decode data: %w", method, path, err)
	}
	var meta Meta
	if env.Meta != nil {
		meta = *env.Meta
	}
	return out, meta, nil
}

// noContent sends a request whose success body (204, or {}) is ignored.
func (c *Client) noContent(ctx context.Context, method, path string, in any) error {
	_, err := c.send(ctx, method, path, nil, in)
	return err
}

// send runs the retry loop around attempt and returns a 2xx response body.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, in any) ([]byte, error) {
	var payload []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("pinwheel: %s %s: encode request: %w", method, path, err)
		}
		payload = b
	}
	target := c.base + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}

	for retry := 0; ; retry++ {
		body, wait, err := c.attempt(ctx, method, path, target, payload)
		if err == nil {
			return body, nil
		}
		if retry >= c.maxRetries || ctx.Err() != nil || !retryable(method, err) {
			return nil, err
		}
		if wait < 0 {
			wait = backoff(retry)
		}
		if wait > maxRetryAfter {
			return nil, err
		}
		if deadline, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(deadline) {
			return nil, err
		}
		if c.sleep(ctx, wait) != nil {
			return nil, err
		}
	}
}

// attempt sends the request once. wait is the server's Retry-After, or -1
// when it gave none.
func (c *Client) attempt(ctx context.Context, method, path, target string, payload []byte) (body []byte, wait time.Duration, err error) {
	if c.base == "" {
		return nil, -1, fmt.Errorf("pinwheel: %s %s: no base URL configured", method, path)
	}
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, -1, fmt.Errorf("pinwheel: %s %s: %w", method, path, err)
	}
	req.Header.Set(HeaderAPISecret, c.secret)
	req.Header.Set(HeaderVersion, c.version)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	op := method + " " + path
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, -1, &TransportError{Op: op, Err: err, NeverSent: neverSent(err)}
	}
	defer resp.Body.Close()

	body, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, -1, &TransportError{Op: op, Err: err}
	}
	if len(body) > maxResponseBytes {
		return nil, -1, fmt.Errorf("pinwheel: %s: response larger than %d bytes", op, maxResponseBytes)
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return body, -1, nil
	}

	wait, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	apiErr := decodeError(resp.StatusCode, body)
	apiErr.RequestID = resp.Header.Get(HeaderRequestID)
	if ok {
		apiErr.RetryAfter = wait
	} else {
		wait = -1
	}
	return nil, wait, apiErr
}

// retryable applies the retry policy documented on Client.
func retryable(method string, err error) bool {
	var te *TransportError
	if errors.As(err, &te) && te.NeverSent {
		return true
	}
	var refused *Error
	if errors.As(err, &refused) && refused.StatusCode == http.StatusTooManyRequests {
		return true
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut:
	default:
		return false
	}
	if te != nil {
		return true
	}
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode == http.StatusTooManyRequests || apiErr.StatusCode >= 500
	}
	return false
}

// backoff returns the wait before retry number n (0-based): 200 ms doubling
// up to 5 s, with "equal jitter" (half fixed, half random) so that clients
// that failed together do not retry together.
func backoff(n int) time.Duration {
	d := backoffCap
	if n < 5 {
		d = min(backoffBase<<n, backoffCap)
	}
	half := d / 2
	return half + rand.N(half+1)
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
// A date in the past means no wait.
func parseRetryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(h, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(h)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// decodeError turns an error response into *Error; a body that is not the
// envelope still yields one, with Type UNKNOWN_ERROR.
func decodeError(status int, body []byte) *Error {
	var env ErrorEnvelope
	if err := json.Unmarshal(body, &env); err == nil && env.Error != nil {
		e := env.Error
		e.StatusCode = status
		if e.Type == "" {
			e.Type = TypeUnknown
		}
		if e.Message == "" {
			e.Message = http.StatusText(status)
		}
		return e
	}
	msg := http.StatusText(status)
	if s := strings.TrimSpace(strings.ToValidUTF8(string(body), "")); s != "" {
		if len(s) > 200 {
			s = strings.ToValidUTF8(s[:200], "") + "…"
		}
		msg = strings.TrimSpace(msg + " " + s)
	}
	return &Error{Type: TypeUnknown, Message: msg, StatusCode: status}
}
