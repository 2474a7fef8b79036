package parser

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

type valueRef struct {
	typ  evtx.ValueType
	off  int // in the chunk
	data []byte
}

func (d *nativeDecoder) value(f field) (valueRef, bool) {
	if !f.set || f.sub < 0 || f.sub >= len(d.values) {
		return valueRef{}, false
	}
	return d.values[f.sub], true
}

// fieldNumber reads an integer field without allocating.
func (d *nativeDecoder) fieldNumber(f field) (uint64, bool) {
	if f.set && f.sub < 0 {
		n, err := strconv.ParseUint(strings.TrimSpace(f.literal), 10, 64)
		return n, err == nil
	}
	v, ok := d.value(f)
	if !ok {
		return 0, false
	}
	switch {
	case v.typ == evtx.TypeUInt8 || v.typ == evtx.TypeInt8:
		if len(v.data) >= 1 {
			return uint64(v.data[0]), true
		}
	case v.typ == evtx.TypeUInt16 || v.typ == evtx.TypeInt16:
		if len(v.data) >= 2 {
			return uint64(binary.LittleEndian.Uint16(v.data)), true
		}
	case v.typ == evtx.TypeUInt32 || v.typ == evtx.TypeInt32 || v.typ == evtx.TypeHexInt32:
		if len(v.data) >= 4 {
			return uint64(binary.LittleEndian.Uint32(v.data)), true
		}
	case v.typ == evtx.TypeUInt64 || v.typ == evtx.TypeInt64 || v.typ == evtx.TypeHexInt64:
		if len(v.data) >= 8 {
			return binary.LittleEndian.Uint64(v.data), true
		}
	case v.typ == evtx.TypeNull:
		return 0, true
	}
	return 0, false
}

// fieldText is a field's text for census keys, without allocating once the
// value has been seen.
func (d *nativeDecoder) fieldText(f field) string {
	if f.set && f.sub < 0 {
		return f.literal
	}
	v, ok := d.value(f)
	if !ok || v.typ != evtx.TypeString {
		return d.fieldString(f)
	}
	if s, ok := d.text[string(v.data)]; ok {
		return s
	}
	s := d.utf16String(v.data)
	if len(d.text) < 4096 {
		d.text[string(v.data)] = s
	}
	return s
}

func (d *nativeDecoder) fieldTime(f field) time.Time {
	v, ok := d.value(f)
	if !ok || v.typ != evtx.TypeFileTime || len(v.data) < 8 {
		return time.Time{}
	}
	return fileTime(binary.LittleEndian.Uint64(v.data))
}

// fileTime converts FILETIME ticks exactly.
func fileTime(ticks uint64) time.Time {
	const epochDelta = 116444736000000000 // 1601 to 1970 in 100 ns
	t := int64(ticks) - epochDelta
	return time.Unix(t/10_000_000, (t%10_000_000)*100).UTC()
}

// fieldString renders a System field.
func (d *nativeDecoder) fieldString(f field) string {
	if f.set && f.sub < 0 {
		return f.literal
	}
	v, ok := d.value(f)
	if !ok {
		return ""
	}
	return d.valueString(v)
}

// valueString renders a value as golang-evtx does, so both decoders give the
// same ProcessEvents.
func (d *nativeDecoder) valueString(v valueRef) string {
	le := binary.LittleEndian
	data := v.data
	switch v.typ {
	case evtx.TypeNull:
		return ""
	case evtx.TypeString:
		return d.utf16String(data)
	case evtx.TypeANSIString:
		return strings.TrimRight(string(data), "\x00")
	case evtx.TypeInt8:
		if len(data) >= 1 {
			return strconv.FormatInt(int64(int8(data[0])), 10)
		}
	case evtx.TypeUInt8:
		if len(data) >= 1 {
			return strconv.FormatUint(uint64(data[0]), 10)
		}
	case evtx.TypeInt16:
		if len(data) >= 2 {
			return strconv.FormatInt(int64(int16(le.Uint16(data))), 10)
		}
	case evtx.TypeUInt16:
		if len(data) >= 2 {
			return strconv.FormatUint(uint64(le.Uint16(data)), 10)
		}
	case evtx.TypeInt32:
		if len(data) >= 4 {
			return strconv.FormatInt(int64(int32(le.Uint32(data))), 10)
		}
	case evtx.TypeUInt32:
		if len(data) >= 4 {
			return strconv.FormatUint(uint64(le.Uint32(data)), 10)
		}
	case evtx.TypeInt64:
		if len(data) >= 8 {
			return strconv.FormatInt(int64(le.Uint64(data)), 10)
		}
	case evtx.TypeUInt64:
		if len(data) >= 8 {
			return strconv.FormatUint(le.Uint64(data), 10)
		}
	case evtx.TypeBool:
		if len(data) >= 4 {
			return strconv.FormatBool(le.Uint32(data) == 1)
		}
	case evtx.TypeGUID:
		if len(data) >= 16 {
			return fmt.Sprintf("%08X-%04X-%04X-%X-%X", le.Uint32(data), le.Uint16(data[4:]), le.Uint16(data[6:]), data[8:10], data[10:16])
		}
	case evtx.TypeFileTime:
		if len(data) >= 8 {
			return fileTime(le.Uint64(data)).Format(TimeLayout)
		}
	case evtx.TypeSID:
		return sidString(data)
	case evtx.TypeHexInt32:
		if len(data) >= 4 {
			return "0x" + strconv.FormatUint(uint64(le.Uint32(data)), 16)
		}
	case evtx.TypeHexInt64:
		if len(data) >= 8 {
			return "0x" + strconv.FormatUint(le.Uint64(data), 16)
		}
	case evtx.TypeStringArray:
		var parts []string
		for _, s := range strings.Split(d.utf16String(data), "\x00") {
			if s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, "\n")
	}
	return ""
}

// utf16String decodes UTF-16LE text straight into UTF-8, as
// string(utf16.Decode(...)) would (lone surrogates become U+FFFD), without
// trailing NULs, through a reused buffer: one allocation, the string.
func (d *nativeDecoder) utf16String(data []byte) string {
	n := len(data) / 2
	for n > 0 && data[2*n-2] == 0 && data[2*n-1] == 0 {
		n--
	}
	buf := d.utf8[:0]
	for i := 0; i < n; i++ {
		u := rune(binary.LittleEndian.Uint16(data[2*i:]))
		switch {
		case u < utf8.RuneSelf:
			buf = append(buf, byte(u))
			continue
		case utf16.IsSurrogate(u) && i+1 < n:
			if r := utf16.DecodeRune(u, rune(binary.LittleEndian.Uint16(data[2*i+2:]))); r != utf8.RuneError {
				buf = utf8.AppendRune(buf, r)
				i++
				continue
			}
		}
		buf = utf8.AppendRune(buf, u) // a lone surrogate is written as U+FFFD
	}
	d.utf8 = buf
	return string(buf)
}

func sidString(b []byte) string {
	if len(b) < 8 {
		return ""
	}
	count := int(b[1])
	if len(b) < 8+4*count {
		return ""
	}
	var auth uint64
	for _, c := range b[2:8] {
		auth = auth<<8 | uint64(c)
	}
	var sb strings.Builder
	sb.WriteString("S-")
	sb.WriteString(strconv.Itoa(int(b[0])))
	sb.WriteString("-")
	sb.WriteString(strconv.FormatUint(auth, 10))
	for i := range count {
		sb.WriteString("-")
		sb.WriteString(strconv.FormatUint(uint64(binary.LittleEndian.Uint32(b[8+4*i:])), 10))
	}
	return sb.String()
}
