package ktwire

import (
	"bytes"
	"encoding/base64"
	"slices"
	"strings"
)

// Encoding is a TSV column encoding (the colenc attribute of the
// Content-Type): both the name and the value of every line are encoded.
type Encoding byte

// The column encodings. The server emits Raw, Base64 and URL, and accepts all
// four.
const (
	Raw    Encoding = 0
	Base64 Encoding = 'B'
	URL    Encoding = 'U'
	Quoted Encoding = 'Q'
)

// MediaTSV is the media type of TSV-RPC bodies.
const MediaTSV = "text/tab-separated-values"

// ContentType returns the Content-Type header value for a TSV body in enc.
func ContentType(enc Encoding) string {
	if enc == Raw {
		return MediaTSV
	}
	return MediaTSV + "; colenc=" + string(rune(enc))
}

// ParseContentType reports whether ct names a TSV body and, if so, its column
// encoding. Like the server, it scans the parameters after the media type
// (separated by spaces or semicolons) for one that starts with "colenc=",
// case-insensitively, and reads the first letter of its value.
func ParseContentType(ct string) (Encoding, bool) {
	if len(ct) < len(MediaTSV) || !strings.EqualFold(ct[:len(MediaTSV)], MediaTSV) {
		return Raw, false
	}
	params := strings.FieldsFunc(ct[len(MediaTSV):], func(r rune) bool { return r == ' ' || r == ';' || r == '\t' })
	for _, p := range params {
		if len(p) < 7 || !strings.EqualFold(p[:7], "colenc=") {
			continue
		}
		v := strings.TrimPrefix(p[7:], `"`)
		if v == "" {
			return Raw, true
		}
		switch v[0] {
		case 'B', 'b':
			return Base64, true
		case 'U', 'u':
			return URL, true
		case 'Q', 'q':
			return Quoted, true
		}
		return Raw, true
	}
	return Raw, true
}

// needsEncoding reports whether b cannot travel in a raw TSV field: control
// bytes would split lines or columns. Bytes >= 0x80 travel as they are.
func needsEncoding(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == 0x7F {
			return true
		}
	}
	return false
}

// RequestEncoding picks the encoding for a request body: raw TSV when every
// field is free of control bytes (readable on the wire), Base64 otherwise
// (always safe, and never more than a third larger).
func RequestEncoding(pairs []Pair) Encoding {
	for _, p := range pairs {
		if needsEncoding(p.Key) || needsEncoding(p.Value) {
			return Base64
		}
	}
	return Raw
}

// ResponseEncoding picks the encoding exactly as the server does for its
// replies: raw unless a field is longer than 255 bytes or has a control byte
// among its first 255, then Base64 when its estimated size is strictly below
// URL encoding's, else URL.
func ResponseEncoding(pairs []Pair) Encoding {
	binary := false
	blen, ulen := 0, 0
	field := func(f []byte) {
		n := min(len(f), 255)
		if len(f) > 255 {
			binary = true
		}
		blen += n*6/4 + 3
		for _, c := range f[:n] {
			if c < 0x20 || c == 0x7F {
				binary = true
			}
			if isURLScoreSafe(c) {
				ulen++
			} else {
				ulen += 3
			}
		}
	}
	for _, p := range pairs {
		field(p.Key)
		field(p.Value)
	}
	switch {
	case !binary:
		return Raw
	case blen < ulen:
		return Base64
	default:
		return URL
	}
}

func isURLScoreSafe(c byte) bool {
	return isAlnum(c) || strings.IndexByte("_-.!~*'()", c) >= 0
}

func isAlnum(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

// AppendTSV appends pairs as TSV lines in enc, in the given order.
func AppendTSV(dst []byte, pairs []Pair, enc Encoding) []byte {
	for _, p := range pairs {
		dst = AppendEncoded(dst, p.Key, enc)
		dst = append(dst, '\t')
		dst = AppendEncoded(dst, p.Value, enc)
		dst = append(dst, '\n')
	}
	return dst
}

// ResponseTSV encodes pairs the way the server writes a reply body: the
// encoding chosen by ResponseEncoding, lines sorted by encoded name, a
// repeated name keeping its last value. It returns the body and its
// Content-Type.
func ResponseTSV(pairs []Pair) ([]byte, string) {
	return AppendResponseTSV(nil, slices.Clone(pairs))
}

// AppendResponseTSV is ResponseTSV appending the body to dst. It may reorder
// pairs.
func AppendResponseTSV(dst []byte, pairs []Pair) ([]byte, string) {
	enc := ResponseEncoding(pairs)
	if enc == Raw {
		// Raw names sort as they are: no encoded copies are needed.
		slices.SortStableFunc(pairs, func(a, b Pair) int { return bytes.Compare(a.Key, b.Key) })
		for i, p := range pairs {
			if i+1 < len(pairs) && bytes.Equal(p.Key, pairs[i+1].Key) {
				continue // a later line of the same name wins
			}
			dst = append(append(append(append(dst, p.Key...), '\t'), p.Value...), '\n')
		}
		return dst, ContentType(enc)
	}
	type line struct{ k, v []byte }
	lines := make([]line, len(pairs))
	for i, p := range pairs {
		lines[i] = line{AppendEncoded(nil, p.Key, enc), AppendEncoded(nil, p.Value, enc)}
	}
	slices.SortStableFunc(lines, func(a, b line) int { return bytes.Compare(a.k, b.k) })
	for i, l := range lines {
		if i+1 < len(lines) && bytes.Equal(l.k, lines[i+1].k) {
			continue
		}
		dst = append(append(append(append(dst, l.k...), '\t'), l.v...), '\n')
	}
	return dst, ContentType(enc)
}

// AppendEncoded appends b encoded in enc.
func AppendEncoded(dst, b []byte, enc Encoding) []byte {
	switch enc {
	case Base64:
		return base64.StdEncoding.AppendEncode(dst, b)
	case URL:
		const hex = "0123456789abcdef"
		for _, c := range b {
			if isAlnum(c) || c == '_' || c == '-' || c == '.' || c == '~' {
				dst = append(dst, c)
			} else {
				dst = append(dst, '%', hex[c>>4], hex[c&15])
			}
		}
		return dst
	case Quoted:
		const hex = "0123456789ABCDEF"
		for _, c := range b {
			if c == '=' || c < 0x20 || c > 0x7E {
				dst = append(dst, '=', hex[c>>4], hex[c&15])
			} else {
				dst = append(dst, c)
			}
		}
		return dst
	default:
		return append(dst, b...)
	}
}

// Decode decodes one field in enc, with the server's lenient rules: Base64
// skips characters outside its alphabet and stops after the first padded
// group; URL turns '+' into a space and drops control bytes; quoted-printable
// removes soft line breaks and drops control bytes.
func Decode(b []byte, enc Encoding) []byte {
	if enc == Raw {
		return bytes.Clone(b)
	}
	return appendDecoded(make([]byte, 0, len(b)), b, enc)
}

// appendDecoded appends b decoded in enc to dst.
func appendDecoded(dst, b []byte, enc Encoding) []byte {
	switch enc {
	case Base64:
		return decodeBase64(dst, b)
	case URL:
		return decodeURL(dst, b)
	case Quoted:
		return decodeQuoted(dst, b)
	default:
		return append(dst, b...)
	}
}

func base64Value(c byte) (byte, bool) {
	switch {
	case c >= 'A' && c <= 'Z':
		return c - 'A', true
	case c >= 'a' && c <= 'z':
		return c - 'a' + 26, true
	case c >= '0' && c <= '9':
		return c - '0' + 52, true
	case c == '+':
		return 62, true
	case c == '/':
		return 63, true
	}
	return 0, false
}

func decodeBase64(out, b []byte) []byte {
	var group [4]byte
	n, pad := 0, 0
	for _, c := range b {
		if c == '=' {
			group[n] = 0
			n++
			pad++
		} else if v, ok := base64Value(c); ok {
			group[n] = v
			n++
		} else {
			continue
		}
		if n < 4 {
			continue
		}
		out = append(out, group[0]<<2|group[1]>>4, group[1]<<4|group[2]>>2, group[2]<<6|group[3])
		if pad > 0 {
			return out[:len(out)-min(pad, 3)]
		}
		n = 0
	}
	// An unpadded tail still carries whole bytes.
	switch n {
	case 2:
		out = append(out, group[0]<<2|group[1]>>4)
	case 3:
		out = append(out, group[0]<<2|group[1]>>4, group[1]<<4|group[2]>>2)
	}
	return out
}

func hexValue(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return 0
}

func decodeURL(out, b []byte) []byte {
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '%':
			if i+2 >= len(b) {
				return out // a cut-off escape ends decoding
			}
			out = append(out, hexValue(b[i+1])<<4|hexValue(b[i+2]))
			i += 2
		case c == '+':
			out = append(out, ' ')
		case c <= 0x20 || c == 0x7F:
		default:
			out = append(out, c)
		}
	}
	return out
}

func decodeQuoted(out, b []byte) []byte {
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '=':
			if i+1 < len(b) && (b[i+1] == '\r' || b[i+1] == '\n') {
				i++
				if b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n' {
					i++
				}
				continue
			}
			if i+2 >= len(b) {
				return out
			}
			out = append(out, hexValue(b[i+1])<<4|hexValue(b[i+2]))
			i += 2
		case c < 0x20 || c == 0x7F:
		default:
			out = append(out, c)
		}
	}
	return out
}

// ParseTSV splits a TSV body into pairs and decodes them: lines end at LF
// with one trailing CR removed, the name ends at the first TAB, and lines
// without a TAB are ignored. Repeated names are kept, in order.
func ParseTSV(body []byte, enc Encoding) []Pair {
	var pairs []Pair
	EachTSV(body, enc, func(name, value []byte) {
		pairs = append(pairs, Pair{Key: bytes.Clone(name), Value: bytes.Clone(value)})
	})
	return pairs
}

// EachTSV is ParseTSV calling fn for each line instead of collecting the
// pairs: name and value are valid only during the call (raw ones alias
// body), which spares a server that copies them anyway.
func EachTSV(body []byte, enc Encoding, fn func(name, value []byte)) {
	var scratch []byte
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		k, v, ok := bytes.Cut(line, []byte{'\t'})
		if !ok {
			continue
		}
		if enc != Raw {
			scratch = appendDecoded(scratch[:0], k, enc)
			n := len(scratch)
			scratch = appendDecoded(scratch, v, enc)
			k, v = scratch[:n:n], scratch[n:]
		}
		fn(k, v)
	}
}
