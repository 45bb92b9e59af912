package db_test

import (
	"errors"
	"strings"
	"testing"

	"linkdesk/db"
)

func TestParseDelivery_DepthAndKeys(t *testing.T) {
	payload := func(depth int) string {
		return `{"account_id": "a", "params": ` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`
	}
	env := func(p string) string { return `{"event_id": "e", "event": "identity.added", "payload": ` + p + `}` }
	for _, c := range []struct {
		name, body, reason string
	}{
		{"flat", env(`{}`), ""},
		{"at the limit", env(payload(db.MaxWebhookDepth - 2)), ""},
		{"one deeper", env(payload(db.MaxWebhookDepth - 1)), db.ReasonTooDeep},
		{"brackets in strings do not count", env(`{"note": "` + strings.Repeat("[{", 100) + `"}`), ""},
		{"escaped quote in a string", env(`{"note": "\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}`), ""},
		{"deep and invalid", strings.Repeat("[", 100000), db.ReasonTooDeep},
		{"event twice", `{"event_id": "e", "event": "a", "event": "b", "payload": {}}`, db.ReasonAmbiguousKey},
		{"Event", `{"event_id": "e", "Event": "a", "payload": {}}`, db.ReasonAmbiguousKey},
		{"payload twice", `{"event_id": "e", "event": "a", "payload": {}, "payload": {}}`, db.ReasonAmbiguousKey},
		{"escaped duplicate", `{"event_id": "e", "event": "a", "ev\u0065nt_id": "f", "payload": {}}`, db.ReasonAmbiguousKey},
		{"nested keys of the same name are fine", `{"event_id": "e", "event": "a", "payload": {"event": "x", "Event": "y", "payload": {}}}`, ""},
		{"other top-level keys are fine", `{"event_id": "e", "event": "a", "payload": {}, "events": 1, "payloadx": 2}`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := db.ParseDelivery([]byte(c.body))
			var de *db.DeliveryError
			switch {
			case c.reason == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.reason != "" && (!errors.As(err, &de) || de.Reason != c.reason):
				t.Fatalf("got %v, want %s", err, c.reason)
			}
		})
	}
}

func TestNormalizePayload_Shape(t *testing.T) {
	for _, c := range []struct {
		name, payload string
		ok            bool
	}{
		{"empty", ``, true},
		{"flat", `{"a": "b", "n": 1}`, true},
		{"depth limit", `{"a":` + strings.Repeat("[", db.MaxLaunchDepth-1) + strings.Repeat("]", db.MaxLaunchDepth-1) + `}`, true},
		{"too deep", `{"a":` + strings.Repeat("[", db.MaxLaunchDepth) + strings.Repeat("]", db.MaxLaunchDepth) + `}`, false},
		{"long value", `{"a": "` + strings.Repeat("x", db.MaxLaunchString+1) + `"}`, false},
		{"long value in a list", `{"a": ["` + strings.Repeat("x", db.MaxLaunchString+1) + `"]}`, false},
		{"not an object", `[1]`, false},
	} {
		_, err := db.NormalizePayload([]byte(c.payload))
		if (err == nil) != c.ok {
			t.Errorf("%s: %v, want ok %v", c.name, err, c.ok)
		}
	}
}
