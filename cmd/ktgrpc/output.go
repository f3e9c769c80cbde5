package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/ktgrpc/ktgrpc/cmd/ktgrpc/internal/codec"
)

// Output modes of --write-out.
const (
	writeSimple = "simple"
	writeJSON   = "json"
	writeTable  = "table"
)

func writeModes() []string { return []string{writeSimple, writeJSON, writeTable} }

// escapeText renders bytes for a line of text output: printable UTF-8 stays
// as it is, a backslash doubles, tab, newline and carriage return become \t,
// \n and \r, and every other byte \xHH, so that one record is one line and a
// terminal shows no control bytes.
func escapeText(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == '\\':
			sb.WriteString(`\\`)
		case r == '\t':
			sb.WriteString(`\t`)
		case r == '\n':
			sb.WriteString(`\n`)
		case r == '\r':
			sb.WriteString(`\r`)
		case r == utf8.RuneError && n <= 1, !unicode.IsPrint(r) && r != ' ':
			for _, c := range b[:n] {
				fmt.Fprintf(&sb, `\x%02x`, c)
			}
		default:
			sb.Write(b[:n])
		}
		b = b[n:]
	}
	return sb.String()
}

// field is one named value of an output record. Exactly one of the value
// fields is meant: bytes (keys, values: written in --format), text (names,
// fields of the gateway), or num (counts, positions, counters), which JSON
// prints as a number.
type field struct {
	name  string
	bytes []byte
	isB   bool
	text  string
	num   string // a JSON number's text; "" when not a number
	list  []string
}

func bytesField(name string, b []byte) field { return field{name: name, bytes: b, isB: true} }
func textField(name, s string) field         { return field{name: name, text: s} }
func intField(name string, n int64) field    { return field{name: name, num: strconv.FormatInt(n, 10)} }
func uintField(name string, n uint64) field  { return field{name: name, num: strconv.FormatUint(n, 10)} }
func floatField(name string, f float64) field {
	return field{name: name, num: strconv.FormatFloat(f, 'g', -1, 64)}
}
func boolField(name string, b bool) field { return field{name: name, num: strconv.FormatBool(b)} }

// printer writes records in the mode of --write-out: simple (fields
// separated by sep, bytes escaped), json (one object per line) or table
// (aligned columns under a header, written at Flush).
type printer struct {
	mode   string
	format codec.Format
	sep    string
	w      *bufio.Writer
	tw     *tabwriter.Writer
	table  bytes.Buffer // what tw aligned, before trailing blanks are cut
	header bool
}

func newPrinter(w io.Writer, mode string, format codec.Format, sep string) *printer {
	p := &printer{mode: mode, format: format, sep: sep, w: bufio.NewWriter(w)}
	if mode == writeTable {
		p.tw = tabwriter.NewWriter(&p.table, 0, 8, 2, ' ', 0)
	}
	return p
}

// text renders a field for simple and table output.
func (p *printer) text(f field) string {
	switch {
	case f.isB:
		if p.format == codec.Text {
			return escapeText(f.bytes)
		}
		return p.format.Encode(f.bytes)
	case f.num != "":
		return f.num
	case f.list != nil:
		return strings.Join(f.list, ",")
	}
	return escapeText([]byte(f.text))
}

// jsonValue renders a field as JSON. Bytes are a string in --format; in
// text format, bytes that are not UTF-8 go as base64 under NAME_base64, so
// that JSON output never loses a byte.
func (p *printer) jsonValue(f field) (string, string) {
	marshal := func(v any) string {
		b, _ := json.Marshal(v) // strings and string slices always marshal
		return string(b)
	}
	switch {
	case f.isB:
		if p.format == codec.Text && !utf8.Valid(f.bytes) {
			return f.name + "_base64", marshal(base64.StdEncoding.EncodeToString(f.bytes))
		}
		return f.name, marshal(p.format.Encode(f.bytes))
	case f.num != "":
		return f.name, f.num
	case f.list != nil:
		return f.name, marshal(f.list)
	}
	return f.name, marshal(f.text)
}

// record writes one record.
func (p *printer) record(fields ...field) error {
	switch p.mode {
	case writeJSON:
		var sb strings.Builder
		sb.WriteByte('{')
		for i, f := range fields {
			if i > 0 {
				sb.WriteByte(',')
			}
			name, v := p.jsonValue(f)
			fmt.Fprintf(&sb, "%q:%s", name, v)
		}
		sb.WriteString("}\n")
		_, err := p.w.WriteString(sb.String())
		return err
	case writeTable:
		if !p.header {
			p.header = true
			names := make([]string, len(fields))
			for i, f := range fields {
				names[i] = strings.ToUpper(f.name)
			}
			fmt.Fprintln(p.tw, strings.Join(names, "\t"))
		}
		cols := make([]string, len(fields))
		for i, f := range fields {
			cols[i] = p.text(f)
		}
		_, err := fmt.Fprintln(p.tw, strings.Join(cols, "\t"))
		return err
	}
	cols := make([]string, len(fields))
	for i, f := range fields {
		cols[i] = p.text(f)
	}
	_, err := p.w.WriteString(strings.Join(cols, p.sep) + "\n")
	return err
}

// Flush writes what is buffered; a table is aligned and written only now.
func (p *printer) Flush() error {
	if p.tw != nil {
		if err := p.tw.Flush(); err != nil {
			return err
		}
		// An empty last column leaves the padding of the one before it.
		for _, line := range strings.SplitAfter(p.table.String(), "\n") {
			if line != "" {
				p.w.WriteString(strings.TrimRight(line, " \n") + "\n")
			}
		}
		p.table.Reset()
	}
	return p.w.Flush()
}
