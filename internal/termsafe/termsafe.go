// Package termsafe shows text that comes from evidence without letting it
// act on the reader's terminal or viewer: control characters, DEL, C1
// controls, Unicode bidirectional and line controls, and bytes that are not
// UTF-8 are written as visible escapes (\x1b, \r, \u009b, \u202e, \xff).
// The escapes are for people: the exact values are in the JSON files. Cut
// shortens such text for display, never inside a character.
package termsafe

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// unsafe reports whether r must not reach a terminal as is.
func unsafe(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f: // C0, DEL, C1
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // bidirectional controls
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	}
	return false
}

// String returns s with every unsafe character and every byte that is not
// UTF-8 escaped, so that it prints as one line of visible text.
func String(s string) string { return escape(s, "") }

// Text is String for text that may span lines and columns: line feeds and
// tabs are kept.
func Text(s string) string { return escape(s, "\n\t") }

func escape(s, keep string) string {
	i := 0
	for i < len(s) {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || unsafe(r) && !strings.ContainsRune(keep, r) {
			break
		}
		i += size
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, 0, len(s)+16)
	b = append(b, s[:i]...)
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\x`...)
			b = appendHex(b, uint32(s[i]), 2)
		case !unsafe(r) || strings.ContainsRune(keep, r):
			b = append(b, s[i:i+size]...)
		default:
			b = appendEscape(b, r)
		}
		i += size
	}
	return string(b)
}

func appendEscape(b []byte, r rune) []byte {
	switch r {
	case '\a':
		return append(b, `\a`...)
	case '\b':
		return append(b, `\b`...)
	case '\t':
		return append(b, `\t`...)
	case '\n':
		return append(b, `\n`...)
	case '\v':
		return append(b, `\v`...)
	case '\f':
		return append(b, `\f`...)
	case '\r':
		return append(b, `\r`...)
	}
	if r < 0x80 {
		return appendHex(append(b, `\x`...), uint32(r), 2)
	}
	return appendHex(append(b, `\u`...), uint32(r), 4)
}

func appendHex(b []byte, v uint32, digits int) []byte {
	h := strconv.FormatUint(uint64(v), 16)
	for range digits - len(h) {
		b = append(b, '0')
	}
	return append(b, h...)
}

// AppendJSON appends the JSON text src to dst with the unsafe characters
// encoding/json leaves raw (DEL, C1 and bidirectional controls) written as
// \u escapes: the JSON means the same, and no longer acts on a terminal.
// They can only occur inside strings, where \u escapes are valid.
func AppendJSON(dst, src []byte) []byte {
	start := 0
	for i := 0; i < len(src); {
		c := src[i]
		if c < 0x7f {
			i++
			continue
		}
		r, size := utf8.DecodeRune(src[i:])
		if c == 0x7f || unsafe(r) {
			dst = append(dst, src[start:i]...)
			dst = appendHex(append(dst, `\u`...), uint32(r), 4)
			start = i + size
		}
		i += size
	}
	return append(dst, src[start:]...)
}

// Encoder writes JSON values as json.Encoder does, one per line and without
// escaping HTML characters, through AppendJSON.
type Encoder struct {
	w   io.Writer
	buf bytes.Buffer
	enc *json.Encoder
	out []byte
}

// NewEncoder returns an Encoder writing to w.
func NewEncoder(w io.Writer) *Encoder {
	e := &Encoder{w: w}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	return e
}

// Encode writes v and a newline.
func (e *Encoder) Encode(v any) error {
	e.buf.Reset()
	if err := e.enc.Encode(v); err != nil {
		return err
	}
	e.out = AppendJSON(e.out[:0], e.buf.Bytes())
	_, err := e.w.Write(e.out)
	return err
}
