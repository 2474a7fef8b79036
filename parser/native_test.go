package parser

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unicode/utf16"

	"github.com/evtxhunt/evtxhunt/parser/evidence"
	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

// firstChunks reads the first chunk slot of each generated evidence file.
func firstChunks(t testing.TB) [][]byte {
	files, _ := evidence.Find([]string{"../testdata/evidence"})
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for off := evtx.FileHeaderSize; off+evtx.ChunkSize <= len(b) && off < evtx.FileHeaderSize+3*evtx.ChunkSize; off += evtx.ChunkSize {
			out = append(out, b[off:off+evtx.ChunkSize])
		}
	}
	return out
}

// TestNativeSkipsWithoutAllocating: once a chunk's templates are compiled,
// a record that is not a process event costs no allocation.
func TestNativeSkipsWithoutAllocating(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("../testdata/evidence/SRV01/C/Windows/System32/winevt/Logs/Security.evtx"))
	if err != nil {
		t.Fatal(err)
	}
	var r chunkResult
	r.reset()
	c := inspectChunk("Security.evtx", b[evtx.FileHeaderSize:evtx.FileHeaderSize+evtx.ChunkSize], 0, evtx.FileHeaderSize, &r)
	if c == nil {
		t.Fatal("no records")
	}
	d := newNativeDecoder(nil)
	for _, ref := range c.Records { // compile templates, fill caches
		if err := d.record(c, ref, &r); err != nil {
			t.Fatal(err)
		}
	}
	if len(r.Events) != 0 {
		t.Fatalf("SRV01's Security log holds no process events, got %d", len(r.Events))
	}
	allocs := testing.AllocsPerRun(20, func() {
		for _, ref := range c.Records {
			d.record(c, ref, &r)
		}
	})
	if perRecord := allocs / float64(len(c.Records)); perRecord != 0 {
		t.Errorf("%.3f allocations per skipped record", perRecord)
	}

	// The next chunk finds its templates compiled, checks each against its
	// own definition, and allocates nothing either.
	next := inspectChunk("Security.evtx", b[evtx.FileHeaderSize+evtx.ChunkSize:evtx.FileHeaderSize+2*evtx.ChunkSize], 1, evtx.FileHeaderSize+evtx.ChunkSize, &r)
	if next == nil {
		t.Fatal("no records in chunk 1")
	}
	d.Decode(next, &r)
	if r.Chunks.Decoded != 1 || r.Chunks.Fallback != 0 {
		t.Fatalf("chunk 1: %+v", r.Chunks)
	}
	if allocs := testing.AllocsPerRun(20, func() { d.Decode(next, &r) }); allocs != 0 {
		t.Errorf("%.1f allocations decoding a chunk whose templates are known", allocs)
	}
}

// FuzzNativeDecoder feeds chunks, real and mutated, to the native decoder
// alone: it must never panic, only refuse.
func FuzzNativeDecoder(f *testing.F) {
	// Seeds are cut to their first records: the fuzzer mutates small
	// inputs far faster, and a short chunk reads as a truncated one.
	for _, c := range firstChunks(f) {
		f.Add(c[:6144])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > evtx.ChunkSize {
			data = data[:evtx.ChunkSize]
		}
		var r chunkResult
		r.reset()
		if c := inspectChunk("fuzz", data, 0, 0, &r); c != nil {
			newNativeDecoder(nil).Decode(c, &r)
		}
		if r.Records.Decoded+r.Records.Failed > r.Records.Seen {
			t.Errorf("decoded %d + failed %d > seen %d", r.Records.Decoded, r.Records.Failed, r.Records.Seen)
		}
	})
}

func TestUTF16String(t *testing.T) {
	var d nativeDecoder
	for _, s := range []string{"", "plain ascii", "résumé ü 日本", "emoji 😀 pair", "nul\x00inside"} {
		u := utf16.Encode([]rune(s))
		b := make([]byte, 2*len(u)+4) // with two trailing NULs
		for i, c := range u {
			binary.LittleEndian.PutUint16(b[2*i:], c)
		}
		if got := d.utf16String(b); got != s {
			t.Errorf("utf16String(%q) = %q", s, got)
		}
	}
	lone := []byte{0x00, 0xd8, 'a', 0} // a high surrogate alone, then 'a'
	if got, want := d.utf16String(lone), string(utf16.Decode([]uint16{0xd800, 'a'})); got != want {
		t.Errorf("lone surrogate: %q, want %q", got, want)
	}
}

// TestNativePanicFallsBack: a panic in the native decoder (one is injected:
// a cache it writes to is missing) hands the chunk to golang-evtx like any
// chunk it refuses, so that no record is lost; the decoder then starts
// afresh and reads the next chunk itself.
func TestNativePanicFallsBack(t *testing.T) {
	b, err := os.ReadFile("../testdata/evidence/WKS01/C/Windows/System32/winevt/Logs/Security.evtx")
	if err != nil {
		t.Fatal(err)
	}
	read := func(i int) (*chunk, *chunkResult) {
		off := evtx.FileHeaderSize + i*evtx.ChunkSize
		r := &chunkResult{}
		r.reset()
		c := inspectChunk("Security.evtx", b[off:off+evtx.ChunkSize], i, int64(off), r)
		if c == nil {
			t.Fatalf("chunk %d: no records", i)
		}
		return c, r
	}
	c, want := read(0)
	newNativeDecoder(nil).Decode(c, want)
	if want.Chunks.Decoded != 1 || len(want.Events) == 0 {
		t.Fatalf("chunk 0 read alone: %+v, %d events", want.Chunks, len(want.Events))
	}

	iso, err := Isolation{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	golang := newChildDecoder(context.Background(), iso, nil)
	defer golang.close()
	d := newNativeDecoder(golang)
	d.templates = nil // the decoder's first write to it panics
	c, r := read(0)
	decodeGuarded(c.file, slot{c.Index, c.Offset}, r, func() { d.Decode(c, r) })
	if r.Chunks != (ChunkCounts{Slots: 1, Decoded: 1, Fallback: 1}) || r.Records != want.Records || len(r.Errors) != 0 {
		t.Errorf("chunks %+v, records %+v, errors %v; want the chunk read by golang-evtx", r.Chunks, r.Records, r.Errors)
	}
	if !reflect.DeepEqual(r.Events, want.Events) || !reflect.DeepEqual(r.Census, want.Census) {
		t.Errorf("%d events, census %v; want %d events, census %v", len(r.Events), r.Census, len(want.Events), want.Census)
	}

	c, r = read(1)
	d.Decode(c, r)
	if r.Chunks != (ChunkCounts{Slots: 1, Decoded: 1}) || len(r.Events) == 0 {
		t.Errorf("the next chunk: %+v, %d events; want it read by the native decoder", r.Chunks, len(r.Events))
	}
}
