// Package keyrange holds key-order arithmetic shared by the backends.
package keyrange

import "bytes"

// PrefixEnd returns the smallest key greater than every key with prefix p,
// or nil when there is none (p is empty or all 0xFF), so that a prefix
// becomes the range [p, PrefixEnd(p)).
func PrefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
