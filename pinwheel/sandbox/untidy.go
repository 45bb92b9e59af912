package sandbox

import (
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// DeliveryOptions shape the order of webhook deliveries.
//
// Pinwheel promises no order and redelivers events (docs/pinwheel.md#webhook-ordering),
// and recorded sessions interleave event types. The emulator always
// generates a session's events in the recorded interleaved order; by default
// it is also untidy on top of that: a share of deliveries is held back a
// little so later ones overtake it, a share of delivered events is delivered
// again later (same event_id and body, fresh signature), and a failed
// delivery does not hold the account's later ones back. Every choice is a
// function of Seed and the delivery's row number, so a run is reproducible.
// Tests that need the generated order set Tidy.
type DeliveryOptions struct {
	// Tidy turns the untidiness off: each webhook's deliveries go out in the
	// order generated, an account's later deliveries wait while an earlier
	// one waits for a retry, and nothing is delivered twice (but for the
	// DuplicateRate fault).
	Tidy bool
	// Seed seeds the untidy choices; 0 means 1.
	Seed uint64
	// HoldBackRate is the share of deliveries sent late; 0 means 0.2, a
	// negative value none.
	HoldBackRate float64
	// RedeliverRate is the share of delivered events sent a second time; 0
	// means 0.05, a negative value none.
	RedeliverRate float64
	// MaxDelay bounds how late a held-back delivery or a redelivery goes out
	// (wall clock); 0 means 400 ms.
	MaxDelay time.Duration
}

func (o DeliveryOptions) withDefaults() DeliveryOptions {
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.HoldBackRate == 0 {
		o.HoldBackRate = 0.2
	}
	if o.RedeliverRate == 0 {
		o.RedeliverRate = 0.05
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = 400 * time.Millisecond
	}
	return o
}

// choice returns two reproducible numbers in [0, 1) for a delivery row and
// a purpose.
func (o DeliveryOptions) choice(id int64, purpose string) (float64, float64) {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], o.Seed)
	binary.LittleEndian.PutUint64(b[8:], uint64(id))
	h := sha256.Sum256(append(b[:], purpose...))
	const scale = 1 << 53
	return float64(binary.LittleEndian.Uint64(h[0:8])>>11) / scale, float64(binary.LittleEndian.Uint64(h[8:16])>>11) / scale
}

// delay maps u in [0, 1) to a delay between a tenth of MaxDelay and MaxDelay.
func (o DeliveryOptions) delay(u float64) time.Duration {
	lo := o.MaxDelay / 10
	return lo + time.Duration(u*float64(o.MaxDelay-lo))
}

// holdBack reports whether delivery row id is sent late, and by how much.
func (o DeliveryOptions) holdBack(id int64) (time.Duration, bool) {
	if o.Tidy || o.HoldBackRate <= 0 {
		return 0, false
	}
	p, u := o.choice(id, "hold back")
	if p >= o.HoldBackRate {
		return 0, false
	}
	return o.delay(u), true
}

// redeliver reports whether delivered row id is delivered again, and when.
func (o DeliveryOptions) redeliver(id int64) (time.Duration, bool) {
	if o.Tidy || o.RedeliverRate <= 0 {
		return 0, false
	}
	p, u := o.choice(id, "redeliver")
	if p >= o.RedeliverRate {
		return 0, false
	}
	return o.delay(u), true
}
