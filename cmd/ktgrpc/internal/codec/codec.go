// Package codec converts keys and values between command-line text and bytes.
// Keys and values are arbitrary bytes, so a person needs a way to type and
// read the ones that are not printable: hex and base64 next to plain text.
package codec

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Format is how bytes are written on the command line. The zero value is
// Text. A *Format is a flag.Value.
type Format int

// The formats.
const (
	// Text takes arguments as their bytes and prints bytes unchanged.
	Text Format = iota
	// Hex is base 16, printed in lower case; either case is read.
	Hex
	// Base64 is standard base64 (RFC 4648 section 4), printed padded;
	// unpadded input is read too.
	Base64
)

// Names lists the formats as Parse accepts them.
func Names() []string { return []string{"text", "hex", "base64"} }

// Parse returns the format called name.
func Parse(name string) (Format, error) {
	switch strings.ToLower(name) {
	case "text":
		return Text, nil
	case "hex":
		return Hex, nil
	case "base64":
		return Base64, nil
	}
	return 0, fmt.Errorf("unknown format %q (want %s)", name, strings.Join(Names(), ", "))
}

// String returns the format's name.
func (f Format) String() string {
	switch f {
	case Text:
		return "text"
	case Hex:
		return "hex"
	case Base64:
		return "base64"
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// Set parses name into f, for package flag.
func (f *Format) Set(name string) error {
	v, err := Parse(name)
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// Decode turns command-line text into bytes. Hex and base64 ignore
// surrounding white space, so that `echo 6b31 | ktgrpc set --format hex k`
// works despite echo's newline; text keeps every byte.
func (f Format) Decode(s string) ([]byte, error) {
	switch f {
	case Text:
		return []byte(s), nil
	case Hex:
		b, err := hex.DecodeString(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("not valid hex: %w", err)
		}
		return b, nil
	case Base64:
		s = strings.TrimSpace(s)
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			var rawErr error
			if b, rawErr = base64.RawStdEncoding.DecodeString(s); rawErr != nil {
				return nil, fmt.Errorf("not valid base64: %w", err)
			}
		}
		return b, nil
	}
	return nil, fmt.Errorf("unknown format %v", f)
}

// Encode turns bytes into text for output; Decode reverses it.
func (f Format) Encode(b []byte) string {
	switch f {
	case Hex:
		return hex.EncodeToString(b)
	case Base64:
		return base64.StdEncoding.EncodeToString(b)
	default:
		return string(b)
	}
}

// Quote renders b for a message: text is Go-quoted so that empty or
// unprintable keys stay visible; the other formats are already printable.
func (f Format) Quote(b []byte) string {
	if f == Text {
		return strconv.Quote(string(b))
	}
	return f.Encode(b)
}
