package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const hostileEvidence = "../../testdata/hostile"

// TestScanHostileEvidence scans the crafted files of testdata/hostile
// beside the generated incident: the scan ends with exit 1 (evidence not
// all read), every hostile chunk is reported once with its file and offset,
// every other process creation is found, the incident's findings are all
// there, and summary.json stays small.
func TestScanHostileEvidence(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(hostileEvidence, "EXPECTED.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Files []struct {
			File          string
			HostileChunks []struct{ Offset int64 } `json:"hostile_chunks"`
			ProcessEvents uint64                   `json:"process_events"`
		}
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "case")
	code, stdout, stderr := runCmd("scan", "--quiet", "--format", "jsonl", "--out", out, hostileEvidence, generatedEvidence)
	if code != exitEvidence {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, exitEvidence, stdout, stderr)
	}
	s := readSummary(t, out)
	if s.Findings.Total != 19 || len(s.Hosts) != 5 {
		t.Errorf("%d findings on %d hosts, want the incident's 19 and its 4 hosts with the crafted files' one", s.Findings.Total, len(s.Hosts))
	}
	for _, want := range m.Files {
		found := false
		for _, f := range s.Parse.Files {
			if filepath.Base(f.Path) != want.File {
				continue
			}
			found = true
			if f.ProcessEvents["security-4688"] != want.ProcessEvents || f.ErrorCount != len(want.HostileChunks) || len(f.Errors) != 1 {
				t.Errorf("%s: %d process events, %d errors (%d listed); want %d and %d", want.File, f.ProcessEvents["security-4688"], f.ErrorCount, len(f.Errors), want.ProcessEvents, len(want.HostileChunks))
				continue
			}
			e := f.Errors[0]
			if off := want.HostileChunks[0].Offset; e.Offset < off || e.Offset >= off+65536 || e.Kind != "decoder-child" && e.Kind != "record" {
				t.Errorf("%s: error %+v, want one in the chunk at 0x%x", want.File, e, off)
			}
			if !strings.Contains(stderr, want.File) {
				t.Errorf("%s: not on stderr:\n%s", want.File, stderr)
			}
		}
		if !found {
			t.Errorf("%s: not in summary.json", want.File)
		}
	}
	if info, err := os.Stat(filepath.Join(out, "summary.json")); err != nil || info.Size() > 64<<10 {
		t.Errorf("summary.json: %v, %d bytes", err, info.Size())
	}
}
