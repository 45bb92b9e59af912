package odu

import (
	"errors"
	"reflect"
	"testing"

	"linkdesk/pinwheel"
)

func TestJobsFor(t *testing.T) {
	for _, tc := range []struct {
		version                  string
		jobs, required, features []string
		solution                 string
	}{
		{pinwheel.Version20231122, []string{"identity", "direct_deposit_switch"}, []string{"identity", "direct_deposit_switch"}, nil, ""},
		{pinwheel.Version20250708, []string{"identity", "income"}, nil, []string{"identity", "income"}, pinwheel.SolutionVerify},
		{pinwheel.Version20250708, []string{"direct_deposit_switch"}, nil, []string{"direct_deposit_switch"}, pinwheel.SolutionDepositSwitch},
	} {
		r, f, s := jobsFor(tc.version, tc.jobs)
		if !reflect.DeepEqual(r, tc.required) || !reflect.DeepEqual(f, tc.features) || s != tc.solution {
			t.Errorf("jobsFor(%s, %v) = %v, %v, %q", tc.version, tc.jobs, r, f, s)
		}
	}
}

func TestFailure(t *testing.T) {
	for _, tc := range []struct {
		err  error
		kind string
	}{
		{&pinwheel.Error{StatusCode: 401}, "unauthorized"},
		{&pinwheel.Error{StatusCode: 429}, "rate_limited"},
		{&pinwheel.Error{StatusCode: 503}, "server_error"},
		{&pinwheel.Error{StatusCode: 404}, "not_found"},
		{&pinwheel.Error{StatusCode: 400, Code: "INVALID_ACCOUNT_NUMBER"}, "invalid_request"},
		{&pinwheel.Error{StatusCode: 418}, "unexpected_status"},
		{errors.New("dial tcp: connection refused"), "unreachable"},
	} {
		if f := failure(tc.err); f.Kind != tc.kind {
			t.Errorf("failure(%v).Kind = %q, want %q", tc.err, f.Kind, tc.kind)
		}
	}
	if f := failure(&pinwheel.Error{StatusCode: 400, Code: "X", RequestID: "req-1"}); f.Status != 400 || f.Code != "X" || f.RequestID != "req-1" {
		t.Errorf("failure kept %+v", f)
	}
}
