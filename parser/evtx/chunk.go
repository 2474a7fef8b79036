package evtx

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

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
	return crc32.Update(crc, crc32.IEEETable, chunk[ChunkHeaderLen:ChunkTablesEnd])
}

// RecordRef locates one record inside a chunk.
type RecordRef struct {
	Offset uint32 // from the chunk's first byte
	Size   uint32 // whole record, header and size trailer included
	ID     uint64 // the record header's number
	// Trailer is the copy of Size that ends the record. Windows writes it
	// last, so it is often 0 in the record being written when a live log
	// was copied; such a record is still listed.
	Trailer uint32
}

// A Chunk is one chunk slot of a file, checked, with the records found in it.
type Chunk struct {
	Index  int    // slot number, from 0
	Offset int64  // of the slot in the file
	Data   []byte // the slot's bytes: ChunkSize, or fewer where the file ends
	Header ChunkHeader
	// Records are found by walking the chain of records from the end of
	// the tables, each record's size leading to the next.
	Records []RecordRef
	// Zero is set when every byte of the slot is zero: a slot never used,
	// or wiped. It has no header and no records, and no problem is listed.
	Zero bool
	// Problems lists where the slot breaks the format, in this order: cut
	// short (ErrTruncated), magic (ErrChunkMagic), header checksum
	// (ErrHeaderChecksum), records checksum (ErrDataChecksum), where the
	// chain of records stops (ErrRecordChain), records whose size and
	// trailer disagree (ErrRecordTrailer). None of them stops the walk:
	// what the chain still holds is listed.
	Problems []*FormatError
}

// Record returns the bytes of a record of the chunk: header, binary XML and
// size trailer.
func (c *Chunk) Record(r RecordRef) []byte { return c.Data[r.Offset : r.Offset+r.Size] }

// ParseChunk checks a chunk slot of a file, read at offset as slot index,
// and walks its records; data is kept, not copied. A slot too short to hold
// a chunk's tables, unless it is all zeros, is an error: a *FormatError for
// ErrTruncated.
func ParseChunk(data []byte, index int, offset int64) (*Chunk, error) {
	c := &Chunk{Index: index, Offset: offset, Data: data}
	if allZero(data) {
		c.Zero = len(data) > 0
		return c, nil
	}
	if len(data) < ChunkSize {
		p := c.problem(offset, ErrTruncated, fmt.Sprintf("chunk slot holds %d of %d bytes: the file ends inside it", len(data), ChunkSize))
		if len(data) < ChunkTablesEnd {
			return nil, p
		}
	}
	if string(data[:8]) != ChunkMagic {
		// A damaged magic need not mean damaged records: the walk goes on.
		c.problem(offset, ErrChunkMagic, fmt.Sprintf("chunk magic is %q, want %q", data[:8], ChunkMagic))
	}
	c.Header = parseChunkHeader(data)
	if got := ChunkHeaderChecksum(data); got != c.Header.HeaderChecksum {
		c.problem(offset, ErrHeaderChecksum, fmt.Sprintf("header CRC32 is 0x%08x, computed 0x%08x", c.Header.HeaderChecksum, got))
	}
	end := c.recordsEnd()
	if int(c.Header.FreeSpaceOffset) == end {
		if got := crc32.ChecksumIEEE(data[ChunkTablesEnd:end]); got != c.Header.DataChecksum {
			c.problem(offset, ErrDataChecksum, fmt.Sprintf("records CRC32 is 0x%08x, computed 0x%08x", c.Header.DataChecksum, got))
		}
	}
	c.walkRecords(end)
	for _, ref := range c.Records {
		if ref.Trailer != ref.Size {
			p := c.problem(offset+int64(ref.Offset), ErrRecordTrailer, fmt.Sprintf("record size %d disagrees with its trailer %d (a record still being written when the log was copied?); read anyway", ref.Size, ref.Trailer))
			p.RecordID = ref.ID
		}
	}
	return c, nil
}

// problem lists a problem of the chunk at off in the file.
func (c *Chunk) problem(off int64, rule error, detail string) *FormatError {
	p := &FormatError{Chunk: c.Index, Offset: off, Detail: detail, Err: rule}
	c.Problems = append(c.Problems, p)
	return p
}

// recordsEnd is where the record area of the chunk ends: the header's free
// space offset when it is plausible, otherwise the end of the bytes held.
func (c *Chunk) recordsEnd() int {
	if free := c.Header.FreeSpaceOffset; free >= ChunkTablesEnd && int(free) <= len(c.Data) {
		return int(free)
	}
	return len(c.Data)
}

// walkRecords lists the records of the chunk from the end of its tables up
// to end. Records are chained by their size field; the walk stops at the
// first header that is not a record and says why, unless the rest is zero
// padding. A size that disagrees with its trailer does not stop it.
func (c *Chunk) walkRecords(end int) {
	le := binary.LittleEndian
	chunk := c.Data
	off := ChunkTablesEnd
	for off+RecordHeaderLen <= end {
		b := chunk[off:]
		var stop string
		if string(b[:4]) != RecordMagic {
			if allZero(chunk[off:end]) {
				return
			}
			stop = fmt.Sprintf("bad record magic %x", b[:4])
		} else if size := le.Uint32(b[4:]); size < RecordMinLen || uint64(off)+uint64(size) > uint64(len(chunk)) {
			stop = fmt.Sprintf("record size %d does not fit the chunk", size)
		} else {
			c.Records = append(c.Records, RecordRef{Offset: uint32(off), Size: size, ID: le.Uint64(b[8:]), Trailer: le.Uint32(b[size-4:])})
			off += int(size)
			continue
		}
		c.problem(c.Offset+int64(off), ErrRecordChain, fmt.Sprintf("%s; %d bytes of the record area after it are not read", stop, end-off))
		return
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
