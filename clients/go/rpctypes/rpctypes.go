// Package rpctypes is ktgrpc's error contract: the machine-readable reasons
// a gateway puts in its statuses, the gRPC code of each, and the helpers
// that build such statuses and read them back. The gateway builds every
// error status with it and the Go client reads them with it, so both sides
// agree by construction; clients in other languages read the same
// google.rpc.ErrorInfo and google.rpc.BadRequest details.
//
// A status from the gateway carries an ErrorInfo whose Domain is Domain and
// whose Reason is one of the Reason constants, with metadata naming what
// the reason is about (MetaCapability, MetaLimit, ...). An INVALID_ARGUMENT
// status about one request field also carries a BadRequest naming it.
package rpctypes

import (
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Domain is the ErrorInfo domain of the gateway's reasons.
const Domain = "ktgrpc.dev"

// Reason is a machine-readable error reason: the ErrorInfo reason of a
// gateway status. Branch on it rather than on the message, which is for
// people.
type Reason string

// The reasons. Each has one gRPC code (Code); several reasons may share a
// code where a client would act differently on them.
const (
	// ReasonNotFound: the named record, procedure or position does not
	// exist.
	ReasonNotFound Reason = "NOT_FOUND"
	// ReasonAlreadyExists: the thing to create already exists.
	ReasonAlreadyExists Reason = "ALREADY_EXISTS"
	// ReasonMismatch: a precondition the caller stated does not hold.
	ReasonMismatch Reason = "MISMATCH"
	// ReasonIncompatibleValue: the stored value cannot take the operation,
	// such as incrementing a value that is not a number.
	ReasonIncompatibleValue Reason = "INCOMPATIBLE_VALUE"
	// ReasonFailedPrecondition: the state does not allow the operation, for
	// a cause the gateway does not name more precisely.
	ReasonFailedPrecondition Reason = "FAILED_PRECONDITION"
	// ReasonCapabilityMissing: the call needs a capability the backend does
	// not offer. Metadata: MetaCapability, MetaBackend, MetaCall.
	ReasonCapabilityMissing Reason = "CAPABILITY_MISSING"
	// ReasonUnsupported: the backend or this database cannot do the
	// operation as asked (a reverse walk of an unordered database, an
	// option the server lacks); the message says which.
	ReasonUnsupported Reason = "UNSUPPORTED"
	// ReasonInvalidArgument: the request is malformed; a BadRequest detail
	// names the field when there is one.
	ReasonInvalidArgument Reason = "INVALID_ARGUMENT"
	// ReasonBackendUnavailable: the backend cannot be reached or failed
	// mid-request; the outcome of a write is unknown.
	ReasonBackendUnavailable Reason = "BACKEND_UNAVAILABLE"
	// ReasonShuttingDown: the gateway is stopping; reconnect (and resume a
	// subscription) to continue.
	ReasonShuttingDown Reason = "SHUTTING_DOWN"
	// ReasonBackendTimeout: the backend did not answer in time.
	ReasonBackendTimeout Reason = "BACKEND_TIMEOUT"
	// ReasonDeadlineExceeded: the call's deadline passed.
	ReasonDeadlineExceeded Reason = "DEADLINE_EXCEEDED"
	// ReasonCanceled: the caller canceled the call.
	ReasonCanceled Reason = "CANCELED"
	// ReasonLimitExceeded: a bounded resource of the gateway ran out (open
	// cursors, streams, a slow subscriber's buffer). Metadata: MetaLimit
	// when the limit has a name.
	ReasonLimitExceeded Reason = "LIMIT_EXCEEDED"
	// ReasonPositionUnavailable: an update-log position older than the log
	// the backend still retains.
	ReasonPositionUnavailable Reason = "POSITION_UNAVAILABLE"
	// ReasonUnauthenticated: the call carried no valid credential.
	ReasonUnauthenticated Reason = "UNAUTHENTICATED"
	// ReasonPermissionDenied: the caller lacks a right the call needs, or
	// the gateway is read-only.
	ReasonPermissionDenied Reason = "PERMISSION_DENIED"
	// ReasonBackendFailure: the backend reported an internal failure.
	ReasonBackendFailure Reason = "BACKEND_FAILURE"
	// ReasonInternal: the gateway failed; the message says how.
	ReasonInternal Reason = "INTERNAL"
	// ReasonUnknown: a status without a reason the gateway knows.
	ReasonUnknown Reason = "UNKNOWN"
)

// Metadata keys of ErrorInfo.
const (
	// MetaCapability names the missing capability, as Admin.Capabilities
	// lists them.
	MetaCapability = "capability"
	// MetaBackend names the backend.
	MetaBackend = "backend"
	// MetaCall names the call that needed the capability.
	MetaCall = "call"
	// MetaLimit names the gateway's limit, as its flag is spelled.
	MetaLimit = "limit"
	// MetaField names the invalid request field (also in BadRequest).
	MetaField = "field"
)

// codeOf is the code table: the code of every reason.
var codeOf = map[Reason]codes.Code{
	ReasonNotFound:            codes.NotFound,
	ReasonAlreadyExists:       codes.AlreadyExists,
	ReasonMismatch:            codes.FailedPrecondition,
	ReasonIncompatibleValue:   codes.FailedPrecondition,
	ReasonFailedPrecondition:  codes.FailedPrecondition,
	ReasonCapabilityMissing:   codes.Unimplemented,
	ReasonUnsupported:         codes.Unimplemented,
	ReasonInvalidArgument:     codes.InvalidArgument,
	ReasonBackendUnavailable:  codes.Unavailable,
	ReasonShuttingDown:        codes.Unavailable,
	ReasonBackendTimeout:      codes.DeadlineExceeded,
	ReasonDeadlineExceeded:    codes.DeadlineExceeded,
	ReasonCanceled:            codes.Canceled,
	ReasonLimitExceeded:       codes.ResourceExhausted,
	ReasonPositionUnavailable: codes.OutOfRange,
	ReasonUnauthenticated:     codes.Unauthenticated,
	ReasonPermissionDenied:    codes.PermissionDenied,
	ReasonBackendFailure:      codes.Internal,
	ReasonInternal:            codes.Internal,
	ReasonUnknown:             codes.Unknown,
}

// defaultOf is the reason a status of each code has when nothing more
// precise is known: statuses the gateway made without naming a reason, and
// statuses from gateways or proxies that send no ErrorInfo.
var defaultOf = map[codes.Code]Reason{
	codes.NotFound:           ReasonNotFound,
	codes.AlreadyExists:      ReasonAlreadyExists,
	codes.FailedPrecondition: ReasonFailedPrecondition,
	codes.Unimplemented:      ReasonUnsupported,
	codes.InvalidArgument:    ReasonInvalidArgument,
	codes.Unavailable:        ReasonBackendUnavailable,
	codes.DeadlineExceeded:   ReasonDeadlineExceeded,
	codes.Canceled:           ReasonCanceled,
	codes.ResourceExhausted:  ReasonLimitExceeded,
	codes.OutOfRange:         ReasonPositionUnavailable,
	codes.Unauthenticated:    ReasonUnauthenticated,
	codes.PermissionDenied:   ReasonPermissionDenied,
	codes.Internal:           ReasonInternal,
	codes.Unknown:            ReasonUnknown,
	codes.DataLoss:           ReasonInternal,
	codes.Aborted:            ReasonFailedPrecondition,
}

// Reasons lists every reason.
func Reasons() []Reason {
	out := make([]Reason, 0, len(codeOf))
	for r := range codeOf {
		out = append(out, r)
	}
	return out
}

// Code is the gRPC code of statuses with reason r; Unknown for a reason
// this package does not define.
func (r Reason) Code() codes.Code {
	if c, ok := codeOf[r]; ok {
		return c
	}
	return codes.Unknown
}

// DefaultReason is the reason a status of code c has when it names none;
// "" for OK.
func DefaultReason(c codes.Code) Reason {
	if c == codes.OK {
		return ""
	}
	if r, ok := defaultOf[c]; ok {
		return r
	}
	return ReasonUnknown
}

// FieldViolation is one invalid request field.
type FieldViolation struct {
	// Field is the field's path, such as "key" or "conditions[2].column".
	Field string
	// Description says what is wrong and how to fix it.
	Description string
}

// New returns a status with reason r's code, message msg, and an ErrorInfo
// with reason r and the metadata given as key, value pairs.
func New(r Reason, msg string, metadata ...string) *status.Status {
	return withInfo(status.New(r.Code(), msg), r, metadata, nil)
}

// InvalidField returns an INVALID_ARGUMENT status about one request field:
// an ErrorInfo (ReasonInvalidArgument, MetaField) and a BadRequest with the
// field and msg.
func InvalidField(field, msg string) *status.Status {
	return withInfo(status.New(codes.InvalidArgument, msg), ReasonInvalidArgument,
		[]string{MetaField, field}, []FieldViolation{{Field: field, Description: msg}})
}

// WithDefaultInfo returns st with the ErrorInfo of its code's default
// reason added, unless it already carries an ErrorInfo; OK and nil pass
// through. The gateway applies it to every status it sends.
func WithDefaultInfo(st *status.Status) *status.Status {
	if st == nil || st.Code() == codes.OK || info(st) != nil {
		return st
	}
	return withInfo(st, DefaultReason(st.Code()), nil, nil)
}

func withInfo(st *status.Status, r Reason, metadata []string, violations []FieldViolation) *status.Status {
	ei := &errdetails.ErrorInfo{Reason: string(r), Domain: Domain}
	if len(metadata) > 1 {
		ei.Metadata = make(map[string]string, len(metadata)/2)
		for i := 0; i+1 < len(metadata); i += 2 {
			ei.Metadata[metadata[i]] = metadata[i+1]
		}
	}
	p := st.Proto()
	if err := appendDetail(p, ei); err != nil {
		return st
	}
	if len(violations) > 0 {
		br := &errdetails.BadRequest{}
		for _, v := range violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description})
		}
		if err := appendDetail(p, br); err != nil {
			return st
		}
	}
	return status.FromProto(p)
}

// ErrorInfo returns the ErrorInfo of err's status in Domain, or nil.
func ErrorInfo(err error) *errdetails.ErrorInfo {
	st, ok := fromError(err)
	if !ok {
		return nil
	}
	return info(st)
}

func info(st *status.Status) *errdetails.ErrorInfo {
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.GetDomain() == Domain {
			return ei
		}
	}
	return nil
}

// ReasonOf returns the reason of err's status: the ErrorInfo's when it
// carries one in Domain, else the default reason of its code. It is "" for
// nil and for an error that is not a status.
func ReasonOf(err error) Reason {
	st, ok := fromError(err)
	if !ok {
		return ""
	}
	if ei := info(st); ei != nil {
		return Reason(ei.GetReason())
	}
	return DefaultReason(st.Code())
}

// Metadata returns the ErrorInfo metadata of err's status, or nil.
func Metadata(err error) map[string]string {
	return ErrorInfo(err).GetMetadata()
}

// FieldViolations returns the BadRequest field violations of err's status.
func FieldViolations(err error) []FieldViolation {
	st, ok := fromError(err)
	if !ok {
		return nil
	}
	var out []FieldViolation
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
		}
	}
	return out
}

// fromError finds the status in err, unwrapping as errors.As does.
func fromError(err error) (*status.Status, bool) {
	if err == nil {
		return nil, false
	}
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) {
		return nil, false
	}
	st := se.GRPCStatus()
	return st, st != nil
}
