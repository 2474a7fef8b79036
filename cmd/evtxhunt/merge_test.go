package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

// TestMergeDamagedCases: a case whose events.jsonl has a bad line and a last
// line cut short, and a case without events.jsonl, do not stop the merge:
// every readable event is merged, each problem is reported with its file
// and line, and the exit status is 1.
func TestMergeDamagedCases(t *testing.T) {
	root := t.TempDir()
	cases := map[string]string{}
	for _, h := range []string{"LEGACY01", "SRV01", "SRV02"} {
		dir := filepath.Join(root, h)
		if code, _, stderr := runCmd("scan", "--format", "jsonl", "--out", dir, "--quiet", filepath.Join(generatedEvidence, h)); code != exitClean {
			t.Fatalf("scan %s: %d %s", h, code, stderr)
		}
		cases[h] = dir
	}
	// LEGACY01: line 3 garbled, the last line cut in the middle.
	legacy := filepath.Join(cases["LEGACY01"], "events.jsonl")
	b, err := os.ReadFile(legacy)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	lines = lines[:len(lines)-1] // the empty string after the last "\n"
	total := len(lines)
	lines[2] = `{"host": "LEGACY01", "time": ` + "\n"
	last := lines[total-1]
	lines[total-1] = last[:len(last)/2]
	if err := os.WriteFile(legacy, []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	// SRV01: events.jsonl missing.
	if err := os.Remove(filepath.Join(cases["SRV01"], "events.jsonl")); err != nil {
		t.Fatal(err)
	}
	srv02 := countLines(t, filepath.Join(cases["SRV02"], "events.jsonl"))

	merged := filepath.Join(root, "merged")
	code, stdout, stderr := runCmd("merge", "--out", merged, cases["LEGACY01"], cases["SRV01"], cases["SRV02"])
	if code != exitEvidence {
		t.Fatalf("merge: exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		legacy + ": line 3: not an event: ",
		legacy + ": line " + itoa(total) + ": last line cut short",
		filepath.Join(cases["SRV01"], "events.jsonl") + ": missing: its events are not in the merge",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if got, want := countLines(t, filepath.Join(merged, "events.jsonl")), total-2+srv02; got != want {
		t.Errorf("merged %d events, want %d (LEGACY01 %d lines less 2, SRV02 %d)", got, want, total, srv02)
	}
	s := readSummary(t, merged)
	if len(s.Hosts) != 2 || s.Evidence.Files == 0 {
		t.Errorf("merged summary: %d hosts, %d files", len(s.Hosts), s.Evidence.Files)
	}
	summary, _ := os.ReadFile(filepath.Join(merged, "summary.json"))
	if !strings.Contains(string(summary), "line skipped") {
		t.Error("summary.json does not list the skipped lines")
	}

	// Nothing readable at all is still refused.
	if code, _, _ := runCmd("merge", "--out", filepath.Join(root, "m2"), root); code != exitUsage {
		t.Errorf("merging a folder that is not a case: exit %d", code)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
