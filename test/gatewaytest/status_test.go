package gatewaytest_test

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed int
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(string, ...any) { r.failed++ }

func TestWantCode(t *testing.T) {
	err := status.Error(codes.NotFound, "no such database: users")
	for _, tc := range []struct {
		name  string
		err   error
		code  codes.Code
		parts []string
		ok    bool
	}{
		{"code and parts", err, codes.NotFound, []string{"database", "users"}, true},
		{"code only", err, codes.NotFound, nil, true},
		{"wrong code", err, codes.InvalidArgument, nil, false},
		{"missing part", err, codes.NotFound, []string{"table"}, false},
		{"nil error is OK", nil, codes.OK, nil, true},
		{"plain error is Unknown", errors.New("boom"), codes.Unknown, []string{"boom"}, true},
	} {
		r := &recorder{TB: t}
		if got := gatewaytest.WantCode(r, tc.err, tc.code, tc.parts...); got != tc.ok || (r.failed == 0) != tc.ok {
			t.Errorf("%s: WantCode = %v with %d failures; want %v", tc.name, got, r.failed, tc.ok)
		}
	}
}
