package pinwheel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestNeverSent(t *testing.T) {
	wrap := func(err error) error { return &url.Error{Op: "Post", URL: "https://x/v1/link_tokens", Err: err} }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"dial refused", wrap(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), true},
		{"dns", wrap(&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "x"}}), true},
		{"bare dns", &net.DNSError{Err: "no such host", Name: "x"}, true},
		{"tls record header", wrap(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), true},
		{"tls alert", wrap(fmt.Errorf("remote error: %w", tls.AlertError(40))), true},
		{"unknown authority", wrap(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), true},
		{"hostname", wrap(x509.HostnameError{Host: "x"}), true},
		{"handshake timeout", wrap(errors.New("net/http: TLS handshake timeout")), true},
		{"read reset", wrap(&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), false},
		{"write broken pipe", wrap(&net.OpError{Op: "write", Net: "tcp", Err: syscall.EPIPE}), false},
		{"eof", wrap(io.EOF), false},
		{"unexpected eof", wrap(io.ErrUnexpectedEOF), false},
		{"deadline", wrap(context.DeadlineExceeded), false},
		{"canceled", wrap(context.Canceled), false},
		{"proxy connect", wrap(&net.OpError{Op: "proxyconnect", Err: &net.OpError{Op: "dial"}}), false},
	}
	for _, tt := range tests {
		if got := neverSent(tt.err); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range []time.Duration{200, 400, 800, 1600, 3200, 5000, 5000, 5000} {
		want *= time.Millisecond
		for range 200 {
			got := backoff(n)
			if got < want/2 || got > want {
				t.Fatalf("backoff(%d) got %v, want %v–%v", n, got, want/2, want)
			}
		}
	}
	if got := backoff(1000); got > backoffCap {
		t.Errorf("backoff(1000) got %v, want ≤ cap", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 6, 24, 22, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{" 7 ", 7 * time.Second, true},
		{"-3", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"99999999999999", 24 * time.Hour, true},
		{"Tue, 24 Jun 2025 22:00:30 GMT", 30 * time.Second, true},
		{"Tue, 24 Jun 2025 21:00:00 GMT", 0, true},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("%q: got %v %v, want %v %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestRetryable(t *testing.T) {
	never := &TransportError{Op: "POST /link_tokens", Err: errors.New("dial"), NeverSent: true}
	sent := &TransportError{Op: "POST /link_tokens", Err: errors.New("timeout")}
	tests := []struct {
		method string
		err    error
		want   bool
	}{
		{"POST", never, true},
		{"POST", sent, false},
		{"POST", &Error{StatusCode: 503}, false},
		{"POST", &Error{StatusCode: 429}, true}, // refused at the door
		{"PATCH", never, true},
		{"PATCH", sent, false},
		{"DELETE", sent, false},
		{"GET", sent, true},
		{"GET", &Error{StatusCode: 429}, true},
		{"GET", &Error{StatusCode: 500}, true},
		{"GET", &Error{StatusCode: 404}, false},
		{"GET", errors.New("decode"), false},
		{"PUT", &Error{StatusCode: 502}, true},
	}
	for _, tt := range tests {
		if got := retryable(tt.method, tt.err); got != tt.want {
			t.Errorf("%s %v: got %v, want %v", tt.method, tt.err, got, tt.want)
		}
	}
}
