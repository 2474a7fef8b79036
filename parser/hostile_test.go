package parser

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/evtxhunt/evtxhunt/internal/testevidence"
	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

// The crafted files of testdata/hostile, written by cmd/evtxgen -hostile
// with their manifest (testevidence.Hostile).
const hostileDir = "../testdata/hostile"

// hostileErrors says how each crafted file's hostile chunks must be
// reported: the kind of error and what its reason must say. Files crafted
// to hide or plant records, not to break the reader, have no error.
var hostileErrors = map[string]struct {
	kind ErrorKind
	why  []string // any of these
}{
	// golang-evtx recurses until its stack limit aborts its process.
	"self-referencing-template.evtx": {KindChild, []string{`"fatal error: stack overflow"`}},
	// golang-evtx loops, allocating, until its memory limit aborts its
	// process or, where there is no such limit, its time runs out.
	"negative-template-size.evtx": {KindChild, []string{`"fatal error: out of memory`, `"fatal error: runtime: cannot allocate memory"`, "exceeded"}},
	// golang-evtx fails the record with a message per descriptor.
	"many-value-descriptors.evtx": {KindRecord, []string{"and more messages, not kept"}},
	// Zeros where Windows never leaves any: before a chunk in use.
	"wiped-chunk.evtx": {KindWipedChunk, []string{"chunk slot 0 is all zeros, inside the header's count of 2 chunks and before chunk 1, which holds records: wiped"}},

	"cleared-first.evtx":         {},
	"planted-template.evtx":      {},
	"planted-name.evtx":          {},
	"planted-conflict.evtx":      {},
	"pid-reuse-after-child.evtx": {},
}

// TestScanHostileFiles scans each crafted file with each decoder: the scan
// ends, the hostile chunks are failed (or found wiped) and reported once
// with their offset (the same error in another chunk counted on the first),
// every record of the other chunks is decoded, and every process creation
// among them is found. A file with no hostile chunk is read without error.
func TestScanHostileFiles(t *testing.T) {
	facts := testevidence.LoadHostile(t).ByFile()
	if len(facts) != len(hostileErrors) {
		t.Fatalf("the manifest lists %d files, the test knows %d", len(facts), len(hostileErrors))
	}
	for _, decoder := range []string{DecoderNative, DecoderGolangEvtx} {
		for name, want := range hostileErrors {
			t.Run(decoder+"/"+name, func(t *testing.T) {
				f, ok := facts[name]
				if !ok {
					t.Fatalf("not in the manifest")
				}
				path := filepath.Join(hostileDir, name)
				var events uint64
				stats, err := NewScanner(Options{Decoder: decoder, Workers: 2}).Scan(context.Background(), []string{path}, func(ev *ProcessEvent) error {
					for _, h := range f.HostileChunks {
						if ev.Chunk == h.Index {
							t.Errorf("an event from hostile chunk %d: %+v", h.Index, ev)
						}
					}
					if ev.Source == SourceSecurity4688 {
						events++
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				s := stats[0]
				if events != f.ProcessEvents || s.ProcessEvents[SourceSecurity4688] != f.ProcessEvents {
					t.Errorf("%d process creations emitted, %d counted; the other chunks hold %d", events, s.ProcessEvents[SourceSecurity4688], f.ProcessEvents)
				}
				if s.Records.Decoded != f.Records || s.Records.Failed != s.Records.Seen-f.Records {
					t.Errorf("records %+v, want the %d outside the hostile chunks decoded and the rest failed", s.Records, f.Records)
				}
				hostile := len(f.HostileChunks)
				if want.kind == "" {
					if hostile != 0 || !s.Clean() || s.Chunks.Decoded != s.Chunks.Slots {
						t.Errorf("chunks %+v, errors %v: want all read, no error", s.Chunks, s.Errors)
					}
					return
				}
				failed, wiped := hostile, 0
				if want.kind == KindWipedChunk {
					failed, wiped = 0, hostile
				}
				if s.Chunks.Failed != failed || s.Chunks.Wiped != wiped || s.Chunks.Decoded != s.Chunks.Slots-hostile {
					t.Errorf("chunks %+v, want %d failed and %d wiped", s.Chunks, failed, wiped)
				}
				if len(s.Errors) != 1 || s.ErrorCount != hostile {
					t.Fatalf("%d errors listed, %d counted, want 1 and %d: %v", len(s.Errors), s.ErrorCount, hostile, s.Errors)
				}
				e := s.Errors[0]
				first, last := f.HostileChunks[0], f.HostileChunks[hostile-1]
				if e.Kind != want.kind || e.Chunk != first.Index || e.Offset < first.Offset || e.Offset >= first.Offset+evtx.ChunkSize || e.Repeats != hostile-1 {
					t.Errorf("error %+v, want %s in chunk %d at 0x%x, %d repeats", e, want.kind, first.Index, first.Offset, hostile-1)
				}
				if hostile > 1 && (e.LastOffset < last.Offset || e.LastOffset >= last.Offset+evtx.ChunkSize) {
					t.Errorf("last repeat at 0x%x, want in chunk %d at 0x%x", e.LastOffset, last.Index, last.Offset)
				}
				if len(e.Reason) > maxReasonLen || !utf8.ValidString(e.Reason) || !containsAny(e.Reason, want.why) {
					t.Errorf("reason of %d bytes, want one of %q: %s", len(e.Reason), want.why, e.Reason)
				}
			})
		}
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// TestChildMemoryLimit holds a child that allocates without end to its
// memory limit: with all the time in the world, it dies of it, fast.
func TestChildMemoryLimit(t *testing.T) {
	if runtime.GOOS != "linux" || raceBuild {
		t.Skip("the address space limit is Linux's RLIMIT_AS, off under the race detector; elsewhere the time limit ends the child")
	}
	f := testevidence.LoadHostile(t).ByFile()["negative-template-size.evtx"]
	path := filepath.Join(hostileDir, f.File)
	stats, err := NewScanner(Options{Decoder: DecoderGolangEvtx, Workers: 1, Isolation: Isolation{ChunkTimeout: time.Minute, MemoryLimit: 64 << 20}}).
		Scan(context.Background(), []string{path}, func(*ProcessEvent) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if errs := stats[0].Errors; len(errs) != 1 || !containsAny(errs[0].Reason, []string{`died (exit status 2): "fatal error: out of memory`, `died (exit status 2): "fatal error: runtime: cannot allocate memory"`}) {
		t.Errorf("errors %v, want the child dead of its memory limit", errs)
	}
}

// TestNativeRefusesHostileChunks gives the native decoder alone each
// hostile chunk: its own depth and size checks refuse them, without a
// loop and without handing them on.
func TestNativeRefusesHostileChunks(t *testing.T) {
	want := map[string]string{
		"self-referencing-template.evtx": "native decoder: token 0x0c inside an element",
		"negative-template-size.evtx":    "native decoder: template at 0x226: size -42 runs past the chunk",
		"many-value-descriptors.evtx":    "native decoder: substitution 16 (2 bytes) runs past its end",
	}
	facts := testevidence.LoadHostile(t).ByFile()
	for name := range want {
		f := facts[name]
		b, err := os.ReadFile(filepath.Join(hostileDir, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range f.HostileChunks {
			var r chunkResult
			r.reset()
			c := inspectChunk(name, b[h.Offset:h.Offset+evtx.ChunkSize], h.Index, h.Offset, &r)
			if c == nil {
				t.Fatalf("%s chunk %d: no records", name, h.Index)
			}
			newNativeDecoder(nil).Decode(c, &r)
			if r.Chunks.Failed != 1 || r.Chunks.Fallback != 1 || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Reason, want[name]) ||
				!errors.Is(&r.Errors[0], errNative) {
				t.Errorf("%s chunk %d: chunks %+v, errors %v; want %q", name, h.Index, r.Chunks, r.Errors, want[name])
			}
		}
	}
}
