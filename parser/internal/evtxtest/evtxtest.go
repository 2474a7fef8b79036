// Package evtxtest builds EVTX framing for tests: file headers, records
// around any body (binary XML or not) and chunks with correct checksums. The
// EVTX writer (parser/evtxwrite) writes real records; these are for tests
// of the framing itself, which must not depend on the decoders.
package evtxtest

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

var le = binary.LittleEndian

// FileHeader builds a file header block for a file of the given chunk count
// and flags, version 3.1, with a correct checksum.
func FileHeader(chunks uint16, flags uint32) []byte {
	b := make([]byte, evtx.FileHeaderSize)
	copy(b, evtx.FileMagic)
	le.PutUint64(b[16:], uint64(chunks)-1)
	le.PutUint64(b[24:], 100)
	le.PutUint32(b[32:], evtx.FileHeaderLen)
	le.PutUint16(b[36:], 1)
	le.PutUint16(b[38:], 3)
	le.PutUint16(b[40:], evtx.FileHeaderSize)
	le.PutUint16(b[42:], chunks)
	le.PutUint32(b[120:], flags)
	le.PutUint32(b[124:], crc32.ChecksumIEEE(b[:120]))
	return b
}

// Record builds a record with the given id around body.
func Record(id uint64, body []byte) []byte {
	size := evtx.RecordHeaderLen + len(body) + 4
	b := make([]byte, size)
	copy(b, evtx.RecordMagic)
	le.PutUint32(b[4:], uint32(size))
	le.PutUint64(b[8:], id)
	copy(b[evtx.RecordHeaderLen:], body)
	le.PutUint32(b[size-4:], uint32(size))
	return b
}

// Chunk builds a chunk holding the records, numbered from firstID, with
// correct checksums.
func Chunk(firstID uint64, records ...[]byte) []byte {
	b := make([]byte, evtx.ChunkSize)
	copy(b, evtx.ChunkMagic)
	off := evtx.ChunkTablesEnd
	last := off
	for _, r := range records {
		last = off
		off += copy(b[off:], r)
	}
	le.PutUint64(b[8:], firstID)
	le.PutUint64(b[16:], firstID+uint64(len(records))-1)
	le.PutUint64(b[24:], firstID)
	le.PutUint64(b[32:], firstID+uint64(len(records))-1)
	le.PutUint32(b[40:], evtx.ChunkHeaderLen)
	le.PutUint32(b[44:], uint32(last))
	le.PutUint32(b[48:], uint32(off))
	le.PutUint32(b[52:], crc32.ChecksumIEEE(b[evtx.ChunkTablesEnd:off]))
	le.PutUint32(b[124:], evtx.ChunkHeaderChecksum(b))
	return b
}
