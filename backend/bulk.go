package backend

import "fmt"

// AtomicExpiry returns the one expiration that the entries of an atomic
// bulk write share, or an error wrapping ErrInvalid when they differ. Kyoto
// Tycoon's atomic set_bulk takes a single expiration for the whole batch;
// every backend applies the same rule so that a request means the same
// thing wherever it goes.
func AtomicExpiry(entries []Entry) (Expiry, error) {
	if len(entries) == 0 {
		return Expiry{}, nil
	}
	exp := entries[0].Expiry
	for i, e := range entries[1:] {
		if e.Expiry.TTL != exp.TTL || !e.Expiry.At.Equal(exp.At) {
			return Expiry{}, fmt.Errorf("atomic bulk write: record %d expires differently from record 0: %w; an atomic bulk write takes one expiration for all its records, so split the batch by expiration or send it without atomic", i+1, ErrInvalid)
		}
	}
	return exp, nil
}
