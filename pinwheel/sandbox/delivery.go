package sandbox

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"linkdesk/pinwheel"
)

// userAgent identifies the emulator's webhook sender. The real sender is
// python-requests/2.31.0 (recorded); the emulator says what it is, because
// nobody should tell Pinwheel from an impostor by a User-Agent.
const userAgent = "pinwheel-sandbox-emulator/1 (linkdesk)"

// Delayed task kinds.
const taskPendingFlip = "pending_flip"

// pendingFlip is the data of a taskPendingFlip: the jobs of a user_pending
// session that now end in error.
type pendingFlip struct {
	AccountID   string       `json:"account_id"`
	LinkTokenID string       `json:"link_token_id"`
	EndUserID   string       `json:"end_user_id"`
	PlatformID  string       `json:"platform_id"`
	Jobs        []pendingJob `json:"jobs"`
}

type pendingJob struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Switch is the user's choice, for a switch job (its params).
	Switch *switchChoice `json:"switch,omitempty"`
}

// Run sends queued webhook deliveries and runs delayed jobs (user_pending
// flipping to error) until ctx ends. Deliveries and tasks live in the state
// file, so a restarted emulator resumes whatever was pending. Run returns
// nil when ctx is cancelled, after in-flight deliveries have stopped.
func (e *Emulator) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	running := map[string]bool{} // webhook ids with a worker
	done := make(chan string)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			for len(running) > 0 {
				delete(running, <-done)
			}
			return nil
		case id := <-done:
			delete(running, id)
		case <-e.wake:
		case <-timer.C:
		}

		nowMs := time.Now().UnixMilli()
		next, err := e.runTasks(ctx, nowMs)
		if err != nil && ctx.Err() == nil {
			e.log.Error("sandbox: delayed tasks", "err", err)
			next = nowMs + 1000
		}
		due, nextDelivery, err := e.store.dueWebhooks(ctx, nowMs)
		if err != nil && ctx.Err() == nil {
			e.log.Error("sandbox: due deliveries", "err", err)
			nextDelivery = nowMs + 1000
		}
		for _, id := range due {
			if running[id] {
				continue
			}
			running[id] = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				e.deliverAll(ctx, id)
				done <- id
			}()
		}
		if nextDelivery > 0 && (next == 0 || nextDelivery < next) {
			next = nextDelivery
		}
		wait := time.Hour
		if next > 0 {
			wait = time.Duration(next-time.Now().UnixMilli()) * time.Millisecond
		}
		resetTimer(timer, max(wait, time.Millisecond))
	}
}

func resetTimer(t *time.Timer, d time.Duration) {
	t.Stop()
	select {
	case <-t.C:
	default:
	}
	t.Reset(d)
}

// runTasks runs due delayed tasks and returns the next run time (0 = none).
func (e *Emulator) runTasks(ctx context.Context, nowMs int64) (int64, error) {
	due, next, err := e.store.dueTasks(ctx, nowMs)
	if err != nil {
		return 0, err
	}
	for _, t := range due {
		err := e.writeTx(ctx, func(tx *sql.Tx) error {
			if t.Kind == taskPendingFlip {
				var flip pendingFlip
				if err := json.Unmarshal([]byte(t.Data), &flip); err != nil {
					return err
				}
				if err := e.flipPending(ctx, tx, flip); err != nil {
					return err
				}
			}
			return finishTask(ctx, tx, t.ID)
		})
		if err != nil {
			return 0, fmt.Errorf("sandbox: task %d: %w", t.ID, err)
		}
	}
	return next, nil
}

// flipPending sends the error outcome of a user_pending session's jobs,
// with the same job ids as their pending events.
func (e *Emulator) flipPending(ctx context.Context, tx *sql.Tx, flip pendingFlip) error {
	now := e.now()
	var evs []*event
	for i, j := range flip.Jobs {
		run := jobRun{ID: j.ID, Name: j.Name, Time: now.Add(time.Duration(i) * time.Millisecond),
			Outcome: pinwheel.OutcomeError, ErrorType: jobErrorType, ErrorCode: jobErrorCode,
			LinkTokenID: flip.LinkTokenID, AccountID: flip.AccountID, EndUserID: flip.EndUserID, PlatformID: flip.PlatformID}
		if j.Name == pinwheel.JobPaystubs || j.Name == pinwheel.JobShifts {
			run.Added = []string{}
		}
		if c := j.Switch; c != nil {
			run.Params = func(v string) obj { return switchParams(*c, v) }
		}
		evs = append(evs, run.event(jobEventName(j.Name)))
	}
	return e.emit(ctx, tx, evs...)
}

// deliverAll sends the pending deliveries of one webhook until none is due.
// Tidy delivery sends them in the order generated, and when one fails, later
// ones of the same account wait for its retry (unless the Reorder fault is
// on). Untidy delivery sends them in the order they fall due and lets no
// failure hold others back.
func (e *Emulator) deliverAll(ctx context.Context, webhookID string) {
	tidy := e.cfg.Delivery.Tidy
	for ctx.Err() == nil {
		list, err := e.store.pendingDeliveries(ctx, webhookID, 500, !tidy)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Error("sandbox: load deliveries", "err", err)
			}
			return
		}
		f := e.currentFaults()
		if f.Reorder {
			rand.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
		}
		blocked := map[string]bool{}
		sent := 0
		for _, d := range list {
			if ctx.Err() != nil {
				return
			}
			keepOrder := tidy && !f.Reorder
			if blocked[d.AccountID] && keepOrder {
				continue
			}
			if d.NextAt > time.Now().UnixMilli() {
				blocked[d.AccountID] = true
				continue
			}
			if !e.deliver(ctx, d) {
				blocked[d.AccountID] = true
			}
			sent++
		}
		if sent == 0 {
			return
		}
	}
}

// deliver makes one attempt (two with the DuplicateRate fault) and records
// the outcome; it reports success.
func (e *Emulator) deliver(ctx context.Context, d *delivery) bool {
	attempts := d.Attempts + 1
	status, err := e.post(ctx, d)
	if err != nil && ctx.Err() != nil {
		return false // cut short by shutdown: the attempt does not count
	}
	if err == nil && status >= 200 && status < 300 {
		if f := e.currentFaults(); f.DuplicateRate > 0 && rand.Float64() < f.DuplicateRate {
			_, _ = e.post(ctx, d)
		}
		if err := e.store.markDelivered(context.WithoutCancel(ctx), d.ID, attempts, e.now()); err != nil {
			e.log.Error("sandbox: mark delivered", "err", err)
		}
		if wait, ok := e.cfg.Delivery.redeliver(d.ID); ok && d.RedeliveryOf == 0 {
			if err := e.store.redeliver(context.WithoutCancel(ctx), d, time.Now().Add(wait).UnixMilli(), e.now()); err != nil {
				e.log.Error("sandbox: queue redelivery", "err", err)
			}
		}
		return true
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	} else {
		msg = "HTTP " + strconv.Itoa(status)
	}
	failed := attempts >= e.cfg.MaxAttempts
	backoff := e.cfg.RetryBase << min(attempts-1, 30)
	if backoff > e.cfg.RetryMax || backoff <= 0 {
		backoff = e.cfg.RetryMax
	}
	next := time.Now().Add(backoff).UnixMilli()
	e.log.Warn("sandbox: webhook delivery failed", "webhook_id", d.WebhookID, "event", d.Event,
		"event_id", d.EventID, "attempt", attempts, "err", msg, "gave_up", failed)
	if err := e.store.markRetry(context.WithoutCancel(ctx), d, attempts, next, failed, e.cfg.Delivery.Tidy, msg); err != nil {
		e.log.Error("sandbox: mark retry", "err", err)
	}
	return false
}

// post sends the delivery once, signed over the exact body bytes with a
// fresh timestamp.
func (e *Emulator) post(ctx context.Context, d *delivery) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.DeliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return 0, err
	}
	ts := strconv.FormatInt(e.now().Unix(), 10)
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "*/*")
	h.Set("Accept-Encoding", "gzip, deflate")
	h.Set("User-Agent", userAgent)
	h.Set(pinwheel.HeaderVersion, d.Version)
	secret := e.cfg.Secret
	if d.BadSignature {
		secret += "-not-the-secret"
	}
	h.Set(pinwheel.HeaderSignature, pinwheel.Sign(secret, ts, d.Body))
	h.Set(pinwheel.HeaderWebhookID, d.WebhookID)
	h.Set(pinwheel.HeaderTimestamp, ts)
	resp, err := e.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}
