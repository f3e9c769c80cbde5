package server

// Health service names besides "" and the ktgrpc services. Kubernetes gRPC
// probes name one of them: a liveness probe that restarted the gateway
// whenever the backend is down would only add restarts to an outage.
const (
	// LivenessService is SERVING from New until Stop: the process serves
	// gRPC, whatever the backend does.
	LivenessService = "liveness"
	// ReadinessService is SERVING while the backend answers its pings and
	// the gateway is not draining; "" and the ktgrpc services follow it.
	ReadinessService = "readiness"
)

// Drain turns readiness (and "", and every ktgrpc service) NOT_SERVING for
// good while the gateway goes on serving calls, so that load balancers stop
// sending new ones before Stop ends the streams. Liveness stays SERVING.
func (s *Server) Drain() {
	s.healthMu.Lock()
	s.draining = true
	ok := s.serving != nil && *s.serving
	s.healthMu.Unlock()
	s.setHealth(ok)
}
