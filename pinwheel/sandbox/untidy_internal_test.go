package sandbox

import (
	"testing"
	"time"
)

// The untidy choices are a function of the seed and the delivery's row
// number only: the same run makes the same choices; another seed others.
func TestDeliveryOptions_SeededAndReproducible(t *testing.T) {
	a := DeliveryOptions{Seed: 7}.withDefaults()
	b := DeliveryOptions{Seed: 7}.withDefaults()
	c := DeliveryOptions{Seed: 8}.withDefaults()
	held, again, differ := 0, 0, 0
	const n = 10000
	for id := int64(1); id <= n; id++ {
		da, ha := a.holdBack(id)
		db, hb := b.holdBack(id)
		if ha != hb || da != db {
			t.Fatalf("row %d: same seed, different hold-back", id)
		}
		if _, hc := c.holdBack(id); hc != ha {
			differ++
		}
		if ha {
			held++
			if da < a.MaxDelay/10 || da > a.MaxDelay {
				t.Fatalf("row %d: delay %v out of range", id, da)
			}
		}
		if _, ok := a.redeliver(id); ok {
			again++
		}
	}
	if held < n*17/100 || held > n*23/100 {
		t.Errorf("held back %d of %d, want about 20%%", held, n)
	}
	if again < n*4/100 || again > n*6/100 {
		t.Errorf("redelivered %d of %d, want about 5%%", again, n)
	}
	if differ == 0 {
		t.Error("another seed made the same choices")
	}
	tidy := DeliveryOptions{Tidy: true}.withDefaults()
	off := DeliveryOptions{HoldBackRate: -1, RedeliverRate: -1}.withDefaults()
	for id := int64(1); id <= 1000; id++ {
		for _, o := range []DeliveryOptions{tidy, off} {
			if _, ok := o.holdBack(id); ok {
				t.Fatal("a hold-back with untidiness off")
			}
			if _, ok := o.redeliver(id); ok {
				t.Fatal("a redelivery with untidiness off")
			}
		}
	}
	if d := (DeliveryOptions{}).withDefaults().MaxDelay; d != 400*time.Millisecond {
		t.Errorf("default MaxDelay %v", d)
	}
}

// API bodies are compact and keep UTF-8 (FastAPI); webhook bodies are
// json.dumps defaults; both write floats as Python does.
func TestEncodeJSON_Styles(t *testing.T) {
	v := obj{{"name", "José"}, {"hours", 10.0}, {"rate", 5000}, {"list", []obj{{{"a", nil}}}}, {"raw", rawJSON(`{"x":1}`)}}
	if got, want := string(apiJSON(v)), `{"name":"José","hours":10.0,"rate":5000,"list":[{"a":null}],"raw":{"x":1}}`; got != want {
		t.Errorf("api\n got %s\nwant %s", got, want)
	}
	w := obj{{"name", "José"}, {"hours", 0.75}, {"count", 27}}
	if got, want := string(pyJSON(w)), `{"name": "Jos\u00e9", "hours": 0.75, "count": 27}`; got != want {
		t.Errorf("webhook\n got %s\nwant %s", got, want)
	}
}
