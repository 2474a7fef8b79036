package parser

import (
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"
)

var le = binary.LittleEndian

// testFileHeader builds a 4096-byte file header block.
func testFileHeader(chunks uint16, flags uint32) []byte {
	b := make([]byte, FileHeaderSize)
	copy(b, FileMagic)
	le.PutUint64(b[16:], uint64(chunks)-1)
	le.PutUint64(b[24:], 100)
	le.PutUint32(b[32:], 128)
	le.PutUint16(b[36:], 1)
	le.PutUint16(b[38:], 3)
	le.PutUint16(b[40:], FileHeaderSize)
	le.PutUint16(b[42:], chunks)
	le.PutUint32(b[120:], flags)
	le.PutUint32(b[124:], crc32.ChecksumIEEE(b[:120]))
	return b
}

// testRecord builds a record framing around an opaque body (not binary XML).
func testRecord(id uint64, body []byte) []byte {
	size := RecordHeaderLen + len(body) + 4
	b := make([]byte, size)
	copy(b, RecordMagic)
	le.PutUint32(b[4:], uint32(size))
	le.PutUint64(b[8:], id)
	copy(b[RecordHeaderLen:], body)
	le.PutUint32(b[size-4:], uint32(size))
	return b
}

// testChunk builds a chunk holding the given records, with correct checksums.
func testChunk(firstID uint64, records ...[]byte) []byte {
	b := make([]byte, ChunkSize)
	copy(b, ChunkMagic)
	off := ChunkTablesEnd
	last := off
	for _, r := range records {
		last = off
		off += copy(b[off:], r)
	}
	le.PutUint64(b[8:], firstID)
	le.PutUint64(b[16:], firstID+uint64(len(records))-1)
	le.PutUint64(b[24:], firstID)
	le.PutUint64(b[32:], firstID+uint64(len(records))-1)
	le.PutUint32(b[40:], chunkHeaderLen)
	le.PutUint32(b[44:], uint32(last))
	le.PutUint32(b[48:], uint32(off))
	le.PutUint32(b[52:], crc32.ChecksumIEEE(b[ChunkTablesEnd:off]))
	le.PutUint32(b[124:], ChunkHeaderChecksum(b))
	return b
}

func TestParseFileHeader(t *testing.T) {
	h, err := parseFileHeader(testFileHeader(3, 1))
	if err != nil {
		t.Fatal(err)
	}
	if h.ChunkCount != 3 || h.LastChunk != 2 || h.NextRecordID != 100 || h.MajorVersion != 3 || h.MinorVersion != 1 || !h.Dirty || h.Full || !h.ChecksumOK {
		t.Errorf("header = %+v", h)
	}
	b := testFileHeader(3, 0)
	b[30] ^= 0xff
	if h, _ := parseFileHeader(b); h.ChecksumOK {
		t.Error("a changed header byte still passes its checksum")
	}
	for _, bad := range [][]byte{[]byte("MZ\x90\x00"), append([]byte("ElfFile\x01"), make([]byte, 200)...)} {
		if _, err := parseFileHeader(bad); err == nil || !strings.Contains(err.Error(), "not an EVTX file") {
			t.Errorf("parseFileHeader(%q...) error = %v, want not an EVTX file", bad[:4], err)
		}
	}
}

func TestWalkRecords(t *testing.T) {
	chunk := testChunk(7, testRecord(7, []byte("first")), testRecord(8, make([]byte, 100)), testRecord(9, nil))
	h := parseChunkHeader(chunk)
	refs, stop := walkRecords(chunk, recordsEnd(h, len(chunk)), nil)
	if stop != nil {
		t.Fatalf("stop = %+v", stop)
	}
	want := []RecordRef{{512, 33, 7, 33}, {545, 128, 8, 128}, {673, 28, 9, 28}}
	if len(refs) != len(want) {
		t.Fatalf("refs = %+v, want %+v", refs, want)
	}
	for i := range want {
		if refs[i] != want[i] {
			t.Errorf("refs[%d] = %+v, want %+v", i, refs[i], want[i])
		}
	}

	// Past the free space offset the walk reads until the bytes stop being
	// records: garbage is reported with its offset, zeros are not.
	refs, stop = walkRecords(chunk, len(chunk), nil)
	if len(refs) != 3 || stop != nil {
		t.Errorf("zero padding: %d refs, stop %+v", len(refs), stop)
	}
	copy(chunk[701:], "garbage")
	refs, stop = walkRecords(chunk, len(chunk), nil)
	if len(refs) != 3 || stop == nil || stop.offset != 701 || !strings.Contains(stop.reason, "bad record magic") {
		t.Errorf("garbage: %d refs, stop %+v", len(refs), stop)
	}

	// A size that runs off the chunk stops the walk; a torn trailer does not.
	big := testChunk(1, testRecord(1, nil))
	le.PutUint32(big[ChunkTablesEnd+4:], ChunkSize)
	if refs, stop := walkRecords(big, len(big), nil); len(refs) != 0 || stop == nil || !strings.Contains(stop.reason, "does not fit") {
		t.Errorf("oversized record: %d refs, stop %+v", len(refs), stop)
	}
	torn := testChunk(1, testRecord(1, nil), testRecord(2, nil))
	le.PutUint32(torn[ChunkTablesEnd+24:], 0)
	refs, stop = walkRecords(torn, recordsEnd(parseChunkHeader(torn), len(torn)), nil)
	if len(refs) != 2 || stop != nil || refs[0].Trailer != 0 || refs[1].Trailer != 28 {
		t.Errorf("torn trailer: refs %+v, stop %+v", refs, stop)
	}
}

func TestInspectChunk(t *testing.T) {
	good := testChunk(1, testRecord(1, nil), testRecord(2, nil))
	cases := []struct {
		name       string
		data       []byte
		decodable  bool
		counts     ChunkCounts
		seen       uint64
		errorKinds []ErrorKind
	}{
		{"good", good, true, ChunkCounts{Slots: 1}, 2, nil},
		{"zero slot", make([]byte, ChunkSize), false, ChunkCounts{Slots: 1, Empty: 1}, 0, nil},
		{"no records", testChunk(1), false, ChunkCounts{Slots: 1, Empty: 1}, 0, nil},
		{"bad magic keeps records", func() []byte { b := clone(good); copy(b, "XXXXXXXX"); return b }(), true,
			ChunkCounts{Slots: 1, BadMagic: 1, HeaderCRCFailures: 1}, 2, []ErrorKind{ErrChunkMagic, ErrChunkHeader}},
		{"header CRC", func() []byte { b := clone(good); b[20]++; return b }(), true,
			ChunkCounts{Slots: 1, HeaderCRCFailures: 1}, 2, []ErrorKind{ErrChunkHeader}},
		{"data CRC", func() []byte { b := clone(good); b[ChunkTablesEnd+12]++; return b }(), true,
			ChunkCounts{Slots: 1, DataCRCFailures: 1}, 2, []ErrorKind{ErrChunkData}},
		{"truncated", good[:600], true, ChunkCounts{Slots: 1, Truncated: 1}, 2, []ErrorKind{ErrTruncated}},
		{"truncated inside tables", good[:300], false, ChunkCounts{Slots: 1, Truncated: 1, Failed: 1}, 0, []ErrorKind{ErrTruncated}},
		{"torn trailer", func() []byte { b := clone(good); le.PutUint32(b[ChunkTablesEnd+24:], 0); return b }(), true,
			ChunkCounts{Slots: 1, DataCRCFailures: 1}, 2, []ErrorKind{ErrChunkData, ErrRecordWalk}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &Chunk{File: "x.evtx", Index: 2, Offset: FileHeaderSize + 2*ChunkSize, Data: tc.data}
			var r ChunkResult
			r.reset()
			if got := inspectChunk(c, &r); got != tc.decodable {
				t.Errorf("decodable = %v, want %v", got, tc.decodable)
			}
			if r.Chunks != tc.counts {
				t.Errorf("counts = %+v, want %+v", r.Chunks, tc.counts)
			}
			if r.Records.Seen != tc.seen {
				t.Errorf("seen = %d, want %d", r.Records.Seen, tc.seen)
			}
			var kinds []ErrorKind
			for _, e := range r.Errors {
				kinds = append(kinds, e.Kind)
				if e.File != "x.evtx" || e.Chunk != 2 || e.Offset < c.Offset || e.Offset >= c.Offset+ChunkSize || e.Reason == "" {
					t.Errorf("error lacks context: %+v", e)
				}
			}
			if strings.Join(kindStrings(kinds), ",") != strings.Join(kindStrings(tc.errorKinds), ",") {
				t.Errorf("errors = %v, want kinds %v", r.Errors, tc.errorKinds)
			}
		})
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func kindStrings(k []ErrorKind) []string {
	s := make([]string, len(k))
	for i := range k {
		s[i] = string(k[i])
	}
	return s
}
