package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/evtxhunt/evtxhunt/internal/testevidence"
	"github.com/evtxhunt/evtxhunt/reports"
)

const hostileEvidence = "../../testdata/hostile"

// TestScanHostileEvidence scans the crafted files of testdata/hostile
// beside the generated incident, with every output format: the scan ends
// with exit 1 (evidence not all read); every hostile chunk and the wiped
// one are reported with their file and offset; every process creation of
// the other chunks is found (the cleared-first log's among them); the
// planted record is kept as a conflicting version of the genuine one; the
// findings are the incident's and the PID-reuse log's, no more, no less;
// and the case folder is complete.
func TestScanHostileEvidence(t *testing.T) {
	m := testevidence.LoadHostile(t)
	out := filepath.Join(t.TempDir(), "case")
	code, stdout, stderr := runCmd("scan", "--out", out, hostileEvidence, generatedEvidence)
	if code != exitEvidence {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, exitEvidence, stdout, stderr)
	}
	s := readSummary(t, out)
	want := manifestKeys(t)
	for _, f := range m.Files {
		for _, d := range f.Findings {
			want = append(want, d.Key())
		}
	}
	sort.Strings(want)
	if got := findingKeys(t, out); len(want) <= 19 || !slices.Equal(got, want) {
		t.Errorf("detections.jsonl:\n%s\nwant the incident's and the crafted files':\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	hostileChunks := 0
	for _, want := range m.Files {
		i := slices.IndexFunc(s.Parse.Files, func(f parsedFile) bool { return filepath.Base(f.Path) == want.File })
		if i < 0 {
			t.Errorf("%s: not in summary.json", want.File)
			continue
		}
		f := s.Parse.Files[i]
		if f.ProcessEvents["security-4688"] != want.ProcessEvents {
			t.Errorf("%s: %d process creations, want %d", want.File, f.ProcessEvents["security-4688"], want.ProcessEvents)
		}
		hostile := len(want.HostileChunks)
		hostileChunks += hostile
		if hostile == 0 {
			if f.ErrorCount != 0 {
				t.Errorf("%s: errors %+v, want none", want.File, f.Errors)
			}
			continue
		}
		if f.ErrorCount != hostile || len(f.Errors) != 1 || f.Errors[0].Repeats != hostile-1 {
			t.Errorf("%s: %d errors (%d listed: %+v); want %d, one listed", want.File, f.ErrorCount, len(f.Errors), f.Errors, hostile)
			continue
		}
		e := f.Errors[0]
		kinds := []string{"decoder-child", "record", "wiped-chunk"}
		if off := want.HostileChunks[0].Offset; e.Offset < off || e.Offset >= off+65536 || !slices.Contains(kinds, e.Kind) || filepath.Base(e.File) != want.File {
			t.Errorf("%s: error %+v, want one of %q in the chunk at 0x%x", want.File, e, kinds, off)
		}
		if last := want.HostileChunks[hostile-1].Offset; hostile > 1 && (e.LastOffset < last || e.LastOffset >= last+65536) {
			t.Errorf("%s: the last error like it at 0x%x, want in the chunk at 0x%x", want.File, e.LastOffset, last)
		}
		if line := fmt.Sprintf("%s: offset 0x%x (chunk ", want.File, e.Offset); !strings.Contains(stderr, line) {
			t.Errorf("%q not on stderr:\n%s", line, stderr)
		}
		if e.Kind == "wiped-chunk" && !strings.Contains(stderr, "wiped-chunk: chunk slot 0 is all zeros") {
			t.Errorf("the wiped chunk not on stderr:\n%s", stderr)
		}
	}
	if hostileChunks < 5 || s.Parse.Totals.Errors != hostileChunks {
		t.Errorf("%d errors in all, want the %d hostile chunks'", s.Parse.Totals.Errors, hostileChunks)
	}
	checkConflicts(t, m, s, stdout+stderr)
	checkCaseFolder(t, out, s)
	if info, err := os.Stat(filepath.Join(out, "summary.json")); err != nil || info.Size() > 64<<10 {
		t.Errorf("summary.json: %v, %d bytes", err, info.Size())
	}
}

// checkConflicts: each planted record is listed in summary.json as a
// conflict of the genuine one, with both versions, and the scan warns.
func checkConflicts(t *testing.T, m *testevidence.Hostile, s summaryFile, output string) {
	t.Helper()
	n := 0
	for _, f := range m.Files {
		for _, want := range f.Conflicts {
			n++
			i := slices.IndexFunc(s.Timeline.Conflicts, func(c conflictJSON) bool {
				return c.Host == want.Host && c.RecordID == want.RecordID && c.Time == want.Time && c.PID == want.PID
			})
			if i < 0 {
				t.Errorf("conflict %+v not in summary.json: %+v", want, s.Timeline.Conflicts)
				continue
			}
			var files []string
			for _, v := range s.Timeline.Conflicts[i].Versions {
				files = append(files, filepath.ToSlash(v.File))
			}
			planted := slices.ContainsFunc(files, func(p string) bool { return filepath.Base(p) == f.File })
			genuine := slices.ContainsFunc(files, func(p string) bool { return strings.HasSuffix(p, "/"+want.Genuine[0].File) })
			if len(files) != 2 || !planted || !genuine {
				t.Errorf("conflict of record %d: versions in %q, want %s and %s", want.RecordID, files, f.File, want.Genuine[0].File)
			}
		}
	}
	if n == 0 || s.Timeline.ConflictingRecords != n || !strings.Contains(output, fmt.Sprintf("warning: %d records conflict", n)) ||
		!strings.Contains(output, "possible tampering") {
		t.Errorf("%d conflicts in summary.json, want %d, and a warning:\n%s", s.Timeline.ConflictingRecords, n, output)
	}
}

// checkCaseFolder: every file of every format is written, whole, and
// summary.json says so; no temporary file is left behind.
func checkCaseFolder(t *testing.T, out string, s summaryFile) {
	t.Helper()
	want := []string{reports.SummaryFile, reports.DetectionsFile, reports.TimelineJSONL, reports.TimelineCSV, reports.EventsFile, reports.HTMLFile, reports.XLSXFile}
	written := slices.Sorted(slices.Values(s.CaseFiles.Written))
	slices.Sort(want)
	if !slices.Equal(written, want) || s.CaseFiles.Failed == nil || len(s.CaseFiles.Failed) != 0 {
		t.Errorf("case_files written %q, failed %v; want %q and none failed", written, s.CaseFiles.Failed, want)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || info.Size() == 0 {
			t.Errorf("%s: empty (%v)", e.Name(), err)
		}
		names = append(names, e.Name())
	}
	if !slices.Equal(names, want) {
		t.Errorf("case folder holds %q, want %q", names, want)
	}
}

// TestBenchSurvivesBaselineCrash: golang-evtx alone dies on a crafted file
// (in its child process); bench says so and still reports its own runs.
func TestBenchSurvivesBaselineCrash(t *testing.T) {
	crafted := filepath.Join(hostileEvidence, "self-referencing-template.evtx")
	wks := filepath.Join(generatedEvidence, "WKS01/C/Windows/System32/winevt/Logs/Security.evtx")
	code, stdout, stderr := runCmd("bench", "--baseline-time", "30s", crafted, wks)
	want := "evtxhunt bench: baseline failed on " + crafted + `: golang-evtx's process died (exit status 2): "fatal error: stack overflow"` + "\n"
	if code != exitClean || stderr != want {
		t.Errorf("exit %d, stderr:\n%s\nwant:\n%s", code, stderr, want)
	}
	// WKS01's Security log holds 516 process creations and 499 exits
	// (EXPECTED.json); the crafted file's one record fails.
	for _, run := range []string{"evtxhunt native, 1 worker", "evtxhunt native, 2 workers"} {
		if !regexp.MustCompile(run + `  +[0-9.]+  +[0-9.]+  +[0-9]+  +1015  `).MatchString(stdout) {
			t.Errorf("stdout lacks the run %q with 1015 process events:\n%s", run, stdout)
		}
	}
	if !strings.Contains(stdout, "golang-evtx FastEvents alone failed on 1 of 2 files: no speed-up computed\n") {
		t.Errorf("stdout:\n%s", stdout)
	}
}
