package handlers_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"linkdesk/db"
)

// openStream opens the sample account's live timeline as cookie's owner
// over a real listener and returns a reader of its messages.
func openStream(t *testing.T, base string, cookie *http.Cookie) (*bufio.Reader, func()) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/accounts/"+sampleAccountID+"/live", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.AddCookie(cookie)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("stream: %d %v", res.StatusCode, res.Header)
	}
	return bufio.NewReader(res.Body), func() { res.Body.Close() }
}

// nextEntry reads the stream until an entry's data, or the end of the
// stream ("" and io.EOF).
func nextEntry(r *bufio.Reader) (string, error) {
	var data strings.Builder
	inEntry := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		switch {
		case line == "event: entry\n":
			inEntry = true
		case inEntry && strings.HasPrefix(line, "data: "):
			data.WriteString(strings.TrimPrefix(line, "data: "))
		case inEntry && line == "\n":
			return data.String(), nil
		}
	}
}

// TestLive_StreamRechecksItsViewer: a live timeline renders each entry for
// who its viewer is now (a demotion masks), and ends once the viewer is
// deactivated, without sending what came after.
func TestLive_StreamRechecksItsViewer(t *testing.T) {
	s := newServer(t)
	sampleAccount(t, s)
	srv := httptest.NewServer(s.Handler)
	defer srv.Close()
	defer srv.CloseClientConnections()
	ctx := context.Background()
	cookie := s.login(t, "operator@example.com")
	op, err := s.store.StaffByEmail(ctx, "operator@example.com")
	if err != nil {
		t.Fatal(err)
	}
	stream, closeStream := openStream(t, srv.URL, cookie)
	defer closeStream()
	event := func(id string) {
		s.ingest(t, fmt.Sprintf(`{"event_id": %q, "event": "account.monitoring_status.updated", "payload": {"account_id": %q, "end_user_id": "sample_end_user", "monitoring_status": "active", "connected": true, "email": "person@example.com"}}`, id, sampleAccountID))
	}

	event("live-1")
	got, err := nextEntry(stream)
	if err != nil || !strings.Contains(got, "person@example.com") {
		t.Fatalf("first entry as operator: %v %.200s", err, got)
	}
	auditor := db.RoleAuditor
	if _, err := s.store.UpdateStaff(ctx, db.Actor{Email: "system"}, op.ID, db.StaffUpdate{Role: &auditor}); err != nil {
		t.Fatal(err)
	}
	event("live-2")
	if got, err = nextEntry(stream); err != nil || strings.Contains(got, "person@example.com") || !strings.Contains(got, "•••") {
		t.Fatalf("after the demotion: %v %.300s", err, got)
	}
	off := false
	if _, err := s.store.UpdateStaff(ctx, db.Actor{Email: "system"}, op.ID, db.StaffUpdate{Active: &off}); err != nil {
		t.Fatal(err)
	}
	event("live-3")
	done := make(chan error, 1)
	go func() {
		_, err := nextEntry(stream)
		done <- err
	}()
	select {
	case err := <-done:
		if err != io.EOF && !strings.Contains(fmt.Sprint(err), "EOF") {
			t.Errorf("after the deactivation the stream sent an entry or failed oddly: %v", err)
		}
	case <-time.After(time.Minute): // a guard, not a speed limit
		t.Fatal("the stream of a deactivated person went on")
	}
}
