package odu

import (
	"context"
	"errors"
	"time"

	"linkdesk/db"
	"linkdesk/pinwheel"
)

// settingsOf is a stored link's settings, as a new link carries them: the
// parts that go into a Link token request.
func settingsOf(t db.Link) db.NewLink {
	return db.NewLink{AccountID: t.AccountID, EndUserID: t.EndUserID, Jobs: t.Jobs, Allocation: t.Allocation, Language: t.Language,
		SkipIntro: t.SkipIntro, Tags: t.Tags}
}

// call mints a token for the link s at Pinwheel, within timeout. A
// failure of Pinwheel is an *UpstreamError.
func (m *Minter) call(ctx context.Context, s db.NewLink, timeout time.Duration) (db.MintResult, error) {
	req, err := m.request(ctx, s)
	if err != nil {
		return db.MintResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := m.pw.CreateLinkToken(ctx, req)
	if err != nil {
		return db.MintResult{}, &UpstreamError{err}
	}
	return db.MintResult{LinkTokenID: res.ID, Token: res.Token, ExpiresAt: res.Expires.Time, APIVersion: m.version}, nil
}

// request builds the POST /link_tokens body of a link, with the
// organisation's current name. The full account numbers of the deposit
// targets are decrypted here, only for the request; an archived target is
// ErrTargetArchived. The link's reason is not sent: it is free text and
// may hold PII.
func (m *Minter) request(ctx context.Context, s db.NewLink) (pinwheel.LinkTokenCreate, error) {
	org, err := m.store.OrgName(ctx)
	if err != nil {
		return pinwheel.LinkTokenCreate{}, err
	}
	skip := s.SkipIntro
	req := pinwheel.LinkTokenCreate{OrgName: org, AccountID: s.AccountID, EndUserID: s.EndUserID,
		Language: s.Language, SkipIntroScreen: &skip, Tags: s.Tags}
	req.RequiredJobs, req.Features, req.Solution = jobsFor(m.version, s.Jobs)
	a := s.Allocation
	if a == nil {
		return req, nil
	}
	out := &pinwheel.Allocation{}
	if a.Type == pinwheel.AllocationAmount {
		typ, v := pinwheel.AllocationAmount, float64(a.AmountCents)/100
		out.Type, out.Value = &typ, &v
	}
	if a.MinAmountCents > 0 {
		v := float64(a.MinAmountCents) / 100
		out.MinAmount = &v
	}
	for _, t := range a.Targets {
		d, number, err := m.store.DepositAccountSecret(ctx, t.DepositAccountID)
		if err != nil {
			return pinwheel.LinkTokenCreate{}, err
		}
		if !d.Active {
			return pinwheel.LinkTokenCreate{}, ErrTargetArchived
		}
		out.Targets = append(out.Targets, pinwheel.BankAccount{Name: d.Name, Type: d.Type, RoutingNumber: d.RoutingNumber, AccountNumber: number})
	}
	req.Allocation = out
	return req, nil
}

// failure classifies an upstream failure for the audit trail.
func failure(err error) db.MintFailure {
	var f db.MintFailure
	var pe *pinwheel.Error
	if errors.As(err, &pe) {
		f.Status, f.Type, f.Code, f.RequestID = pe.StatusCode, pe.Type, pe.Code, pe.RequestID
	}
	switch {
	case pinwheel.IsUnauthorized(err):
		f.Kind = "unauthorized"
	case pinwheel.IsRateLimited(err):
		f.Kind = "rate_limited"
	case pinwheel.IsServerError(err):
		f.Kind = "server_error"
	case pinwheel.IsNotFound(err):
		f.Kind = "not_found"
	case pinwheel.IsInvalidRequest(err):
		f.Kind = "invalid_request"
	case pe != nil:
		f.Kind = "unexpected_status"
	default:
		f.Kind = "unreachable"
	}
	return f
}
