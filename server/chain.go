package server

import "google.golang.org/grpc"

// interceptors returns the server's interceptor chains, outermost first:
//
//   - call metrics, so that refused calls are counted too;
//   - an ErrorInfo with the default reason of its code on every status
//     that names none, so that clients can always branch on a reason;
//   - with a tokens file, the slot the caller's name reaches the log by;
//   - the call log, one line per call;
//   - a request that did not decode, answered INVALID_ARGUMENT;
//   - panic recovery;
//   - mapping of a bare context error to Canceled or DeadlineExceeded;
//   - authentication, rights and the read-only mode;
//   - the rate, deadline, bulk-size and streams-per-connection limits;
//   - the backend round-trip observer, for metrics and tracing;
//   - for streams of the services beside ktgrpc's own, their end on Stop.
func (s *Server) interceptors(obs *observability) ([]grpc.UnaryServerInterceptor, []grpc.StreamServerInterceptor) {
	unary, stream := append(obs.unary(), unaryErrorInfo), append(obs.stream(), streamErrorInfo)
	if s.opts.Access != nil {
		unary = append(unary, unaryCallerSlot)
		stream = append(stream, streamCallerSlot)
	}
	unary = append(unary,
		unaryLogging(s.log),
		s.codec.badRequestUnary,
		unaryRecovery(s.log),
		unaryCallerEnded,
	)
	stream = append(stream,
		streamLogging(s.log),
		s.codec.badRequestStream,
		streamRecovery(s.log),
		streamCallerEnded,
	)
	unary = append(unary, s.unaryGuards(obs)...)
	stream = append(stream, s.streamGuards(obs)...)
	return unary, append(stream, s.endOtherStreamsOnStop)
}
