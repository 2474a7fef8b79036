package parser

import (
	"errors"

	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

// chunk is one chunk slot on its way to a decoder: parsed by inspectChunk,
// or in the decoding child rebuilt from a request.
type chunk struct {
	*evtx.Chunk
	file string
}

// chunkResult collects what one chunk yielded. Decoders append to it.
type chunkResult struct {
	Events  []ProcessEvent
	Census  Census
	Chunks  ChunkCounts
	Records RecordCounts
	Errors  []DecodeError
	zero    bool // the slot holds nothing but zeros
}

func (r *chunkResult) reset() {
	*r = chunkResult{Events: r.Events[:0], Census: Census{}, Errors: r.Errors[:0]}
}

// addError records a problem, its reason cut short: what a chunk's errors
// weigh must not depend on what its records claim.
func (r *chunkResult) addError(e DecodeError) {
	e.Reason = shortReason(e.Reason)
	r.Errors = append(r.Errors, e)
}

// chunkError records a problem with the chunk as a whole: err says what.
func (r *chunkResult) chunkError(c *chunk, kind ErrorKind, err error) {
	r.addError(DecodeError{File: c.file, Kind: kind, Offset: c.Offset, Chunk: c.Index, Reason: err.Error(), Err: err})
}

// recordError records a problem with one record; err, when set, is its
// cause.
func (r *chunkResult) recordError(c *chunk, ref evtx.RecordRef, kind ErrorKind, reason string, err error) {
	r.addError(DecodeError{File: c.file, Kind: kind, Offset: c.Offset + int64(ref.Offset), Chunk: c.Index, RecordID: ref.ID, Reason: reason, Err: err})
}

// formatError records where a chunk breaks the format. The kind names the
// rule broken, so the reason is what was found.
func (r *chunkResult) formatError(file string, kind ErrorKind, p *evtx.FormatError) {
	r.addError(DecodeError{File: file, Kind: kind, Offset: p.Offset, Chunk: p.Chunk, RecordID: p.RecordID, Reason: p.Detail, Err: p})
}

// A chunkDecoder reads the records of a checked chunk: it counts every
// record in the census, turns process creations and exits into
// ProcessEvents, and reports every record it could not read. A decoder is
// used by one goroutine at a time and may keep buffers between chunks; it
// must not keep c.Data.
type chunkDecoder interface {
	Decode(c *chunk, r *chunkResult)
}

// inspectChunk checks the slot data of file, read at offset as slot index,
// with evtx.ParseChunk (magic, checksums, truncation, the chain of records:
// the same whatever decoder reads the records) and counts what it found. It
// returns the chunk to decode, or nil when there is nothing to decode.
func inspectChunk(file string, data []byte, index int, offset int64, r *chunkResult) *chunk {
	r.Chunks.Slots = 1
	c, err := evtx.ParseChunk(data, index, offset)
	var p *evtx.FormatError
	if errors.As(err, &p) { // too short for a chunk's tables: nothing to walk
		r.Chunks.Truncated = 1
		r.Chunks.Failed = 1
		r.formatError(file, KindTruncated, p)
		return nil
	}
	if c.Zero {
		r.Chunks.Empty = 1
		r.zero = true
		return nil
	}
	stopped := false
	for _, p := range c.Problems {
		kind := KindRecordWalk
		switch p.Err {
		case evtx.ErrTruncated:
			r.Chunks.Truncated = 1
			kind = KindTruncated
		case evtx.ErrChunkMagic:
			r.Chunks.BadMagic = 1
			kind = KindChunkMagic
		case evtx.ErrHeaderChecksum:
			r.Chunks.HeaderCRCFailures = 1
			kind = KindChunkHeader
		case evtx.ErrDataChecksum:
			r.Chunks.DataCRCFailures = 1
			kind = KindChunkData
		case evtx.ErrRecordChain:
			stopped = true
		}
		r.formatError(file, kind, p)
	}
	r.Records.Seen = uint64(len(c.Records))
	if len(c.Records) == 0 {
		// A chunk without records is empty only if nothing suggests
		// records were there and could not be read.
		if r.Chunks.BadMagic == 0 && r.Chunks.Truncated == 0 && !stopped {
			r.Chunks.Empty = 1
		} else {
			r.Chunks.Failed = 1
		}
		return nil
	}
	return &chunk{Chunk: c, file: file}
}
