package evtxwrite

import (
	"bytes"
	"fmt"
	"hash/crc32"

	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

// Damage done to a whole file's bytes, as real evidence shows it. Each helper
// changes b in place (or returns a shorter slice) and keeps everything else
// consistent, so that one kind of damage is tested at a time.

func chunkAt(b []byte, chunk int) ([]byte, error) {
	off := evtx.FileHeaderSize + chunk*evtx.ChunkSize
	if chunk < 0 || off+evtx.ChunkTablesEnd > len(b) {
		return nil, fmt.Errorf("evtxwrite: no chunk %d in %d bytes", chunk, len(b))
	}
	return b[off:min(off+evtx.ChunkSize, len(b))], nil
}

// ChunkRecords is the number of records a chunk's header says it holds.
func ChunkRecords(b []byte, chunk int) (uint64, error) {
	c, err := chunkAt(b, chunk)
	if err != nil {
		return 0, err
	}
	first, last := le.Uint64(c[8:]), le.Uint64(c[16:])
	if !bytes.HasPrefix(c, []byte(evtx.ChunkMagic)) || last < first {
		return 0, fmt.Errorf("evtxwrite: chunk %d has no records", chunk)
	}
	return last - first + 1, nil
}

// FixChunkCRC sets a chunk's checksums to what its bytes say: the records'
// (when the header's free space offset lies inside the chunk) and the
// header's. A chunk changed on purpose then fails no checksum.
func FixChunkCRC(b []byte, chunk int) error {
	c, err := chunkAt(b, chunk)
	if err != nil {
		return err
	}
	if len(c) < evtx.ChunkSize {
		return fmt.Errorf("evtxwrite: chunk %d is cut short", chunk)
	}
	if free := le.Uint32(c[48:]); free >= evtx.ChunkTablesEnd && free <= evtx.ChunkSize {
		le.PutUint32(c[52:], crc32.ChecksumIEEE(c[evtx.ChunkTablesEnd:free]))
	}
	le.PutUint32(c[124:], evtx.ChunkHeaderChecksum(c))
	return nil
}

// MarkDirty flags the file dirty, as a log copied while open, and leaves the
// header's chunk count at staleChunks, with a correct header checksum.
func MarkDirty(b []byte, staleChunks uint16) {
	le.PutUint32(b[120:], le.Uint32(b[120:])|1)
	le.PutUint16(b[42:], staleChunks)
	le.PutUint64(b[16:], uint64(max(staleChunks, 1)-1))
	le.PutUint32(b[124:], crc32.ChecksumIEEE(b[:120]))
}

// BreakChunkCRC makes a chunk's stored record checksum wrong.
func BreakChunkCRC(b []byte, chunk int) error {
	c, err := chunkAt(b, chunk)
	if err != nil {
		return err
	}
	le.PutUint32(c[52:], ^le.Uint32(c[52:]))
	le.PutUint32(c[124:], evtx.ChunkHeaderChecksum(c))
	return nil
}

// ZeroChunk wipes a chunk, as an unallocated slot or a wiped range.
func ZeroChunk(b []byte, chunk int) error {
	c, err := chunkAt(b, chunk)
	if err != nil {
		return err
	}
	clear(c)
	return nil
}

// GarbleRecord overwrites the content of the n-th record of a chunk (from 0)
// with bytes that are not binary XML, keeping its framing, and fixes the
// checksums: only a decoder can notice. It returns the record's id.
func GarbleRecord(b []byte, chunk, n int) (uint64, error) {
	c, err := chunkAt(b, chunk)
	if err != nil {
		return 0, err
	}
	off := evtx.ChunkTablesEnd
	for i := 0; ; i++ {
		if off+evtx.RecordHeaderLen > len(c) || string(c[off:off+4]) != string(evtx.RecordMagic) {
			return 0, fmt.Errorf("evtxwrite: chunk %d has no record %d", chunk, n)
		}
		size := int(le.Uint32(c[off+4:]))
		if i == n {
			for j := off + evtx.RecordHeaderLen; j < off+size-4; j++ {
				c[j] = 0xab
			}
			free := le.Uint32(c[48:])
			le.PutUint32(c[52:], crc32.ChecksumIEEE(c[evtx.ChunkTablesEnd:free]))
			le.PutUint32(c[124:], evtx.ChunkHeaderChecksum(c))
			return le.Uint64(c[off+8:]), nil
		}
		off += size
	}
}

// TruncateInChunk cuts the file keep bytes into the given chunk, as a copy
// that stopped early.
func TruncateInChunk(b []byte, chunk, keep int) []byte {
	return b[:min(len(b), evtx.FileHeaderSize+chunk*evtx.ChunkSize+keep)]
}
