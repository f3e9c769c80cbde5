package gatewaytest

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// WantCode checks that err carries the gRPC status code and that its
// message mentions every one of msgParts; it reports a mismatch with
// t.Errorf (so it may run on any goroutine) and returns whether all held.
func WantCode(t testing.TB, err error, code codes.Code, msgParts ...string) bool {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Errorf("got %v %q, want %v", st.Code(), st.Message(), code)
		return false
	}
	ok := true
	for _, p := range msgParts {
		if !strings.Contains(st.Message(), p) {
			t.Errorf("message %q does not mention %q", st.Message(), p)
			ok = false
		}
	}
	return ok
}
