package parser

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evtxhunt/evtxhunt/parser/evidence"
	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

// fakeOpener opens fakeSources by name, and keeps every one it opened.
type fakeOpener struct {
	mu      sync.Mutex
	sources map[string]*fakeSource
	opened  []string
}

func (o *fakeOpener) Open(name string) (evidence.Source, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s, ok := o.sources[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	o.opened = append(o.opened, name)
	return s, nil
}

// fakeSource is an evidence file in memory that misbehaves as told. Reads
// come from the scanner's reading and hashing goroutines.
type fakeSource struct {
	data []byte // nil: size zero bytes
	size int64  // what it holds and Stat says; len(data) when data is set

	failAt   map[int64]error // a read at this offset fails so
	shortAt  map[int64]int   // a read at this offset gives this many bytes and no error
	endAt    int64           // reads end here with io.EOF: the source shrank (0: no)
	statErrs []error         // the errors of the Stat calls in turn (nil: none)
	changed  bool            // Stat after the first says it grew
	onRead   func(off int64) // called before each read
	delay    time.Duration   // each read takes this long: a slow device

	mu          sync.Mutex
	stats       int
	read        int64 // bytes read
	readsAfter  int   // reads that began after stopAfter was set
	stopped     bool
	closes      int
	readsAtOffs []int64
}

func (s *fakeSource) Size() int64 {
	if s.data != nil {
		return int64(len(s.data))
	}
	return s.size
}

// stop marks the reads from now on, for a test of cancellation.
func (s *fakeSource) stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
}

func (s *fakeSource) ReadAt(p []byte, off int64) (int, error) {
	if s.onRead != nil {
		s.onRead(off)
	}
	time.Sleep(s.delay)
	s.mu.Lock()
	if s.stopped {
		s.readsAfter++
	}
	s.readsAtOffs = append(s.readsAtOffs, off)
	s.mu.Unlock()
	if err := s.failAt[off]; err != nil {
		return 0, err
	}
	end := s.Size()
	if s.endAt > 0 {
		end = s.endAt
	}
	if off >= end {
		return 0, io.EOF
	}
	n := min(int64(len(p)), end-off)
	if s.data != nil {
		copy(p, s.data[off:off+n])
	} else {
		clear(p[:n])
	}
	if short, ok := s.shortAt[off]; ok {
		n = int64(short)
	}
	s.mu.Lock()
	s.read += n
	s.mu.Unlock()
	if int(n) < len(p) && off+n >= end {
		return int(n), io.EOF
	}
	return int(n), nil
}

func (s *fakeSource) Stat() (fs.FileInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.stats
	s.stats++
	if i < len(s.statErrs) && s.statErrs[i] != nil {
		return nil, s.statErrs[i]
	}
	info := fakeInfo{size: s.Size(), mod: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)}
	if s.changed && i > 0 {
		info.size += evtx.ChunkSize
		info.mod = info.mod.Add(time.Second)
	}
	return info, nil
}

func (s *fakeSource) Close() error {
	s.mu.Lock()
	s.closes++
	s.mu.Unlock()
	return nil
}

type fakeInfo struct {
	size int64
	mod  time.Time
}

func (i fakeInfo) Name() string       { return "fake.evtx" }
func (i fakeInfo) Size() int64        { return i.size }
func (i fakeInfo) Mode() fs.FileMode  { return 0o444 }
func (i fakeInfo) ModTime() time.Time { return i.mod }
func (i fakeInfo) IsDir() bool        { return false }
func (i fakeInfo) Sys() any           { return nil }

var errDevice = errors.New("input/output error")

// generatedLog is a generated Security log of several chunk slots, every one
// holding records.
func generatedLog(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../testdata/evidence/WKS01/C/Windows/System32/winevt/Logs/Security.evtx")
	if err != nil {
		t.Fatal(err)
	}
	if evtx.ChunkSlots(int64(len(b))) < 8 { // the tests cut and fail it chunk by chunk
		t.Fatalf("%d chunk slots", evtx.ChunkSlots(int64(len(b))))
	}
	return b
}

// scanSources scans the sources by name, in order, and returns their stats,
// the events emitted and Scan's error.
func scanSources(t *testing.T, ctx context.Context, o *fakeOpener, names ...string) ([]*FileStats, []ProcessEvent, error) {
	t.Helper()
	var events []ProcessEvent
	stats, err := NewScanner(Options{Workers: 2, Opener: o}).Scan(ctx, names, func(ev *ProcessEvent) error {
		events = append(events, *ev)
		return nil
	})
	for name, s := range o.sources {
		opened := false
		for _, n := range o.opened {
			opened = opened || n == name
		}
		if s.closes != 0 && !opened || opened && s.closes != 1 {
			t.Errorf("%s: opened %v, closed %d times", name, opened, s.closes)
		}
	}
	return stats, events, err
}

// kinds lists a file's errors as kind@offset.
func kinds(s *FileStats) string {
	var out []string
	for _, e := range s.Errors {
		out = append(out, fmt.Sprintf("%s@0x%x", e.Kind, e.Offset))
	}
	return strings.Join(out, " ")
}

// TestScanSourceFailures: what goes wrong reading a source is an error of
// the file with its place and cause, the slots it cost are counted unread,
// no SHA-256 stands for bytes not read, and the scan goes on.
func TestScanSourceFailures(t *testing.T) {
	log := generatedLog(t)
	slots := evtx.ChunkSlots(int64(len(log)))
	chunk := func(i int) int64 { return evtx.FileHeaderSize + int64(i)*evtx.ChunkSize }
	whole, _, err := scanSources(t, context.Background(), &fakeOpener{sources: map[string]*fakeSource{"log": {data: log}}}, "log")
	if err != nil || !whole[0].Clean() || whole[0].SHA256 == "" || whole[0].Chunks.Decoded != slots {
		t.Fatalf("read whole: %v, %+v", err, whole[0])
	}
	cases := []struct {
		name    string
		src     *fakeSource
		errors  string // kind@offset, in order
		cause   error  // the first error's
		reason  string // the first error's, a part of it
		omitted string // why no SHA-256
		counts  ChunkCounts
	}{
		{"open fails", nil, "file@0x0", fs.ErrNotExist, "file does not exist", "the file could not be opened", ChunkCounts{}},
		{"stat fails at open", &fakeSource{data: log, statErrs: []error{errDevice}}, "file@0x0", errDevice, "input/output error",
			"the file could not be opened", ChunkCounts{}},
		{"header unreadable", &fakeSource{data: log, failAt: map[int64]error{0: errDevice}}, "file@0x0", errDevice, "input/output error",
			"the file header could not be read", ChunkCounts{Slots: slots, Unread: slots}},
		{"chunk unreadable", &fakeSource{data: log, failAt: map[int64]error{chunk(3): errDevice}}, "file@0x31000", errDevice,
			"reading chunk 3: input/output error", "some chunk slots could not be read", ChunkCounts{Slots: slots, Decoded: slots - 1, Unread: 1}},
		{"short read without an error", &fakeSource{data: log, shortAt: map[int64]int{chunk(3): 1000}}, "file@0x31000", nil,
			"reading chunk 3: 1000 of 65536 bytes, and no error said why", "some chunk slots could not be read", ChunkCounts{Slots: slots, Decoded: slots - 1, Unread: 1}},
		{"shrank", &fakeSource{data: log, endAt: chunk(5) + 100}, "truncated@0x51000 file-changed@0x51064", nil,
			"chunk slot holds 100 of 65536 bytes", "the file shrank while read", ChunkCounts{Slots: slots, Decoded: 5, Truncated: 1, Failed: 1, Unread: slots - 6}},
		{"changed", &fakeSource{data: log, changed: true}, "file-changed@0x0", nil, "the file changed while read: " + fmt.Sprint(len(log)) + " bytes modified",
			"the file changed while read", ChunkCounts{Slots: slots, Decoded: slots}},
		{"stat fails after reading", &fakeSource{data: log, statErrs: []error{nil, errDevice}}, "file@0x0", errDevice, "input/output error",
			"the file could not be checked after reading", ChunkCounts{Slots: slots, Decoded: slots}},
		{"not EVTX, the rest unreadable", &fakeSource{size: 3 * evtx.ChunkSize, failAt: map[int64]error{evtx.FileHeaderSize: errDevice}},
			"file@0x0 file@0x1000", evtx.ErrNotEVTX, "not an EVTX file: file magic is", "the file could not be read to its end", ChunkCounts{}},
		{"not EVTX, shrank", &fakeSource{size: 3 * evtx.ChunkSize, endAt: 2 * evtx.ChunkSize}, "file@0x0 file-changed@0x20000", evtx.ErrNotEVTX,
			"not an EVTX file", "the file shrank while read", ChunkCounts{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := &fakeOpener{sources: map[string]*fakeSource{"next": {data: log}}}
			if tc.src != nil {
				o.sources["x"] = tc.src
			}
			stats, events, err := scanSources(t, context.Background(), o, "x", "next")
			if err != nil || len(stats) != 2 {
				t.Fatalf("%v, %d stats", err, len(stats))
			}
			s := stats[0]
			if got := kinds(s); got != tc.errors {
				t.Errorf("errors %s, want %s: %v", got, tc.errors, s.Errors)
			} else if e := &s.Errors[0]; tc.cause != nil && !errors.Is(e, tc.cause) || !strings.Contains(e.Reason, tc.reason) {
				t.Errorf("first error %v (cause %v), want %q caused by %v", e, e.Err, tc.reason, tc.cause)
			}
			if s.SHA256 != "" || s.SHA256Omitted != tc.omitted {
				t.Errorf("SHA-256 %q, omitted %q; want none: %q", s.SHA256, s.SHA256Omitted, tc.omitted)
			}
			if s.Chunks != tc.counts {
				t.Errorf("chunks %+v\nwant   %+v", s.Chunks, tc.counts)
			}
			for _, ev := range events {
				if ev.File == "x" && (ev.Chunk >= slots || s.Chunks.Decoded == 0) {
					t.Errorf("an event of a chunk not read: %+v", ev)
				}
			}
			// The next file is read whole.
			if n := stats[1]; !n.Clean() || n.SHA256 != whole[0].SHA256 || n.Records != whole[0].Records {
				t.Errorf("the next file: %+v", n)
			}
		})
	}
}

// TestScanStops: cancelling a scan, or an error from emit, stops it within
// the read under way: no read of the source begins after it (bug 2: the
// rest of a file that is not EVTX was hashed to its end first), the file
// being read is in the stats with what was read and where the scan
// stopped, and the files after it are not listed (the reader, ahead, may
// have opened the next one: it is closed).
func TestScanStops(t *testing.T) {
	log := generatedLog(t)
	slots := evtx.ChunkSlots(int64(len(log)))
	chunk := func(i int) int64 { return evtx.FileHeaderSize + int64(i)*evtx.ChunkSize }
	const big = 256 << 20 // not EVTX: read to its end for its SHA-256 alone
	const emitting = -1   // stopAt: the scan stops as the 100th event is emitted
	cases := []struct {
		name   string
		src    *fakeSource
		stopAt int64 // the scan is cancelled as this offset is read
		emit   bool  // stopped by an error from emit, not by a cancel
		slots  int   // the file's chunk slots
	}{
		{"cancel while reading", &fakeSource{data: log}, chunk(5), false, slots},
		{"cancel while emitting", &fakeSource{data: log}, emitting, false, slots},
		{"cancel hashing a file that is not EVTX", &fakeSource{size: big}, 1 << 20, false, 0},
		{"cancel reading a slow source", &fakeSource{size: big, delay: time.Millisecond}, 1 << 20, false, 0},
		{"emit fails", &fakeSource{data: log}, emitting, true, slots},
	}
	errEnough := errors.New("enough")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			src := tc.src
			if tc.stopAt != emitting {
				var once sync.Once
				src.onRead = func(off int64) {
					if off >= tc.stopAt {
						once.Do(func() { cancel(); src.stop() })
					}
				}
			}
			o := &fakeOpener{sources: map[string]*fakeSource{"x": src, "next": {data: log}}}
			var events []ProcessEvent
			stats, err := NewScanner(Options{Workers: 2, Opener: o}).Scan(ctx, []string{"x", "next"}, func(ev *ProcessEvent) error {
				if tc.stopAt == emitting && len(events) == 100 {
					src.stop()
					if tc.emit {
						return errEnough
					}
					cancel()
				}
				events = append(events, *ev)
				return nil
			})
			want := context.Canceled
			if tc.emit {
				want = errEnough
			}
			if !errors.Is(err, want) {
				t.Fatalf("Scan: %v, want %v", err, want)
			}
			if src.readsAfter > 1 {
				t.Errorf("%d reads began after the stop, %d bytes read", src.readsAfter, src.read)
			}
			for _, name := range o.opened {
				if n := o.sources[name].closes; n != 1 {
					t.Errorf("%s closed %d times", name, n)
				}
			}
			if len(stats) != 1 {
				t.Fatalf("%d stats, want the file stopped in", len(stats))
			}
			s := stats[0]
			stop := s.Errors[len(s.Errors)-1]
			if stop.Kind != KindStopped || !errors.Is(&stop, want) || s.SHA256 != "" || s.SHA256Omitted != "the scan stopped before the file was read whole" {
				t.Fatalf("errors %v, SHA-256 %q omitted %q", s.Errors, s.SHA256, s.SHA256Omitted)
			}
			if tc.slots == 0 {
				if s.Chunks != (ChunkCounts{}) || s.Header != nil || stop.Offset != 0 {
					t.Errorf("chunks %+v, header %v, stopped at 0x%x", s.Chunks, s.Header, stop.Offset)
				}
				return
			}
			// The chunks merged are those whose events were emitted (some
			// of them, for the last when emit failed); the rest are
			// unread, from where the scan says it stopped.
			read := s.Chunks.Decoded
			if s.Chunks.Slots != tc.slots || read >= tc.slots || tc.stopAt == emitting && read == 0 || s.Chunks.Unread != tc.slots-read || stop.Offset != chunk(read) ||
				!strings.HasSuffix(stop.Reason, fmt.Sprintf(": %d chunk slots from chunk %d on are not read", tc.slots-read, read)) {
				t.Errorf("chunks %+v, stopped at 0x%x: %s", s.Chunks, stop.Offset, stop.Reason)
			}
			for _, ev := range events {
				if ev.Chunk >= read {
					t.Errorf("an event of chunk %d, not merged: %+v", ev.Chunk, ev)
				}
			}
			var counted uint64
			for _, n := range s.ProcessEvents {
				counted += n
			}
			if counted < uint64(len(events)) || read > 0 && len(events) == 0 {
				t.Errorf("%d process events counted, %d emitted", counted, len(events))
			}
		})
	}
}
