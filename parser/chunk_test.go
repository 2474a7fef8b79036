package parser

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"github.com/evtxhunt/evtxhunt/parser/evtx"
	"github.com/evtxhunt/evtxhunt/parser/internal/evtxtest"
)

var le = binary.LittleEndian

// TestInspectChunk: each kind of framing damage is counted in the chunk's
// counts and reported with its kind and place, and the chunk goes on to a
// decoder only when records were found.
func TestInspectChunk(t *testing.T) {
	good := evtxtest.Chunk(1, evtxtest.Record(1, nil), evtxtest.Record(2, nil))
	cases := []struct {
		name       string
		data       []byte
		decodable  bool
		counts     ChunkCounts
		seen       uint64
		errorKinds []ErrorKind
	}{
		{"good", good, true, ChunkCounts{Slots: 1}, 2, nil},
		{"zero slot", make([]byte, evtx.ChunkSize), false, ChunkCounts{Slots: 1, Empty: 1}, 0, nil},
		{"no records", evtxtest.Chunk(1), false, ChunkCounts{Slots: 1, Empty: 1}, 0, nil},
		{"bad magic keeps records", func() []byte { b := slices.Clone(good); copy(b, "XXXXXXXX"); return b }(), true,
			ChunkCounts{Slots: 1, BadMagic: 1, HeaderCRCFailures: 1}, 2, []ErrorKind{KindChunkMagic, KindChunkHeader}},
		{"header CRC", func() []byte { b := slices.Clone(good); b[20]++; return b }(), true,
			ChunkCounts{Slots: 1, HeaderCRCFailures: 1}, 2, []ErrorKind{KindChunkHeader}},
		{"data CRC", func() []byte { b := slices.Clone(good); b[evtx.ChunkTablesEnd+12]++; return b }(), true,
			ChunkCounts{Slots: 1, DataCRCFailures: 1}, 2, []ErrorKind{KindChunkData}},
		{"truncated", good[:600], true, ChunkCounts{Slots: 1, Truncated: 1}, 2, []ErrorKind{KindTruncated}},
		{"truncated inside tables", good[:300], false, ChunkCounts{Slots: 1, Truncated: 1, Failed: 1}, 0, []ErrorKind{KindTruncated}},
		{"torn trailer", func() []byte { b := slices.Clone(good); le.PutUint32(b[evtx.ChunkTablesEnd+24:], 0); return b }(), true,
			ChunkCounts{Slots: 1, DataCRCFailures: 1}, 2, []ErrorKind{KindChunkData, KindRecordWalk}},
		{"chain broken at its first record", func() []byte { b := slices.Clone(good); b[evtx.ChunkTablesEnd] = 'X'; return b }(), false,
			ChunkCounts{Slots: 1, DataCRCFailures: 1, Failed: 1}, 0, []ErrorKind{KindChunkData, KindRecordWalk}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const at = evtx.FileHeaderSize + 2*evtx.ChunkSize
			var r chunkResult
			r.reset()
			c := inspectChunk("x.evtx", tc.data, 2, at, &r)
			if got := c != nil; got != tc.decodable {
				t.Errorf("decodable = %v, want %v", got, tc.decodable)
			}
			if c != nil && (c.file != "x.evtx" || c.Index != 2 || c.Offset != at || len(c.Records) != int(tc.seen)) {
				t.Errorf("chunk %s %d at 0x%x, %d records", c.file, c.Index, c.Offset, len(c.Records))
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
				if e.File != "x.evtx" || e.Chunk != 2 || e.Offset < at || e.Offset >= at+evtx.ChunkSize || e.Reason == "" || e.Err == nil {
					t.Errorf("error lacks context: %+v", e)
				}
			}
			if strings.Join(kindStrings(kinds), ",") != strings.Join(kindStrings(tc.errorKinds), ",") {
				t.Errorf("errors = %v, want kinds %v", r.Errors, tc.errorKinds)
			}
		})
	}
}

func kindStrings(k []ErrorKind) []string {
	s := make([]string, len(k))
	for i := range k {
		s[i] = string(k[i])
	}
	return s
}
