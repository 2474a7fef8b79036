package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestScanIncompleteCaseFolder: files of the case folder that cannot be
// written (here report.html and events.jsonl, whose names are taken by
// folders) do not stop the others; summary.json is written, complete, and
// says which files failed; the exit status is 4 and stderr names them.
func TestScanIncompleteCaseFolder(t *testing.T) {
	out := filepath.Join(t.TempDir(), "case")
	for _, name := range []string{"report.html", "events.jsonl"} {
		if err := os.MkdirAll(filepath.Join(out, name, "taken"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr := runCmd("scan", "--quiet", "--force", "--out", out, "--fail-on", "high", filepath.Join(generatedEvidence, "SRV02"))
	if code != exitIncomplete {
		t.Fatalf("exit %d, want 4\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "case folder "+out+" is incomplete: events.jsonl (") || !strings.Contains(stderr, "report.html (") ||
		!strings.Contains(stdout, "findings: ") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Findings struct {
			Total int `json:"total"`
		} `json:"findings"`
		CaseFiles struct {
			Written []string `json:"written"`
			Failed  []struct {
				Name, Error string
			} `json:"failed"`
		} `json:"case_files"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, f := range s.CaseFiles.Failed {
		failed = append(failed, f.Name)
		if f.Error == "" {
			t.Errorf("%s failed without a reason", f.Name)
		}
	}
	if s.Findings.Total == 0 || !slices.Equal(failed, []string{"events.jsonl", "report.html"}) ||
		!slices.Equal(s.CaseFiles.Written, []string{"report.xlsx", "detections.jsonl", "timeline.jsonl", "timeline.csv", "summary.json"}) {
		t.Errorf("summary: %+v", s)
	}
	for _, name := range s.CaseFiles.Written {
		if info, err := os.Stat(filepath.Join(out, name)); err != nil || info.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}
