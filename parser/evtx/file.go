package evtx

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"iter"
)

// FileHeader is the first 128 bytes of an EVTX file. It is reported, never
// trusted: the chunk count and the dirty flag are stale in a log copied
// while Windows was writing it.
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

// Flags of FileHeader.Flags.
const (
	FlagDirty = 1 // the log was not closed cleanly: the header may be stale
	FlagFull  = 2 // the log reached its maximum size
)

// ParseFileHeader decodes the file header from the first bytes of a file
// (FileHeaderLen of them at least). A header whose checksum fails is still
// decoded, with ChecksumOK false; a wrong magic or too few bytes is a
// *FormatError for ErrNotEVTX.
func ParseFileHeader(b []byte) (FileHeader, error) {
	if len(b) < FileHeaderLen {
		return FileHeader{}, &FormatError{Chunk: -1, Err: ErrNotEVTX,
			Detail: fmt.Sprintf("%d bytes, shorter than the %d-byte file header", len(b), FileHeaderLen)}
	}
	if string(b[:8]) != FileMagic {
		return FileHeader{}, &FormatError{Chunk: -1, Err: ErrNotEVTX, Detail: fmt.Sprintf("file magic is %q, want %q", b[:8], FileMagic)}
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
	h.Dirty = h.Flags&FlagDirty != 0
	h.Full = h.Flags&FlagFull != 0
	h.ChecksumOK = crc32.ChecksumIEEE(b[:120]) == le.Uint32(b[124:])
	return h, nil
}

// ChunkSlots is the number of chunk slots in a file of the given size, the
// last one cut short when the size says so.
func ChunkSlots(size int64) int {
	if size <= FileHeaderSize {
		return 0
	}
	return int((size - FileHeaderSize + ChunkSize - 1) / ChunkSize)
}

// A File is an EVTX file open for reading.
type File struct {
	Header FileHeader
	r      io.ReaderAt
	size   int64
}

// NewFile reads the header of the EVTX file of the given size held in r.
// The file's chunks are read when asked for.
func NewFile(r io.ReaderAt, size int64) (*File, error) {
	head := make([]byte, min(FileHeaderLen, max(size, 0)))
	if n, err := r.ReadAt(head, 0); n < len(head) {
		return nil, fmt.Errorf("evtx: reading the file header: %d of %d bytes: %w", n, len(head), cmp.Or(err, io.ErrUnexpectedEOF))
	}
	h, err := ParseFileHeader(head)
	if err != nil {
		return nil, err
	}
	return &File{Header: h, r: r, size: size}, nil
}

// NumChunks is the number of chunk slots the file's size holds, whatever
// its header says.
func (f *File) NumChunks() int { return ChunkSlots(f.size) }

// Chunk reads and parses chunk slot i. A slot the file ends inside is parsed
// for what it holds.
func (f *File) Chunk(i int) (*Chunk, error) {
	if i < 0 || i >= f.NumChunks() {
		return nil, fmt.Errorf("evtx: no chunk %d in a file of %d", i, f.NumChunks())
	}
	off := FileHeaderSize + int64(i)*ChunkSize
	data := make([]byte, min(ChunkSize, f.size-off))
	n, err := f.r.ReadAt(data, off)
	if n < len(data) && err != io.EOF { // at EOF, the slot is parsed for what it holds
		return nil, fmt.Errorf("evtx: reading chunk %d: %d of %d bytes: %w", i, n, len(data), cmp.Or(err, io.ErrUnexpectedEOF))
	}
	return ParseChunk(data[:n], i, off)
}

// Chunks reads the file's chunk slots in order. A slot that cannot be read
// or parsed yields its error and the next slot follows.
func (f *File) Chunks() iter.Seq2[*Chunk, error] {
	return func(yield func(*Chunk, error) bool) {
		for i := range f.NumChunks() {
			if !yield(f.Chunk(i)) {
				return
			}
		}
	}
}
