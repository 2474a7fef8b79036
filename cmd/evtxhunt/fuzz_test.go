package main

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evtxhunt/evtxhunt/detections"
	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/parser/evtx"
	"github.com/evtxhunt/evtxhunt/parser/evtxwrite"
	"github.com/evtxhunt/evtxhunt/reports"
	"github.com/evtxhunt/evtxhunt/timeline"
)

// sharedEvtx holds the public samples, beside the checkout.
const sharedEvtx = "../../../shared/evtx"

// fuzzSeedFiles is how many of the public samples give FuzzScanChunk a
// seed: spread over the sorted list, so that seeding stays fast.
const fuzzSeedFiles = 24

// FuzzScanChunk runs one chunk through everything evtxhunt does with
// evidence: the chunk, as the only chunk of an EVTX file with a valid file
// header (its own checksums fixed up first when fixCRC is set), is read by
// parser.Scanner with the native decoder, whose fallback runs golang-evtx in
// a child process (this test binary, through TestMain); its process events
// are built into a timeline, the builtin rules run over it, and the case's
// summary, detections and timeline are written. Nothing may crash or hang,
// the scan may not fail, and what it counts must add up.
//
//	go test -run '^$' -fuzz '^FuzzScanChunk$' -fuzztime 60s ./cmd/evtxhunt
func FuzzScanChunk(f *testing.F) {
	header := fuzzFileHeader(f)
	for _, chunk := range fuzzSeeds(f) {
		f.Add(chunk, false)
	}
	rules, err := detections.Builtin()
	if err != nil {
		f.Fatal(err)
	}
	engine := detections.NewEngine(rules)
	path := filepath.Join(f.TempDir(), "Security.evtx")
	file := make([]byte, evtx.FileHeaderSize+evtx.ChunkSize)
	f.Fuzz(func(t *testing.T, chunk []byte, fixCRC bool) {
		copy(file, header)
		clear(file[evtx.FileHeaderSize:])
		copy(file[evtx.FileHeaderSize:], chunk)
		if fixCRC {
			if err := evtxwrite.FixChunkCRC(file, 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(path, file, 0o644); err != nil {
			t.Fatal(err)
		}
		b := timeline.NewBuilder(timeline.Options{})
		created := 0
		stats, err := parser.NewScanner(parser.Options{Workers: 1}).Scan(context.Background(), []string{path}, func(ev *parser.ProcessEvent) error {
			if ev.File != path || ev.Chunk != 0 || ev.Offset < evtx.FileHeaderSize || ev.Offset >= int64(len(file)) {
				t.Errorf("event from %s chunk %d offset 0x%x, outside the chunk", ev.File, ev.Chunk, ev.Offset)
			}
			if ev.Source == parser.SourceSecurity4688 || ev.Source == parser.SourceSysmon1 {
				created++
			}
			b.Add(ev)
			return nil
		})
		if err != nil {
			t.Fatalf("scan: %v", err)
		}
		s := stats[0]
		if s.Chunks.Slots != 1 || s.Records.Decoded+s.Records.Failed != s.Records.Seen || s.ErrorCount < len(s.Errors) {
			t.Errorf("chunks %+v, records %+v, %d errors counted and %d listed", s.Chunks, s.Records, s.ErrorCount, len(s.Errors))
		}
		for _, e := range s.Errors {
			if len(e.Reason) > 512 || e.Offset < 0 || e.Offset >= int64(len(file)) {
				t.Errorf("error at 0x%x with a reason of %d bytes: %.200s", e.Offset, len(e.Reason), e.Reason)
			}
		}
		tl := b.Build()
		if tl.Processes() > created {
			t.Errorf("%d processes from %d process creations", tl.Processes(), created)
		}
		c := &reports.Case{Version: "fuzz", Zone: time.UTC, Files: stats, Timeline: tl, Rules: rules, Findings: engine.Run(tl)}
		procs := tl.Select(timeline.Filter{})
		for _, write := range []func() error{
			func() error { return reports.WriteSummary(io.Discard, c) },
			func() error { return reports.WriteDetectionsJSONL(io.Discard, c.Findings) },
			func() error { return reports.WriteTimelineJSONL(io.Discard, procs, time.UTC) },
			func() error { return reports.WriteTimelineCSV(io.Discard, procs, time.UTC) },
		} {
			if err := write(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// fuzzFileHeader is the header block of a valid one-chunk EVTX file,
// written by evtxwrite.
func fuzzFileHeader(f *testing.F) []byte {
	f.Helper()
	var buf evtxwrite.Buffer
	w := evtxwrite.NewWriter(&buf)
	if _, err := w.Write(evtxwrite.Eventlog1102("FUZZ01", time.Date(2024, 3, 14, 9, 0, 0, 0, time.UTC), evtxwrite.Account{Domain: "CORP", Name: "admin", SID: "S-1-5-21-1-2-3-500"}, 0x7e57)); err != nil {
		f.Fatal(err)
	}
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	return buf.Bytes()[:evtx.FileHeaderSize]
}

// fuzzSeeds are real chunks: the first of a sample of the public logs, a
// middle one of the larger ones, every chunk of the crafted files and the
// first of some generated logs.
func fuzzSeeds(f *testing.F) [][]byte {
	f.Helper()
	var seeds [][]byte
	add := func(path string, slots ...int) {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		for _, i := range slots {
			if off := evtx.FileHeaderSize + i*evtx.ChunkSize; off+evtx.ChunkSize <= len(b) {
				seeds = append(seeds, b[off:off+evtx.ChunkSize])
			}
		}
	}
	var public []string
	for _, dir := range []string{"attack-samples", "parser-edge"} {
		filepath.WalkDir(filepath.Join(sharedEvtx, dir), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() && strings.HasSuffix(p, ".evtx") {
				public = append(public, p)
			}
			return nil
		})
	}
	if len(public) == 0 {
		f.Logf("SKIP seeds from %s: the public samples are absent; seeding with testdata only", sharedEvtx)
	}
	slices.Sort(public)
	for i := 0; i < len(public); i += max(1, len(public)/fuzzSeedFiles) {
		info, err := os.Stat(public[i])
		if err != nil {
			f.Fatal(err)
		}
		slots := []int{0}
		if middle := int(info.Size() / evtx.ChunkSize / 2); middle > 0 {
			slots = append(slots, middle)
		}
		add(public[i], slots...)
	}
	crafted, err := filepath.Glob(filepath.Join(hostileEvidence, "*.evtx"))
	if err != nil || len(crafted) == 0 {
		f.Fatalf("no crafted files in %s: %v", hostileEvidence, err)
	}
	for _, p := range crafted {
		info, err := os.Stat(p)
		if err != nil {
			f.Fatal(err)
		}
		slots := make([]int, (info.Size()-evtx.FileHeaderSize)/evtx.ChunkSize)
		for i := range slots {
			slots[i] = i
		}
		add(p, slots...)
	}
	for _, log := range []string{"WKS01/C/Windows/System32/winevt/Logs/Security.evtx", "WKS01/C/Windows/System32/winevt/Logs/Microsoft-Windows-Sysmon%4Operational.evtx",
		"LEGACY01/C/Windows/System32/winevt/Logs/Security.evtx"} {
		add(filepath.Join(generatedEvidence, log), 0)
	}
	return seeds
}
