// Package evtx reads the Windows XML Event Log format (EVTX, [MS-EVEN6]): the
// file header, the 64 KiB chunks that follow it, and the chain of records in
// each chunk, with every checksum the format keeps. It names the binary XML
// tokens and value types records are written in, for decoders of their
// content; it does not decode that content itself.
//
// Evidence is hostile, so nothing in a file is trusted beyond what it can be
// checked against: the header's chunk count and flags are stale in logs
// copied while in use, so every chunk slot up to the end of the file is read;
// a chunk whose magic or checksums are wrong is still walked for records; a
// record whose size disagrees with its trailer is still listed. What does not
// follow the format is reported as a *FormatError that says where and which
// rule was broken (errors.Is reaches ErrChunkMagic, ErrDataChecksum, ...).
//
// A file held in an io.ReaderAt is read with NewFile:
//
//	f, err := evtx.NewFile(r, size)
//	if err != nil {
//		return err // not an EVTX file
//	}
//	for c, err := range f.Chunks() {
//		if err != nil {
//			continue // this slot could not be read; the next may be
//		}
//		for _, p := range c.Problems {
//			log.Print(p) // a checksum, a magic, a broken chain...
//		}
//		for _, ref := range c.Records {
//			decode(c.Record(ref)) // header, binary XML, size trailer
//		}
//	}
//
// A reader that reads the chunk slots itself (to hash the file as it goes,
// or because they come from elsewhere: a disk image, carved space) parses the
// file header with ParseFileHeader and each slot with ParseChunk.
package evtx

import (
	"errors"
	"fmt"
)

// Layout of the format. Offsets inside a chunk are relative to the chunk's
// first byte.
const (
	FileHeaderSize  = 4096  // the file header block, padded
	FileHeaderLen   = 128   // the file header's fields, checksum included
	ChunkSize       = 65536 // every chunk slot
	ChunkHeaderLen  = 128   // the chunk header's fixed fields
	ChunkTablesEnd  = 512   // chunk header + string buckets + template buckets
	RecordHeaderLen = 24    // magic, size, record id, written time
	RecordMinLen    = RecordHeaderLen + 4
)

// Magic numbers that open a file, a chunk and a record.
const (
	FileMagic   = "ElfFile\x00"
	ChunkMagic  = "ElfChnk\x00"
	RecordMagic = "\x2a\x2a\x00\x00"
)

// The rules of the format a file can break. A *FormatError says which.
var (
	ErrNotEVTX        = errors.New("not an EVTX file")
	ErrTruncated      = errors.New("chunk cut short")
	ErrChunkMagic     = errors.New("bad chunk magic")
	ErrHeaderChecksum = errors.New("chunk header checksum mismatch")
	ErrDataChecksum   = errors.New("chunk records checksum mismatch")
	ErrRecordChain    = errors.New("record chain broken")
	ErrRecordTrailer  = errors.New("record size and trailer disagree")
)

// A FormatError is a place where a file does not follow the format.
type FormatError struct {
	Chunk    int    // slot number, from 0; -1 for the file header
	Offset   int64  // in the file, of the chunk or of the bytes at fault
	RecordID uint64 // of the record at fault; 0 when not one record's
	Detail   string // what was found there
	Err      error  // the rule broken: ErrNotEVTX, ErrTruncated, ...
}

func (e *FormatError) Error() string {
	if e.Chunk < 0 {
		return fmt.Sprintf("evtx: offset 0x%x: %v: %s", e.Offset, e.Err, e.Detail)
	}
	return fmt.Sprintf("evtx: chunk %d, offset 0x%x: %v: %s", e.Chunk, e.Offset, e.Err, e.Detail)
}

func (e *FormatError) Unwrap() error { return e.Err }
