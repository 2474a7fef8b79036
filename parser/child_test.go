package parser

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

// TestMain serves as golang-evtx's child process when a Scanner of these
// tests starts this binary as one, or as a misbehaving child when a test
// asks for one.
func TestMain(m *testing.M) {
	for _, arg := range os.Args[1:] {
		if mode, ok := strings.CutPrefix(arg, fakeChildArg); ok {
			os.Exit(fakeChild(mode))
		}
	}
	RunTests(m)
}

const fakeChildArg = "-fake-child="

// fakeChild reads one request and then misbehaves as mode says. "die-once:
// PATH" dies the first time, when PATH does not exist yet, and serves
// properly afterwards.
func fakeChild(mode string) int {
	c := chunk{Chunk: &evtx.Chunk{}}
	if _, err := readRequest(os.Stdin, nil, &c); err != nil {
		return 1
	}
	reply := func(rep childReply) {
		var b bytes.Buffer
		b.Write([]byte{0, 0, 0, 0})
		gob.NewEncoder(&b).Encode(&rep)
		binary.LittleEndian.PutUint32(b.Bytes(), uint32(b.Len()-4))
		os.Stdout.Write(b.Bytes())
	}
	records := uint64(len(c.Records))
	switch mode, arg, _ := strings.Cut(mode, ":"); mode {
	case "kill":
		p, _ := os.FindProcess(os.Getpid())
		p.Kill()
	case "exit":
		fmt.Fprintln(os.Stderr, "panic: the library gave up\n\ngoroutine 1 [running]:")
		return 7
	case "hang":
		time.Sleep(time.Hour)
	case "oversized":
		os.Stdout.Write([]byte{0xff, 0xff, 0xff, 0xff})
	case "not-gob":
		os.Stdout.Write([]byte{8, 0, 0, 0, 'g', 'a', 'r', 'b', 'a', 'g', 'e', '!'})
	case "stray-print":
		os.Stdout.WriteString("hello from the library\n")
	case "more-records":
		reply(childReply{Records: RecordCounts{Decoded: records + 5}})
	case "census":
		reply(childReply{Records: RecordCounts{Decoded: records}, ChunkDecoded: true, Census: []CensusRow{{CensusKey{"Security", "x", 4688}, 1}}})
	case "event-elsewhere":
		reply(childReply{Records: RecordCounts{Decoded: records}, ChunkDecoded: true, Census: []CensusRow{{CensusKey{"Security", "x", 4688}, records}},
			Events: []ProcessEvent{{Source: SourceSecurity4688, Offset: c.Offset - 100, RecordNumber: c.Records[0].ID}}})
	case "error-kind":
		reply(childReply{Records: RecordCounts{Failed: records}, Errors: []DecodeError{{Kind: KindFile, Offset: c.Offset}}})
	case "die-once":
		if _, err := os.Stat(arg); err != nil {
			os.WriteFile(arg, nil, 0o644)
			return 3
		}
		// Serve this request, then the others.
		var req []byte
		req = appendRequest(req, &c)
		return serveAndExit(io.MultiReader(bytes.NewReader(req), os.Stdin))
	}
	time.Sleep(time.Hour) // until the parent gives up
	return 0
}

func serveAndExit(in io.Reader) int {
	if err := serveChunks(in, os.Stdout); err != nil {
		return 1
	}
	return 0
}

// scanWithChild scans a generated log with golang-evtx in the given child,
// one worker, and returns its stats and events.
func scanWithChild(t *testing.T, log string, iso Isolation) (*FileStats, []ProcessEvent) {
	t.Helper()
	path := "../testdata/evidence/" + log + "/C/Windows/System32/winevt/Logs/Security.evtx"
	var events []ProcessEvent
	stats, err := NewScanner(Options{Decoder: DecoderGolangEvtx, Workers: 1, Isolation: iso}).Scan(context.Background(), []string{path},
		func(ev *ProcessEvent) error { events = append(events, *ev); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return stats[0], events
}

// TestChildFailuresAreChunkErrors runs the scanner against children that
// die, hang, or answer garbage or lies: each chunk becomes one error saying
// why (listed once, as the numbers apart they are the same), the next chunk
// gets a new child, and the scan ends normally.
func TestChildFailuresAreChunkErrors(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		mode, why string // why, numbers apart
	}{
		{"kill", "golang-evtx's process died (signal: killed)"},
		{"exit", `golang-evtx's process died (exit status 7): "panic: the library gave up"`},
		{"hang", "golang-evtx's process exceeded 300ms on this chunk and was killed"},
		{"oversized", "golang-evtx's process answered garbage: a reply of 4294967295 bytes, over the limit of 16777216"},
		{"not-gob", "golang-evtx's process answered garbage: a reply of 8 bytes that does not decode"},
		{"stray-print", "golang-evtx's process answered garbage: a reply of 1819043176 bytes, over the limit"},
		{"more-records", "golang-evtx's process answered garbage: 15 records decoded and 0 failed of 10"},
		{"census", "golang-evtx's process answered garbage: a census of 1 records for 10 decoded"},
		{"event-elsewhere", "golang-evtx's process answered garbage: event 0 at offset 0xf9c, record number 1, is no record of the chunk in order"},
		{"error-kind", `golang-evtx's process answered garbage: an error of kind "file"`},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			iso := Isolation{Command: []string{self, fakeChildArg + tc.mode}}
			if tc.mode == "hang" {
				iso.ChunkTimeout = 300 * time.Millisecond
			}
			s, events := scanWithChild(t, "SRV01", iso)
			if s.Chunks.Slots < 2 || s.Chunks.Failed != s.Chunks.Slots || s.Records.Failed != s.Records.Seen || len(events) != 0 {
				t.Fatalf("chunks %+v, records %+v, %d events", s.Chunks, s.Records, len(events))
			}
			if len(s.Errors) != 1 || s.ErrorCount != s.Chunks.Slots {
				t.Fatalf("%d errors listed, %d counted, for %d chunks: %v", len(s.Errors), s.ErrorCount, s.Chunks.Slots, s.Errors)
			}
			e := s.Errors[0]
			got, want := shapeOf(&e), shapeOf(&DecodeError{Kind: KindChild, Reason: tc.why})
			if got.kind != want.kind || !strings.HasPrefix(got.reason, want.reason) || e.Chunk != 0 || e.Offset != evtx.FileHeaderSize || e.Repeats != s.Chunks.Slots-1 {
				t.Errorf("error %+v\nwant %s at chunk 0 repeated on every chunk: %q", e, KindChild, tc.why)
			}
		})
	}
}

// TestChildRestarts: after a child dies, the next chunk gets a new one.
func TestChildRestarts(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	want, wantEvents := scanWithChild(t, "WKS01", Isolation{})
	lost := 0 // process events of chunk 0
	for _, ev := range wantEvents {
		if ev.Chunk == 0 {
			lost++
		}
	}
	s, events := scanWithChild(t, "WKS01", Isolation{Command: []string{self, fakeChildArg + "die-once:" + t.TempDir() + "/died"}})
	if !want.Clean() || lost == 0 || len(events) != len(wantEvents)-lost {
		t.Errorf("%d events, want %d of %d (all but chunk 0's)", len(events), len(wantEvents)-lost, len(wantEvents))
	}
	if s.Chunks.Failed != 1 || s.Chunks.Decoded != want.Chunks.Decoded-1 || s.ErrorCount != 1 || s.Errors[0].Chunk != 0 ||
		!strings.HasPrefix(s.Errors[0].Reason, "golang-evtx's process died (exit status 3)") {
		t.Errorf("chunks %+v, errors %v; want only chunk 0 failed", s.Chunks, s.Errors)
	}
	if s.Records.Seen != want.Records.Seen || s.Records.Decoded+s.Records.Failed != s.Records.Seen || s.Records.Failed == 0 {
		t.Errorf("records %+v, want those of chunk 0 failed of %+v", s.Records, want.Records)
	}
}

// TestChildStartFailure: a child that cannot start fails each chunk alone.
func TestChildStartFailure(t *testing.T) {
	s, _ := scanWithChild(t, "SRV01", Isolation{Command: []string{"/nonexistent/evtxhunt"}})
	if s.Chunks.Failed != s.Chunks.Slots || len(s.Errors) != 1 || !strings.HasPrefix(s.Errors[0].Reason, "cannot start golang-evtx's process:") {
		t.Errorf("chunks %+v, errors %v", s.Chunks, s.Errors)
	}
}

// TestChildStartsNoChild: a decoding child never starts another, which a
// test binary without the TestMain hook would otherwise do, without end.
func TestChildStartsNoChild(t *testing.T) {
	t.Setenv(decodeChildEnv, "1")
	d := newChildDecoder(context.Background(), Isolation{Command: []string{"/bin/true"}}, nil)
	if err := d.start(); err == nil || !strings.Contains(err.Error(), "does not start another") {
		d.close()
		t.Errorf("start in a child: %v", err)
	}
}
