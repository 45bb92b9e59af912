package sandbox

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"linkdesk/pinwheel"
)

func TestServeHTTP_RecoversPanics(t *testing.T) {
	e, err := New(Config{StatePath: filepath.Join(t.TempDir(), "s.db"), Secret: "s", PublicURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	e.mux.HandleFunc("GET /v1/boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	e.mux.HandleFunc("GET /link-api/boom", func(http.ResponseWriter, *http.Request) { panic("boom") })

	for _, path := range []string{"/v1/boom", "/link-api/boom"} {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set(pinwheel.HeaderAPISecret, "s")
		req.Header.Set(pinwheel.HeaderVersion, pinwheel.Version20231122)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		var env pinwheel.ErrorEnvelope
		if rec.Code != 500 || json.Unmarshal(rec.Body.Bytes(), &env) != nil || env.Error == nil ||
			env.Error.Type != "UNKNOWN_ERROR" || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %s", path, rec.Code, rec.Body)
		}
	}
}
