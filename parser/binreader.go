package parser

import (
	"encoding/binary"

	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

// binReader reads little-endian values from a byte slice, never past its
// end: a read past the end sets err and returns zero.
type binReader struct {
	b   []byte
	pos int
	err bool
}

func (r *binReader) need(n int) bool {
	if n < 0 || r.pos < 0 || r.pos+n > len(r.b) {
		r.err = true
		return false
	}
	return true
}

func (r *binReader) u8() byte {
	if !r.need(1) {
		return 0
	}
	v := r.b[r.pos]
	r.pos++
	return v
}

func (r *binReader) u16() uint16 {
	if !r.need(2) {
		return 0
	}
	v := binary.LittleEndian.Uint16(r.b[r.pos:])
	r.pos += 2
	return v
}

func (r *binReader) u32() uint32 {
	if !r.need(4) {
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b[r.pos:])
	r.pos += 4
	return v
}

func (r *binReader) bytes(n int) []byte {
	if !r.need(n) {
		return nil
	}
	v := r.b[r.pos : r.pos+n]
	r.pos += n
	return v
}

func (r *binReader) skip(n int) { r.bytes(n) }

func (r *binReader) token() evtx.Token { return evtx.Token(r.u8()) }

func (r *binReader) valueType() evtx.ValueType { return evtx.ValueType(r.u8()) }
