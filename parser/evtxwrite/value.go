// Package evtxwrite writes genuine EVTX files: file header, 64 KiB chunks with
// their checksums, string and template tables, binary XML templates defined
// once per chunk and instantiated with typed substitution values. It is the
// inverse of the parser and exists for fixtures, damage cases and benchmarks.
package evtxwrite

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

// Binary XML value types, as the bytes written in substitutions.
const (
	typeNull     = byte(evtx.TypeNull)
	typeString   = byte(evtx.TypeString)
	typeUInt8    = byte(evtx.TypeUInt8)
	typeUInt16   = byte(evtx.TypeUInt16)
	typeUInt32   = byte(evtx.TypeUInt32)
	typeUInt64   = byte(evtx.TypeUInt64)
	typeBool     = byte(evtx.TypeBool)
	typeBinary   = byte(evtx.TypeBinary)
	typeGUID     = byte(evtx.TypeGUID)
	typeFileTime = byte(evtx.TypeFileTime)
	typeSysTime  = byte(evtx.TypeSysTime)
	typeSID      = byte(evtx.TypeSID)
	typeHexInt32 = byte(evtx.TypeHexInt32)
	typeHexInt64 = byte(evtx.TypeHexInt64)
)

// Value is one typed substitution value: its type and its encoded bytes.
type Value struct {
	Type  byte
	bytes []byte
	text  string // how Event Viewer prints it, for tests
	err   error  // a value that could not be encoded; Writer.Write reports it
}

// Text is the value as Windows renders it in XML.
func (v Value) Text() string { return v.text }

var le = binary.LittleEndian

// String is a UTF-16 string, written without a terminating NUL.
func String(s string) Value {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		le.PutUint16(b[2*i:], c)
	}
	return val(typeString, b, s)
}

func val(t byte, b []byte, text string) Value { return Value{Type: t, bytes: b, text: text} }

// Null is an absent value.
func Null() Value { return Value{Type: typeNull} }

func UInt8(v uint8) Value { return val(typeUInt8, []byte{v}, strconv.Itoa(int(v))) }

func UInt16(v uint16) Value {
	return val(typeUInt16, le.AppendUint16(nil, v), strconv.Itoa(int(v)))
}

func UInt32(v uint32) Value {
	return val(typeUInt32, le.AppendUint32(nil, v), strconv.FormatUint(uint64(v), 10))
}

func UInt64(v uint64) Value {
	return val(typeUInt64, le.AppendUint64(nil, v), strconv.FormatUint(v, 10))
}

func HexInt32(v uint32) Value {
	return val(typeHexInt32, le.AppendUint32(nil, v), fmt.Sprintf("0x%x", v))
}

func HexInt64(v uint64) Value {
	return val(typeHexInt64, le.AppendUint64(nil, v), fmt.Sprintf("0x%x", v))
}

// Bool is a 32-bit boolean.
func Bool(v bool) Value {
	if v {
		return val(typeBool, le.AppendUint32(nil, 1), "true")
	}
	return val(typeBool, le.AppendUint32(nil, 0), "false")
}

func Binary(b []byte) Value {
	return val(typeBinary, append([]byte(nil), b...), strings.ToUpper(fmt.Sprintf("%x", b)))
}

// FileTime is a FILETIME: 100 ns ticks since 1601.
func FileTime(t time.Time) Value {
	return val(typeFileTime, le.AppendUint64(nil, ToFileTime(t)), t.UTC().Format("2006-01-02T15:04:05.0000000Z"))
}

// SysTime is a SYSTEMTIME, millisecond precision.
func SysTime(t time.Time) Value {
	t = t.UTC()
	b := make([]byte, 16)
	for i, f := range []int{t.Year(), int(t.Month()), int(t.Weekday()), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond() / 1e6} {
		le.PutUint16(b[2*i:], uint16(f))
	}
	return val(typeSysTime, b, t.Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z"))
}

// GUID parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", with or without braces,
// and stores it in the Windows mixed-endian layout.
func GUID(s string) Value {
	b, err := guidBytes(s)
	if err != nil {
		return Value{Type: typeGUID, err: fmt.Errorf("GUID %q: %w", s, err)}
	}
	return val(typeGUID, b, "{"+strings.ToLower(strings.Trim(s, "{}"))+"}")
}

func guidBytes(s string) ([]byte, error) {
	s = strings.Trim(s, "{}")
	parts := strings.Split(s, "-")
	if len(parts) != 5 || len(parts[0]) != 8 || len(parts[1]) != 4 || len(parts[2]) != 4 || len(parts[3]) != 4 || len(parts[4]) != 12 {
		return nil, fmt.Errorf("not a GUID")
	}
	d1, err1 := strconv.ParseUint(parts[0], 16, 32)
	d2, err2 := strconv.ParseUint(parts[1], 16, 16)
	d3, err3 := strconv.ParseUint(parts[2], 16, 16)
	rest, err4 := hexBytes(parts[3] + parts[4])
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return nil, fmt.Errorf("not a GUID")
	}
	b := le.AppendUint32(nil, uint32(d1))
	b = le.AppendUint16(b, uint16(d2))
	b = le.AppendUint16(b, uint16(d3))
	return append(b, rest...), nil
}

func hexBytes(s string) ([]byte, error) {
	b := make([]byte, len(s)/2)
	for i := range b {
		v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, err
		}
		b[i] = byte(v)
	}
	return b, nil
}

// SID parses "S-1-5-21-...".
func SID(s string) Value {
	parts := strings.Split(s, "-")
	if len(parts) < 3 || parts[0] != "S" {
		return Value{Type: typeSID, err: fmt.Errorf("SID %q: not a SID", s)}
	}
	rev, _ := strconv.ParseUint(parts[1], 10, 8)
	auth, _ := strconv.ParseUint(parts[2], 10, 48)
	subs := parts[3:]
	b := []byte{byte(rev), byte(len(subs))}
	for i := 5; i >= 0; i-- {
		b = append(b, byte(auth>>(8*i)))
	}
	for _, sub := range subs {
		v, err := strconv.ParseUint(sub, 10, 32)
		if err != nil {
			return Value{Type: typeSID, err: fmt.Errorf("SID %q: %w", s, err)}
		}
		b = le.AppendUint32(b, uint32(v))
	}
	return val(typeSID, b, s)
}

// ToFileTime converts a time to FILETIME ticks.
func ToFileTime(t time.Time) uint64 {
	const epochDelta = 116444736000000000 // 1601-01-01 to 1970-01-01 in 100 ns
	return uint64(t.UnixNano()/100 + epochDelta)
}
