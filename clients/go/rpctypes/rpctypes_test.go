package rpctypes_test

import (
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ktgrpc/ktgrpc/clients/go/rpctypes"
)

func TestEveryReasonHasACodeAndRoundTrips(t *testing.T) {
	for _, r := range rpctypes.Reasons() {
		if r.Code() == codes.OK {
			t.Errorf("reason %s has code OK", r)
		}
		err := fmt.Errorf("calling: %w", rpctypes.New(r, "msg", rpctypes.MetaLimit, "x").Err())
		if got := rpctypes.ReasonOf(err); got != r {
			t.Errorf("ReasonOf(New(%s)) = %s", r, got)
		}
		if st := status.Convert(rpctypes.New(r, "msg").Err()); st.Code() != r.Code() || st.Message() != "msg" {
			t.Errorf("New(%s) = %v %q, want code %v", r, st.Code(), st.Message(), r.Code())
		}
		if md := rpctypes.Metadata(err); md[rpctypes.MetaLimit] != "x" {
			t.Errorf("Metadata(New(%s)) = %v", r, md)
		}
	}
}

func TestDefaultReasons(t *testing.T) {
	for c := codes.Canceled; c <= codes.Unauthenticated; c++ {
		r := rpctypes.DefaultReason(c)
		if r == "" || r.Code() != c && c != codes.DataLoss && c != codes.Aborted {
			t.Errorf("DefaultReason(%v) = %q with code %v", c, r, r.Code())
		}
		// A status without an ErrorInfo (an older gateway, a proxy) still
		// has a reason.
		if got := rpctypes.ReasonOf(status.Error(c, "bare")); got != r {
			t.Errorf("ReasonOf(bare %v) = %q, want %q", c, got, r)
		}
		withInfo := rpctypes.WithDefaultInfo(status.New(c, "bare"))
		if ei := rpctypes.ErrorInfo(withInfo.Err()); ei == nil || ei.GetReason() != string(r) || ei.GetDomain() != rpctypes.Domain {
			t.Errorf("WithDefaultInfo(%v) ErrorInfo = %v", c, ei)
		}
	}
	if rpctypes.DefaultReason(codes.OK) != "" || rpctypes.ReasonOf(nil) != "" || rpctypes.ReasonOf(fmt.Errorf("plain")) != "" {
		t.Error("OK, nil and a plain error must have no reason")
	}
	// WithDefaultInfo keeps a reason already there.
	st := rpctypes.WithDefaultInfo(rpctypes.New(rpctypes.ReasonMismatch, "m"))
	if len(st.Details()) != 1 || rpctypes.ReasonOf(st.Err()) != rpctypes.ReasonMismatch {
		t.Errorf("WithDefaultInfo replaced or doubled a reason: %v", st.Details())
	}
}

func TestInvalidField(t *testing.T) {
	err := rpctypes.InvalidField("conditions[2].column", "column must not contain NUL bytes").Err()
	if status.Code(err) != codes.InvalidArgument || rpctypes.ReasonOf(err) != rpctypes.ReasonInvalidArgument {
		t.Fatalf("InvalidField: %v, reason %q", err, rpctypes.ReasonOf(err))
	}
	v := rpctypes.FieldViolations(err)
	if len(v) != 1 || v[0].Field != "conditions[2].column" || v[0].Description != "column must not contain NUL bytes" {
		t.Fatalf("FieldViolations = %+v", v)
	}
	if rpctypes.Metadata(err)[rpctypes.MetaField] != "conditions[2].column" {
		t.Fatalf("Metadata = %v", rpctypes.Metadata(err))
	}
	if rpctypes.FieldViolations(status.Error(codes.InvalidArgument, "bare")) != nil {
		t.Fatal("a bare status has field violations")
	}
}

// An ErrorInfo of another domain is not the gateway's reason.
func TestForeignDomainIgnored(t *testing.T) {
	st, err := status.New(codes.NotFound, "x").WithDetails(&errdetails.ErrorInfo{Reason: "NO_SUCH_BUCKET", Domain: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if rpctypes.ErrorInfo(st.Err()) != nil {
		t.Fatal("ErrorInfo of another domain taken as the gateway's")
	}
	if got := rpctypes.ReasonOf(st.Err()); got != rpctypes.ReasonNotFound {
		t.Fatalf("ReasonOf = %q", got)
	}
}
