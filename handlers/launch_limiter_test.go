package handlers

import (
	"fmt"
	"testing"
	"time"
)

func TestLaunchLimiter(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	l := newLaunchLimiter(60)
	l.now = func() time.Time { return now }

	for i := range 60 {
		if !l.allow("a") {
			t.Fatalf("event %d of the burst refused", i+1)
		}
	}
	if l.allow("a") {
		t.Error("61st event in the same instant allowed")
	}
	if !l.allow("b") {
		t.Error("another link shares the first one's bucket")
	}
	now = now.Add(2 * time.Second)
	if !l.allow("a") || !l.allow("a") || l.allow("a") {
		t.Error("two seconds should refill exactly two events")
	}

	// Past maxBuckets, idle (full) buckets are dropped; busy ones stay.
	for i := range maxBuckets {
		l.allow(fmt.Sprint("idle-", i))
	}
	now = now.Add(2 * time.Minute)
	for range 60 {
		l.allow("busy")
	}
	l.allow("newcomer")
	if len(l.buckets) > 3 {
		t.Errorf("%d buckets after pruning, want the busy and new ones only", len(l.buckets))
	}
	if l.allow("busy") {
		t.Error("pruning forgot a busy bucket")
	}
}

func TestLaunchLimiter_PerAddress(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	l := newLaunchLimiter(60)
	l.now = func() time.Time { return now }
	for i := range launchEventsPerAddrMinute {
		if !l.allowAddr("203.0.113.9") {
			t.Fatalf("event %d of the address's burst refused", i+1)
		}
	}
	if l.allowAddr("203.0.113.9") {
		t.Error("an address went past its burst")
	}
	if !l.allowAddr("203.0.113.10") || !l.allow("203.0.113.9") {
		t.Error("another address, or a launch id, shares the address's bucket")
	}
	now = now.Add(time.Second)
	if !l.allowAddr("203.0.113.9") {
		t.Error("a second did not refill the address's bucket")
	}
}
