package evtxwrite_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/evtxhunt/evtxhunt/parser/evtx"
	"github.com/evtxhunt/evtxhunt/parser/evtxwrite"
	"github.com/evtxhunt/evtxhunt/parser/evtxwrite/readers"
)

// TestSampleThreeReaders: every record of the sample comes out of
// evtxexport, python-evtx and golang-evtx, field for field as written.
func TestSampleThreeReaders(t *testing.T) {
	evs, b := writeSample(t)
	path := filepath.Join(t.TempDir(), "sample.evtx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	written := map[uint64]*evtxwrite.Event{}
	for i, ev := range evs {
		written[sampleFirstID+uint64(i)] = ev
	}
	for _, r := range readers.All() {
		t.Run(r.Name, func(t *testing.T) {
			t.Parallel()
			r.SkipIfMissing(t)
			recs, err := r.Read(path)
			if err != nil {
				t.Fatalf("%d records, then %v", len(recs), err)
			}
			r.Check(t, recs, written, len(evs))
		})
	}
}

// TestDamagedThreeReaders: a log damaged as evidence is (dirty header with
// a stale chunk count, a chunk whose checksum fails, a wiped chunk, a copy
// cut short in its last chunk) still gives each reader every record of the
// chunks the damage left whole, as written; a garbled record stops each
// reader there, after every record before it, as written.
func TestDamagedThreeReaders(t *testing.T) {
	evs, clean := writeSample(t)
	chunks := (len(clean) - evtx.FileHeaderSize) / evtx.ChunkSize
	idsOf := func(chunk int) (first, last uint64) {
		c := clean[evtx.FileHeaderSize+chunk*evtx.ChunkSize:]
		return binary.LittleEndian.Uint64(c[24:]), binary.LittleEndian.Uint64(c[32:])
	}
	written := func(lost func(id uint64) bool) (map[uint64]*evtxwrite.Event, int) {
		m := map[uint64]*evtxwrite.Event{}
		kept := 0
		for i, ev := range evs {
			id := sampleFirstID + uint64(i)
			m[id] = ev
			if !lost(id) {
				kept++
			}
		}
		return m, kept
	}

	damaged := append([]byte(nil), clean...)
	evtxwrite.MarkDirty(damaged, 2)
	if err := evtxwrite.BreakChunkCRC(damaged, 1); err != nil {
		t.Fatal(err)
	}
	if err := evtxwrite.ZeroChunk(damaged, 2); err != nil {
		t.Fatal(err)
	}
	damaged = evtxwrite.TruncateInChunk(damaged, chunks-1, 3000)
	wipedFirst, wipedLast := idsOf(2)
	cutFirst, _ := idsOf(chunks - 1)
	damagedWant, damagedKept := written(func(id uint64) bool { return id >= wipedFirst && id <= wipedLast || id >= cutFirst })

	garbled := append([]byte(nil), clean...)
	garbledID, err := evtxwrite.GarbleRecord(garbled, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	garbledWant, garbledKept := written(func(id uint64) bool { return id >= garbledID })

	dir := t.TempDir()
	for _, f := range []struct {
		name   string
		b      []byte
		want   map[uint64]*evtxwrite.Event
		kept   int
		refuse bool // the reader stops with an error
	}{
		{"damaged", damaged, damagedWant, damagedKept, false},
		{"garbled", garbled, garbledWant, garbledKept, true},
	} {
		path := filepath.Join(dir, f.name+".evtx")
		if err := os.WriteFile(path, f.b, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, r := range readers.All() {
			t.Run(f.name+"/"+r.Name, func(t *testing.T) {
				t.Parallel()
				r.SkipIfMissing(t)
				recs, err := r.Read(path)
				if (err != nil) != f.refuse {
					t.Errorf("%d records, error %v", len(recs), err)
				}
				r.Check(t, recs, f.want, f.kept)
			})
		}
	}
}
