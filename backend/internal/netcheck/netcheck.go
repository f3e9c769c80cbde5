// Package netcheck tells whether an idle pooled connection may carry a
// request, for the protocol adapters' connection pools.
package netcheck
