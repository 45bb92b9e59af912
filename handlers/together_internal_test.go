package handlers

import (
	"errors"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/labstack/echo/v4"
)

// TestTogether: every read ends before together returns, even when the
// first one panics (echo reuses the context after the request), and the
// first error in the order given is the one returned.
func TestTogether(t *testing.T) {
	c := echo.New().NewContext(httptest.NewRequest("GET", "/?a=1", nil), httptest.NewRecorder())
	started := make(chan struct{})
	var done atomic.Bool
	err := together(c,
		func() error { <-started; panic("boom") },
		func() error {
			close(started)
			for range 1000 {
				_ = c.QueryParam("a")
			}
			done.Store(true)
			return errors.New("second")
		})
	if !done.Load() {
		t.Error("together returned before its second read ended")
	}
	if err == nil || !strings.Contains(err.Error(), "panicked: boom") {
		t.Errorf("error %v, want the first read's panic", err)
	}
	if err := together(c, func() error { return nil }, func() error { return errors.New("second") }); err == nil || err.Error() != "second" {
		t.Errorf("error %v, want the second read's", err)
	}
}
