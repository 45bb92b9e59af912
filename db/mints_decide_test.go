package db

import (
	"testing"
	"time"
)

func TestDecideMint(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	fresh := mintFacts{Now: now, HasToken: true, MintedAt: now.Add(-time.Minute), ExpiresAt: now.Add(59 * time.Minute)}
	with := func(f mintFacts, change func(*mintFacts)) mintFacts { change(&f); return f }
	for _, tc := range []struct {
		name string
		in   mintFacts
		want mintDecision
	}{
		{"first open", mintFacts{Now: now}, mintDecision{}},
		{"live token", fresh, mintDecision{Reuse: true}},
		{"live token while someone mints", with(fresh, func(f *mintFacts) { f.LeaseUntil = now.Add(time.Second) }), mintDecision{Reuse: true}},
		{"token about to expire", with(fresh, func(f *mintFacts) { f.ExpiresAt = now.Add(MintReuseMargin - time.Second) }), mintDecision{}},
		{"token forgotten", with(fresh, func(f *mintFacts) { f.HasToken = false }), mintDecision{}},
		{"ended, young", with(fresh, func(f *mintFacts) { f.Ended = true }), mintDecision{RetryAfter: MinRemintAge - time.Minute}},
		{"ended, old enough", with(fresh, func(f *mintFacts) { f.Ended, f.MintedAt = true, now.Add(-MinRemintAge) }), mintDecision{}},
		{"ended, young but expiring", with(fresh, func(f *mintFacts) { f.Ended, f.ExpiresAt = true, now.Add(time.Minute) }), mintDecision{}},
		{"someone is minting", mintFacts{Now: now, LeaseUntil: now.Add(time.Second)}, mintDecision{Minting: true}},
		{"lease ran out", mintFacts{Now: now, LeaseUntil: now}, mintDecision{}},
		{"after a failure", mintFacts{Now: now, NotBefore: now.Add(10 * time.Second)}, mintDecision{RetryAfter: 10 * time.Second}},
		{"budget spent", mintFacts{Now: now, Attempts: MaxMintsPerLink}, mintDecision{Spent: true}},
		{"budget spent, token live", with(fresh, func(f *mintFacts) { f.Attempts = MaxMintsPerLink }), mintDecision{Reuse: true}},
		{"budget spent, but wait first", mintFacts{Now: now, Attempts: MaxMintsPerLink, LeaseUntil: now.Add(time.Second)}, mintDecision{Minting: true}},
	} {
		if got := decideMint(tc.in); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
