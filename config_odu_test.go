package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig_LinkLifetime(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
		want time.Duration
		bad  bool
	}{
		{want: 168 * time.Hour},
		{args: []string{"--link-lifetime", "24h"}, want: 24 * time.Hour},
		{env: "72h", want: 72 * time.Hour},
		{args: []string{"--link-lifetime", "48h"}, env: "72h", want: 48 * time.Hour},
		{args: []string{"--link-lifetime", "30m"}, bad: true},
		{args: []string{"--link-lifetime", "2161h"}, bad: true},
		{args: []string{"--link-lifetime", "a week"}, bad: true},
	} {
		getenv := func(k string) string {
			if k == "LINKDESK_LINK_LIFETIME" {
				return tc.env
			}
			return ""
		}
		m, err := parseSettings("serve", "", serveSettings, tc.args, getenv, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		c, err := loadConfig(m)
		switch {
		case tc.bad && (err == nil || !strings.Contains(err.Error(), "LINKDESK_LINK_LIFETIME")):
			t.Errorf("%v: got %v, want an error naming LINKDESK_LINK_LIFETIME", tc.args, err)
		case !tc.bad && (err != nil || c.LinkLifetime != tc.want):
			t.Errorf("%v %q: got %v, %v; want %v", tc.args, tc.env, c.LinkLifetime, err, tc.want)
		}
	}
}

func TestLoadConfig_EmulatorRateLimit(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want float64
		bad  bool
	}{
		{want: 10},
		{args: []string{"--emulator-rate-limit", "50"}, want: 50},
		{args: []string{"--emulator-rate-limit", "0.5"}, want: 0.5},
		{args: []string{"--emulator-rate-limit", "off"}, want: -1},
		{args: []string{"--emulator-rate-limit", "0"}, want: -1},
		{args: []string{"--emulator-rate-limit", "-3"}, bad: true},
		{args: []string{"--emulator-rate-limit", "Inf"}, bad: true},
	} {
		m, err := parseSettings("serve", "", serveSettings, tc.args, func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		c, err := loadConfig(m)
		switch {
		case tc.bad && (err == nil || !strings.Contains(err.Error(), "LINKDESK_EMULATOR_RATE_LIMIT")):
			t.Errorf("%v: got %v, want an error naming LINKDESK_EMULATOR_RATE_LIMIT", tc.args, err)
		case !tc.bad && (err != nil || c.EmulatorRateLimit != tc.want):
			t.Errorf("%v: got %v, %v; want %v", tc.args, c.EmulatorRateLimit, err, tc.want)
		}
	}
}
