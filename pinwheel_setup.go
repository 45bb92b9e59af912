package main

import (
	"context"
	"log/slog"
	"net/http"

	"linkdesk/db"
	"linkdesk/pinwheel"
)

// pinwheelSetup is the Pinwheel side of serve: the client, and in emulator
// mode the in-process emulator with its background work.
type pinwheelSetup struct {
	client      *pinwheel.Client
	secret      string
	emulatorURL string
	mounts      map[string]http.Handler
	start       func(ctx context.Context) error
	wait        func()
	close       func()
}

// setupPinwheel builds the client for the configured mode.
func setupPinwheel(ctx context.Context, cfg config, store *db.Store, listenAddr string, log *slog.Logger) (*pinwheelSetup, error) {
	p := &pinwheelSetup{
		secret: cfg.PinwheelSecret,
		start:  func(context.Context) error { return nil },
		wait:   func() {},
		close:  func() {},
	}
	p.client = pinwheel.New(pinwheel.Config{BaseURL: pinwheel.BaseURL(cfg.PinwheelMode), Secret: p.secret, Version: cfg.PinwheelVersion})
	return p, nil
}
