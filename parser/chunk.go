package parser

import (
	"bytes"
	"fmt"
	"hash/crc32"
)

// Chunk is one 64 KiB chunk slot of a file, read and checked, ready for a
// ChunkDecoder.
type Chunk struct {
	File    string
	Index   int   // slot number, from 0
	Offset  int64 // of the slot in the file
	Data    []byte
	Header  ChunkHeader
	Records []RecordRef // found by walking the record chain
}

// ChunkResult collects what one chunk yielded. Decoders append to it.
type ChunkResult struct {
	Events  []ProcessEvent
	Census  Census
	Chunks  ChunkCounts
	Records RecordCounts
	Errors  []DecodeError
	zero    bool // the slot holds nothing but zeros
}

func (r *ChunkResult) reset() {
	*r = ChunkResult{Events: r.Events[:0], Census: Census{}, Errors: r.Errors[:0]}
}

// addError records a problem, its reason cut short: what a chunk's errors
// weigh must not depend on what its records claim.
func (r *ChunkResult) addError(e DecodeError) {
	e.Reason = shortReason(e.Reason)
	r.Errors = append(r.Errors, e)
}

// chunkError records a problem with the chunk as a whole: err says what.
func (r *ChunkResult) chunkError(c *Chunk, kind ErrorKind, err error) {
	r.addError(DecodeError{File: c.File, Kind: kind, Offset: c.Offset, Chunk: c.Index, Reason: err.Error(), Err: err})
}

// recordError records a problem with one record; err, when set, is its
// cause.
func (r *ChunkResult) recordError(c *Chunk, ref RecordRef, kind ErrorKind, reason string, err error) {
	r.addError(DecodeError{File: c.File, Kind: kind, Offset: c.Offset + int64(ref.Offset), Chunk: c.Index, RecordID: ref.ID, Reason: reason, Err: err})
}

// A ChunkDecoder reads the records of a checked chunk: it counts every record
// in the census, turns process creations into ProcessEvents, and reports
// every record it could not read. A decoder is used by one goroutine at a
// time and may keep buffers between chunks; it must not keep c.Data.
type ChunkDecoder interface {
	Decode(c *Chunk, r *ChunkResult)
}

// inspectChunk checks a slot's framing, which is the same whatever decoder
// reads the records: magic, checksums, truncation, and the chain of records.
// It reports whether there is anything to decode.
func inspectChunk(c *Chunk, r *ChunkResult) bool {
	r.Chunks.Slots = 1
	data := c.Data
	if allZero(data) {
		r.Chunks.Empty = 1
		r.zero = len(data) > 0
		return false
	}
	if len(data) < ChunkSize {
		r.Chunks.Truncated = 1
		r.chunkError(c, ErrTruncated, fmt.Errorf("chunk slot holds %d of %d bytes: the file ends inside it", len(data), ChunkSize))
		if len(data) < ChunkTablesEnd {
			r.Chunks.Failed = 1
			return false
		}
	}
	if !bytes.Equal(data[:8], ChunkMagic) {
		// A damaged magic need not mean damaged records: decode whatever
		// the record chain still holds.
		r.Chunks.BadMagic = 1
		r.chunkError(c, ErrChunkMagic, fmt.Errorf("chunk magic is %q, want %q", data[:8], ChunkMagic))
	}
	c.Header = parseChunkHeader(data)
	if got := ChunkHeaderChecksum(data); got != c.Header.HeaderChecksum {
		r.Chunks.HeaderCRCFailures = 1
		r.chunkError(c, ErrChunkHeader, fmt.Errorf("header CRC32 is 0x%08x, computed 0x%08x", c.Header.HeaderChecksum, got))
	}
	end := recordsEnd(c.Header, len(data))
	if int(c.Header.FreeSpaceOffset) == end {
		if got := crc32.ChecksumIEEE(data[ChunkTablesEnd:end]); got != c.Header.DataChecksum {
			r.Chunks.DataCRCFailures = 1
			r.chunkError(c, ErrChunkData, fmt.Errorf("records CRC32 is 0x%08x, computed 0x%08x", c.Header.DataChecksum, got))
		}
	}
	var stop *walkStop
	c.Records, stop = walkRecords(data, end, c.Records[:0])
	if stop != nil {
		r.addError(DecodeError{File: c.File, Kind: ErrRecordWalk, Offset: c.Offset + int64(stop.offset), Chunk: c.Index,
			Reason: stop.reason + fmt.Sprintf("; %d bytes of the record area after it are not read", end-stop.offset)})
	}
	for _, ref := range c.Records {
		if ref.Trailer != ref.Size {
			r.recordError(c, ref, ErrRecordWalk, fmt.Sprintf("record size %d disagrees with its trailer %d (a record still being written when the log was copied?); read anyway", ref.Size, ref.Trailer), nil)
		}
	}
	r.Records.Seen = uint64(len(c.Records))
	if len(c.Records) == 0 {
		// A chunk without records is empty only if nothing suggests
		// records were there and could not be read.
		if r.Chunks.BadMagic == 0 && r.Chunks.Truncated == 0 && stop == nil {
			r.Chunks.Empty = 1
		} else {
			r.Chunks.Failed = 1
		}
		return false
	}
	return true
}
