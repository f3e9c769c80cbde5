package kttest

import (
	"encoding/base64"
	"slices"
	"strings"
)

// Column encodings of a TSV body, named by the letter KT puts after
// "colenc=". encRaw means no encoding.
const (
	encRaw    = 0
	encBase64 = 'B'
	encURL    = 'U'
	encQuote  = 'Q'
)

const tsvContentType = "text/tab-separated-values"

// unhex returns the value of a hex digit; KT reads any other byte as 0.
func unhex(c byte) byte {
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

// urlDecode decodes like KT: %HH with any hex case (bad digits count as 0),
// '+' is a space, blanks and DEL are dropped, and a '%' too close to the end
// stops decoding.
func urlDecode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) {
				return b.String()
			}
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		case c == '+':
			b.WriteByte(' ')
		case c <= ' ' || c == 0x7f:
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// urlEncode keeps A-Z a-z 0-9 _ - . ~ and writes every other byte as %hh
// with lower-case hex, as KT does.
func urlEncode(s string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) || c == '_' || c == '-' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func isAlnum(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

// base64Decode decodes leniently like KT: bytes outside the alphabet are
// skipped, and decoding ends after the first group of four that holds '='.
func base64Decode(s string) string {
	var out []byte
	var group [4]byte
	n, pads := 0, 0
	flush := func() {
		var v uint32
		for i := range 4 {
			v = v<<6 | uint32(group[i])
		}
		bs := []byte{byte(v >> 16), byte(v >> 8), byte(v)}
		keep := 3
		if pads > 0 {
			keep = max(0, 3-pads)
		}
		if n < 4 {
			keep = min(keep, max(0, n-1))
		}
		out = append(out, bs[:keep]...)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		var v byte
		switch {
		case c >= 'A' && c <= 'Z':
			v = c - 'A'
		case c >= 'a' && c <= 'z':
			v = c - 'a' + 26
		case c >= '0' && c <= '9':
			v = c - '0' + 52
		case c == '+':
			v = 62
		case c == '/':
			v = 63
		case c == '=':
			pads++
		default:
			continue
		}
		group[n] = v
		n++
		if n == 4 {
			flush()
			if pads > 0 {
				return string(out)
			}
			n, group = 0, [4]byte{}
		}
	}
	if n > 0 {
		flush()
	}
	return string(out)
}

// quoteDecode decodes quoted-printable like KT: =HH is a byte, '=' before a
// line end is a soft break, bare control bytes and DEL are dropped.
func quoteDecode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '=':
			switch {
			case i+1 < len(s) && (s[i+1] == '\r' || s[i+1] == '\n'):
				i++
				if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
					i++
				}
			case i+2 < len(s):
				b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
				i += 2
			default:
				return b.String()
			}
		case c < ' ' || c == 0x7f:
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func decodeColumn(s string, enc byte) string {
	switch enc {
	case encBase64:
		return base64Decode(s)
	case encURL:
		return urlDecode(s)
	case encQuote:
		return quoteDecode(s)
	}
	return s
}

func encodeColumn(s string, enc byte) string {
	switch enc {
	case encBase64:
		return base64.StdEncoding.EncodeToString([]byte(s))
	case encURL:
		return urlEncode(s)
	}
	return s
}

// parseForm adds the pairs of form data to m. '&' and ';' both separate
// pairs, leading blanks of a pair are skipped and a later name wins.
func parseForm(s string, m map[string]string) {
	for pair := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == '&' || r == ';' }) {
		pair = strings.TrimLeftFunc(pair, func(r rune) bool { return r >= 1 && r <= ' ' })
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		m[urlDecode(name)] = urlDecode(value)
	}
}

// parseTSV adds the lines of a TSV body to m: each line splits at its
// first TAB, lines without one are ignored, and a later name wins.
func parseTSV(body string, enc byte, m map[string]string) {
	for line := range strings.SplitSeq(body, "\n") {
		line = strings.TrimSuffix(line, "\r")
		name, value, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		m[decodeColumn(name, enc)] = decodeColumn(value, enc)
	}
}

// colencOf reads the colenc attribute of a TSV Content-Type: the first
// parameter token that starts with "colenc=", of which only the first
// letter (after an optional quote) counts.
func colencOf(contentType string) byte {
	for tok := range strings.FieldsFuncSeq(contentType, func(r rune) bool { return r == ' ' || r == ';' }) {
		if len(tok) < 7 || !strings.EqualFold(tok[:7], "colenc=") {
			continue
		}
		v := strings.TrimPrefix(tok[7:], "\"")
		if v == "" {
			return encRaw
		}
		switch c := v[0] &^ 0x20; c {
		case encBase64, encURL, encQuote:
			return c
		}
		return encRaw
	}
	return encRaw
}

// chooseEncoding picks the response encoding the way KT scores it: raw
// unless a field is longer than 255 bytes or holds a control byte; then
// Base64 when its estimate is strictly shorter than URL encoding's.
func chooseEncoding(m map[string]string) byte {
	binary := false
	blen, ulen := 0, 0
	score := func(s string) {
		n := min(len(s), 255)
		if len(s) > 255 {
			binary = true
		}
		blen += n*6/4 + 3
		for i := range n {
			c := s[i]
			if c < 0x20 || c == 0x7f {
				binary = true
			}
			if isAlnum(c) || strings.IndexByte("_-.!~*'()", c) >= 0 {
				ulen++
			} else {
				ulen += 3
			}
		}
	}
	for k, v := range m {
		score(k)
		score(v)
	}
	switch {
	case !binary:
		return encRaw
	case blen < ulen:
		return encBase64
	}
	return encURL
}

// encodeTSV writes m as a TSV body with the encoding KT would choose, lines
// sorted by encoded name, and returns it with its Content-Type.
func encodeTSV(m map[string]string) (body []byte, contentType string) {
	enc := chooseEncoding(m)
	lines := make([][2]string, 0, len(m))
	for k, v := range m {
		lines = append(lines, [2]string{encodeColumn(k, enc), encodeColumn(v, enc)})
	}
	slices.SortFunc(lines, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	var b []byte
	for _, l := range lines {
		b = append(b, l[0]...)
		b = append(b, '\t')
		b = append(b, l[1]...)
		b = append(b, '\n')
	}
	contentType = tsvContentType
	if enc != encRaw {
		contentType += "; colenc=" + string(enc)
	}
	return b, contentType
}
