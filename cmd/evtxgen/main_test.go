package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/evtxhunt/evtxhunt/internal/testevidence"
	"github.com/evtxhunt/evtxhunt/parser"
	"github.com/evtxhunt/evtxhunt/parser/evidence"
	"github.com/evtxhunt/evtxhunt/parser/evtx"
)

const committed = "../../testdata/evidence"

// TestIncidentIsReproducible regenerates the incident and compares it byte
// for byte with what is committed: the evidence is the generator's output.
func TestIncidentIsReproducible(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := generateIncident(dir, 1); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		got, _ := os.ReadFile(path)
		want, err := os.ReadFile(filepath.Join(committed, rel))
		if err != nil {
			t.Errorf("%s: generated but not committed: %v", rel, err)
			return nil
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the committed file: run go generate ./cmd/evtxgen", rel)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Errorf("only %d files generated", n)
	}
}

// TestManifestMatchesEvidence reads the committed evidence with the parser
// and checks every count and every record the manifest names.
func TestManifestMatchesEvidence(t *testing.T) {
	m := testevidence.LoadIncident(t)
	files, errs := evidence.Find([]string{committed})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	type key struct {
		file string
		id   uint64
	}
	events := map[key]parser.ProcessEvent{}
	stats, err := parser.NewScanner(parser.Options{}).Scan(context.Background(), files, func(ev *parser.ProcessEvent) error {
		rel, _ := filepath.Rel(committed, ev.File)
		events[key{filepath.ToSlash(rel), ev.RecordID}] = *ev
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	byFile := map[string]*parser.FileStats{}
	for _, s := range stats {
		if !s.Clean() {
			t.Errorf("%s: %v", s.Path, s.Errors)
		}
		rel, _ := filepath.Rel(committed, s.Path)
		byFile[filepath.ToSlash(rel)] = s
	}
	logs := 0
	for _, h := range m.Hosts {
		for _, l := range h.Logs {
			logs++
			s := byFile[l.File]
			if s == nil {
				t.Errorf("%s: in the manifest, not found", l.File)
				continue
			}
			if s.Records.Decoded != uint64(l.Records) {
				t.Errorf("%s: %d records, manifest %d", l.File, s.Records.Decoded, l.Records)
			}
			if got := s.ProcessEvents[parser.SourceSecurity4688] + s.ProcessEvents[parser.SourceSysmon1]; got != uint64(l.ProcessEvents) {
				t.Errorf("%s: %d process events, manifest %d", l.File, got, l.ProcessEvents)
			}
			census := map[string]int{}
			for _, row := range s.Census.Rows() {
				census[strconv.Itoa(int(row.EventID))] += int(row.Records)
			}
			if len(census) != len(l.ByEventID) {
				t.Errorf("%s: census %v, manifest %v", l.File, census, l.ByEventID)
			}
			for id, n := range l.ByEventID {
				if census[id] != n {
					t.Errorf("%s: %d records of event %s, manifest %d", l.File, census[id], id, n)
				}
			}
		}
	}
	if logs != len(files) {
		t.Errorf("manifest lists %d logs, the evidence has %d", logs, len(files))
	}
	checkProc := func(what string, p testevidence.Process) []parser.ProcessEvent {
		var out []parser.ProcessEvent
		for _, r := range p.Records {
			ev, ok := events[key{r.File, r.RecordID}]
			if !ok {
				t.Errorf("%s: no process event at %s record %d", what, r.File, r.RecordID)
				continue
			}
			if ev.Image != p.Image || ev.PID != p.PID || ev.CommandLine != p.CommandLine || ev.User != p.User {
				t.Errorf("%s: record %s/%d is %s pid %d %q as %s; manifest %s pid %d %q as %s", what, r.File, r.RecordID,
					ev.Image, ev.PID, ev.CommandLine, ev.User, p.Image, p.PID, p.CommandLine, p.User)
			}
			out = append(out, ev)
		}
		if len(out) == 0 {
			t.Errorf("%s: no records", what)
		}
		return out
	}
	all := append(append(append([]testevidence.Finding(nil), m.Detections...), m.MustNotFire...), m.LateralMovement...)
	if len(m.Detections) != 19 || len(m.MustNotFire) != 4 || len(m.LateralMovement) < 7 {
		t.Errorf("%d detections, %d decoys, %d traces", len(m.Detections), len(m.MustNotFire), len(m.LateralMovement))
	}
	for _, f := range all {
		for _, child := range checkProc(f.What, f.Process) {
			if child.PPID != f.Parent.PID {
				t.Errorf("%s: ppid %d, parent pid %d", f.What, child.PPID, f.Parent.PID)
			}
			if child.Time.Format(parser.TimeLayout) < f.Time {
				t.Errorf("%s: recorded at %v, before the manifest's %s", f.What, child.Time, f.Time)
			}
		}
		checkProc(f.What+" (parent)", *f.Parent)
	}
}

func TestLargeOutputs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "Security.evtx")
	const size = 2 << 20
	if err := run(path, 7, "2MiB", 0); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() < size || info.Size() > size+2*evtx.ChunkSize {
		t.Errorf("size %d, asked for %d", info.Size(), size)
	}
	var events uint64
	stats, err := parser.NewScanner(parser.Options{}).Scan(context.Background(), []string{path}, func(*parser.ProcessEvent) error { events++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	s := stats[0]
	if !s.Clean() || s.Records.Seen < 1000 {
		t.Fatalf("stats %+v %v", s.Records, s.Errors)
	}
	if share := float64(events) / float64(s.Records.Seen); share < 0.01 || share > 0.10 {
		t.Errorf("process creations are %.1f%% of records, want a few percent", 100*share)
	}

	fleet := filepath.Join(dir, "fleet")
	if err := run(fleet, 7, "3MiB", 3); err != nil {
		t.Fatal(err)
	}
	files, _ := evidence.Find([]string{fleet})
	if len(files) != 6 {
		t.Errorf("fleet has %d logs, want 6", len(files))
	}
	if err := run(fleet, 7, "", 3); err == nil {
		t.Error("-hosts without -size accepted")
	}
	for _, bad := range []string{"0", "-1GiB", "lots"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
	if n, err := parseSize("1.5KiB"); err != nil || n != 1536 {
		t.Errorf("parseSize(1.5KiB) = %d, %v", n, err)
	}
}
