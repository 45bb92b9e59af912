package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"linkdesk/pinwheel"
)

// Config configures Run.
type Config struct {
	// Target is the webhook URL, e.g. http://127.0.0.1:8080/webhooks/pinwheel.
	Target string
	// Secret signs the deliveries.
	Secret string
	// Rate is the deliveries per second to aim at (open loop); 0 means as
	// fast as Concurrency workers get answers (closed loop).
	Rate int
	// Concurrency is the number of requests in flight at most; 0 means 64.
	Concurrency int
	// Duration bounds the run; 0 means 10 s. Max bounds the deliveries; 0
	// means no bound besides Duration.
	Duration time.Duration
	Max      int
	// AllowRemote permits a target that is not a loopback address.
	AllowRemote bool
	// Gen shapes the traffic.
	Gen GenConfig
	// Timeout is the per-request timeout; 0 means 30 s.
	Timeout time.Duration
	// OnAck, if set, is called for every delivery answered 200 (from many
	// goroutines).
	OnAck func(eventID string, duplicate bool)
	// Client sends the requests; nil means a keep-alive client sized for
	// Concurrency.
	Client *http.Client
}

// Report is what a run measured.
type Report struct {
	Sent int64
	// Acked are deliveries answered 200 (Duplicates of them as duplicates).
	Acked      int64
	Duplicates int64
	// Rejected are 4xx answers; Failed are 5xx answers and transport errors.
	Rejected int64
	Failed   int64
	Elapsed  time.Duration
	// Latencies of the acknowledged deliveries.
	P50, P95, P99, Max time.Duration
	// FirstError describes the first failure, if any.
	FirstError string
}

// Throughput is acknowledged deliveries per second.
func (r Report) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Acked) / r.Elapsed.Seconds()
}

// Print writes the report in a few human lines.
func (r Report) Print(w io.Writer) {
	fmt.Fprintf(w, "sent %d, acknowledged %d (%d duplicates), rejected %d, failed %d in %.2fs\n",
		r.Sent, r.Acked, r.Duplicates, r.Rejected, r.Failed, r.Elapsed.Seconds())
	fmt.Fprintf(w, "throughput %.0f acknowledged/s; latency p50 %s, p95 %s, p99 %s, max %s\n",
		r.Throughput(), ms(r.P50), ms(r.P95), ms(r.P99), ms(r.Max))
	if r.FirstError != "" {
		fmt.Fprintf(w, "first error: %s\n", r.FirstError)
	}
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64) + "ms"
}

// ErrNotLoopback refuses a target on another machine: load tests here may
// only talk to this host.
var ErrNotLoopback = errors.New("loadgen: target is not a loopback address (use --allow-remote to override)")

// CheckLoopback returns ErrNotLoopback unless target's host is localhost or
// a loopback IP. It resolves nothing.
func CheckLoopback(target string) error {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("loadgen: target must be an absolute http URL, got %q", target)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return ErrNotLoopback
}

// Run sends signed deliveries until Duration or Max is reached or ctx ends,
// and reports what came back.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if !cfg.AllowRemote {
		if err := CheckLoopback(cfg.Target); err != nil {
			return Report{}, err
		}
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 64
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: cfg.Timeout, Transport: &http.Transport{
			MaxIdleConns: cfg.Concurrency, MaxIdleConnsPerHost: cfg.Concurrency, IdleConnTimeout: time.Minute,
			DisableCompression: true,
		}}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()

	gen := NewGenerator(cfg.Gen)
	var genMu sync.Mutex
	var sent atomic.Int64
	next := func() (Event, bool) {
		if cfg.Max > 0 && sent.Add(1) > int64(cfg.Max) {
			return Event{}, false
		}
		if cfg.Max <= 0 {
			sent.Add(1)
		}
		genMu.Lock()
		defer genMu.Unlock()
		return gen.Next(), true
	}

	// With a rate, a ticker hands out send slots; without, every worker
	// sends again as soon as it has its answer.
	var slots chan struct{}
	if cfg.Rate > 0 {
		slots = make(chan struct{}, cfg.Concurrency)
		go func() {
			interval := time.Second / time.Duration(cfg.Rate)
			t := time.NewTicker(max(interval, 50*time.Microsecond))
			defer t.Stop()
			perTick := max(1, int(time.Duration(cfg.Rate)*max(interval, 50*time.Microsecond)/time.Second))
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					for range perTick {
						select {
						case slots <- struct{}{}:
						default: // the workers are behind: the slot is lost
						}
					}
				}
			}
		}()
	}

	type result struct {
		lat []time.Duration
		rep Report
	}
	results := make([]result, cfg.Concurrency)
	var errOnce sync.Once
	var firstErr string
	start := time.Now()
	var wg sync.WaitGroup
	for w := range cfg.Concurrency {
		wg.Go(func() {
			res := &results[w]
			for ctx.Err() == nil {
				if slots != nil {
					select {
					case <-ctx.Done():
						return
					case <-slots:
					}
				}
				ev, ok := next()
				if !ok {
					return
				}
				t0 := time.Now()
				status, body, err := send(ctx, client, cfg.Target, cfg.Secret, ev.Body)
				lat := time.Since(t0)
				switch {
				case err != nil:
					if ctx.Err() != nil {
						// The run ended mid-request: not the server's failure.
						sent.Add(-1)
						return
					}
					res.rep.Failed++
					errOnce.Do(func() { firstErr = err.Error() })
				case status == http.StatusOK:
					res.rep.Acked++
					dup := bytes.Contains(body, []byte(`"duplicate"`))
					if dup {
						res.rep.Duplicates++
					}
					res.lat = append(res.lat, lat)
					if cfg.OnAck != nil {
						cfg.OnAck(ev.EventID, dup)
					}
				case status >= 400 && status < 500:
					res.rep.Rejected++
					errOnce.Do(func() { firstErr = fmt.Sprintf("HTTP %d: %s", status, bytes.TrimSpace(body)) })
				default:
					res.rep.Failed++
					errOnce.Do(func() { firstErr = fmt.Sprintf("HTTP %d: %s", status, bytes.TrimSpace(body)) })
				}
			}
		})
	}
	wg.Wait()

	rep := Report{Elapsed: time.Since(start), FirstError: firstErr}
	var all []time.Duration
	for _, r := range results {
		rep.Acked += r.rep.Acked
		rep.Duplicates += r.rep.Duplicates
		rep.Rejected += r.rep.Rejected
		rep.Failed += r.rep.Failed
		all = append(all, r.lat...)
	}
	rep.Sent = rep.Acked + rep.Rejected + rep.Failed
	slices.Sort(all)
	if n := len(all); n > 0 {
		q := func(p float64) time.Duration { return all[min(n-1, int(p*float64(n)))] }
		rep.P50, rep.P95, rep.P99, rep.Max = q(0.50), q(0.95), q(0.99), all[n-1]
	}
	return rep, nil
}

// send posts one signed delivery and returns the status and body.
func send(ctx context.Context, client *http.Client, target, secret string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "linkdesk-loadgen")
	h.Set(pinwheel.HeaderVersion, pinwheel.DefaultVersion)
	h.Set(pinwheel.HeaderWebhookID, "420900d5-2ffb-4ad9-b2a6-38ef975f9b21")
	h.Set(pinwheel.HeaderTimestamp, ts)
	h.Set(pinwheel.HeaderSignature, pinwheel.Sign(secret, ts, body))
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, b, err
}
