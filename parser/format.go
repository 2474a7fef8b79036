package parser

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Layout of the EVTX format ([MS-EVEN6] and libevtx's documentation). Offsets
// inside a chunk are relative to the chunk's first byte.
const (
	FileHeaderSize  = 4096  // the file header block, padded
	ChunkSize       = 65536 // every chunk slot
	ChunkTablesEnd  = 512   // chunk header + string buckets + template buckets
	RecordHeaderLen = 24    // magic, size, record id, written time
	chunkHeaderLen  = 128   // fixed chunk header fields
	recordMinLen    = RecordHeaderLen + 4
)

// Magic numbers that open a file, a chunk and a record.
var (
	FileMagic   = []byte("ElfFile\x00")
	ChunkMagic  = []byte("ElfChnk\x00")
	RecordMagic = []byte{0x2a, 0x2a, 0, 0}
)

// FileHeader is the first 128 bytes of an EVTX file. evtxhunt reports it but
// never trusts it: the chunk count and the dirty flag are stale in unflushed
// logs, so every chunk slot up to end of file is read anyway.
type FileHeader struct {
	FirstChunk   uint64 `json:"first_chunk"`
	LastChunk    uint64 `json:"last_chunk"`
	NextRecordID uint64 `json:"next_record_id"`
	MinorVersion uint16 `json:"minor_version"`
	MajorVersion uint16 `json:"major_version"`
	ChunkCount   uint16 `json:"chunk_count"`
	Flags        uint32 `json:"flags"`
	Dirty        bool   `json:"dirty"`
	Full         bool   `json:"full"`
	ChecksumOK   bool   `json:"checksum_ok"`
}

var errNotEVTX = errors.New("not an EVTX file")

// parseFileHeader decodes the file header from the first bytes of a file.
func parseFileHeader(b []byte) (FileHeader, error) {
	if len(b) < chunkHeaderLen {
		return FileHeader{}, fmt.Errorf("%w: %d bytes, shorter than the 128-byte file header", errNotEVTX, len(b))
	}
	if !bytes.Equal(b[:8], FileMagic) {
		return FileHeader{}, fmt.Errorf("%w: file magic is %q, want %q", errNotEVTX, b[:8], FileMagic)
	}
	le := binary.LittleEndian
	h := FileHeader{
		FirstChunk:   le.Uint64(b[8:]),
		LastChunk:    le.Uint64(b[16:]),
		NextRecordID: le.Uint64(b[24:]),
		MinorVersion: le.Uint16(b[36:]),
		MajorVersion: le.Uint16(b[38:]),
		ChunkCount:   le.Uint16(b[42:]),
		Flags:        le.Uint32(b[120:]),
	}
	h.Dirty = h.Flags&1 != 0
	h.Full = h.Flags&2 != 0
	h.ChecksumOK = crc32.ChecksumIEEE(b[:120]) == le.Uint32(b[124:])
	return h, nil
}

// ChunkHeader holds the fixed fields of a chunk header.
type ChunkHeader struct {
	FirstRecordNumber uint64
	LastRecordNumber  uint64
	FirstRecordID     uint64
	LastRecordID      uint64
	HeaderSize        uint32
	LastRecordOffset  uint32
	FreeSpaceOffset   uint32
	DataChecksum      uint32
	Flags             uint32
	HeaderChecksum    uint32
}

func parseChunkHeader(b []byte) ChunkHeader {
	le := binary.LittleEndian
	return ChunkHeader{
		FirstRecordNumber: le.Uint64(b[8:]),
		LastRecordNumber:  le.Uint64(b[16:]),
		FirstRecordID:     le.Uint64(b[24:]),
		LastRecordID:      le.Uint64(b[32:]),
		HeaderSize:        le.Uint32(b[40:]),
		LastRecordOffset:  le.Uint32(b[44:]),
		FreeSpaceOffset:   le.Uint32(b[48:]),
		DataChecksum:      le.Uint32(b[52:]),
		Flags:             le.Uint32(b[120:]),
		HeaderChecksum:    le.Uint32(b[124:]),
	}
}

// ChunkHeaderChecksum is the CRC32 Windows stores for a chunk header: bytes
// 0-120 and the string and template tables at 128-512.
func ChunkHeaderChecksum(chunk []byte) uint32 {
	crc := crc32.Update(0, crc32.IEEETable, chunk[:120])
	return crc32.Update(crc, crc32.IEEETable, chunk[chunkHeaderLen:ChunkTablesEnd])
}

// recordsEnd is where the record area of a chunk ends: the header's free space
// offset when it is plausible, otherwise the end of the bytes we have.
func recordsEnd(h ChunkHeader, n int) int {
	if h.FreeSpaceOffset >= ChunkTablesEnd && int(h.FreeSpaceOffset) <= n {
		return int(h.FreeSpaceOffset)
	}
	return n
}

// RecordRef locates one record inside a chunk.
type RecordRef struct {
	Offset uint32 // from the chunk's first byte
	Size   uint32 // whole record, header and size trailer included
	ID     uint64
	// Trailer is the copy of Size that ends the record. Windows writes it
	// last, so it is often 0 in the record being written when a live log
	// was copied; such a record is still read.
	Trailer uint32
}

// walkRecords lists the records of a chunk from the end of its tables up to
// end, appending to refs. Records are chained by their size field; the walk
// stops at the first header that is not a record and says why, unless the rest
// is zero padding. A size that disagrees with its trailer is recorded in the
// RecordRef, not a reason to stop.
func walkRecords(chunk []byte, end int, refs []RecordRef) ([]RecordRef, *walkStop) {
	le := binary.LittleEndian
	off := ChunkTablesEnd
	for off+RecordHeaderLen <= end {
		b := chunk[off:]
		if !bytes.Equal(b[:4], RecordMagic) {
			if allZero(chunk[off:end]) {
				return refs, nil
			}
			return refs, &walkStop{off, fmt.Sprintf("bad record magic %x", b[:4])}
		}
		size := le.Uint32(b[4:])
		if size < recordMinLen || uint64(off)+uint64(size) > uint64(len(chunk)) {
			return refs, &walkStop{off, fmt.Sprintf("record size %d does not fit the chunk", size)}
		}
		refs = append(refs, RecordRef{Offset: uint32(off), Size: size, ID: le.Uint64(b[8:]), Trailer: le.Uint32(b[size-4:])})
		off += int(size)
	}
	return refs, nil
}

// walkStop says where and why a record walk ended early.
type walkStop struct {
	offset int
	reason string
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
