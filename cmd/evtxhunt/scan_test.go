package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/evtxhunt/evtxhunt/internal/testevidence"
)

type summaryFile struct {
	DisplayTimeZone string `json:"display_time_zone"`
	Evidence        struct {
		Files     int `json:"files"`
		Inventory []struct {
			Path   string `json:"path"`
			Size   int64  `json:"size"`
			SHA256 string `json:"sha256"`
		} `json:"inventory"`
	} `json:"evidence"`
	Parse struct {
		Totals struct {
			Errors int `json:"errors"`
		} `json:"totals"`
		Files []parsedFile `json:"files"`
	} `json:"parse"`
	Census []struct {
		Channel string `json:"channel"`
		EventID int    `json:"event_id"`
		Records int    `json:"records"`
	} `json:"census"`
	Hosts []struct {
		Name      string   `json:"name"`
		Spellings []string `json:"spellings"`
		Processes int      `json:"processes"`
	} `json:"hosts"`
	Timeline struct {
		ConflictingRecords int            `json:"conflicting_records"`
		Conflicts          []conflictJSON `json:"conflicts"`
	} `json:"timeline"`
	CaseFiles struct {
		Written []string          `json:"written"`
		Failed  []json.RawMessage `json:"failed"`
	} `json:"case_files"`
	Findings struct {
		Total      int            `json:"total"`
		BySeverity map[string]int `json:"by_severity"`
		ByRule     []struct {
			RuleID   string `json:"rule_id"`
			Findings int    `json:"findings"`
		} `json:"by_rule"`
	} `json:"findings"`
}

type parsedFile struct {
	Path          string            `json:"path"`
	ProcessEvents map[string]uint64 `json:"process_events"`
	ErrorCount    int               `json:"error_count"`
	Records       struct{ Seen uint64 }
	Errors        []struct {
		File       string `json:"file"`
		Offset     int64  `json:"offset"`
		Kind       string `json:"kind"`
		Reason     string `json:"reason"`
		Repeats    int    `json:"repeats"`
		LastOffset int64  `json:"last_offset"`
	} `json:"errors"`
	ErrorsOmitted int `json:"errors_omitted"`
}

type conflictJSON struct {
	Host     string `json:"host"`
	RecordID uint64 `json:"record_id"`
	Time     string `json:"time"`
	PID      uint32 `json:"pid"`
	Versions []struct {
		File string `json:"file"`
	} `json:"versions"`
}

func readSummary(t *testing.T, dir string) summaryFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s summaryFile
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// findingKeys reads detections.jsonl as "rule host image pid" per hit.
func findingKeys(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "detections.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var keys []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var d struct {
			RuleID   string   `json:"rule_id"`
			Host     string   `json:"host"`
			Severity string   `json:"severity"`
			Attack   []string `json:"attack"`
			Hits     []struct {
				Process struct {
					Image string `json:"image"`
					PID   uint32 `json:"pid"`
				} `json:"process"`
				Chain []struct{ Image string } `json:"chain"`
			} `json:"hits"`
			Evidence []struct {
				File     string `json:"file"`
				RecordID uint64 `json:"record_id"`
			} `json:"evidence"`
		}
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatal(err)
		}
		if d.Severity == "" || d.Attack == nil || len(d.Evidence) == 0 {
			t.Errorf("finding without metadata or evidence: %s", sc.Text()[:200])
		}
		for _, h := range d.Hits {
			if len(h.Chain) < 2 || h.Chain[len(h.Chain)-1].Image != h.Process.Image {
				t.Errorf("%s: chain %v", d.RuleID, h.Chain)
			}
			keys = append(keys, testevidence.HitKey(d.RuleID, d.Host, h.Process.Image, h.Process.PID))
		}
	}
	sort.Strings(keys)
	return keys
}

// manifestKeys lists the incident's findings as findingKeys does.
func manifestKeys(t *testing.T) []string {
	var keys []string
	for _, d := range testevidence.LoadIncident(t).Detections {
		keys = append(keys, d.Key())
	}
	sort.Strings(keys)
	return keys
}

func TestScanGeneratedIncident(t *testing.T) {
	out := filepath.Join(t.TempDir(), "case")
	code, stdout, stderr := runCmd("scan", "--out", out, "--tz", "Europe/Paris", generatedEvidence)
	if code != exitClean {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "findings: 19 (critical 1, high 13, medium 5, low 0, informational 0); times in Europe/Paris") {
		t.Errorf("stdout:\n%s", stdout)
	}
	s := readSummary(t, out)
	if s.Evidence.Files != 11 || len(s.Hosts) != 4 || s.Findings.Total != 19 || s.DisplayTimeZone != "Europe/Paris" || s.Parse.Totals.Errors != 0 {
		t.Errorf("summary: %+v", s)
	}
	for _, inv := range s.Evidence.Inventory {
		b, err := os.ReadFile(inv.Path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if inv.SHA256 != hex.EncodeToString(sum[:]) || inv.Size != int64(len(b)) {
			t.Errorf("%s: inventory %s/%d", inv.Path, inv.SHA256, inv.Size)
		}
	}
	census := map[string]int{}
	for _, c := range s.Census {
		census[fmt.Sprintf("%s/%d", c.Channel, c.EventID)] += c.Records
	}
	// WKS01's VSS copy holds 681 more Security records, 230 of them 4688.
	if census["Security/4688"] != 516+533+387+230 || census["Microsoft-Windows-Sysmon/Operational/1"] != 516+509+533 {
		t.Errorf("census %v", census)
	}
	if got, want := findingKeys(t, out), manifestKeys(t); !slices.Equal(got, want) {
		t.Errorf("detections.jsonl:\n%s\nmanifest:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	csv, err := os.ReadFile(filepath.Join(out, "timeline.csv"))
	if err != nil || !strings.Contains(string(csv), "2024-03-14T12:09:50.000000+01:00") {
		t.Errorf("timeline.csv not in the display zone: %v", err)
	}
	for _, f := range []string{"timeline.jsonl", "events.jsonl"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}

	// The same folder again: refused, then forced.
	if code, _, stderr := runCmd("scan", "--out", out, "--quiet", generatedEvidence); code != exitUsage || !strings.Contains(stderr, "not empty") {
		t.Errorf("non-empty case folder: exit %d %s", code, stderr)
	}
	if code, _, _ := runCmd("scan", "--out", out, "--force", "--fail-on", "critical", generatedEvidence); code != exitFindings {
		t.Errorf("--fail-on critical: exit %d", code)
	}
	if code, stdout, _ := runCmd("scan", "--out", out, "--force", "--min-severity", "critical", "--fail-on", "high", "--format", "jsonl", generatedEvidence); code != exitFindings ||
		!strings.Contains(stdout, "findings: 1 (critical 1, high 0") {
		t.Errorf("--min-severity critical: exit %d %s", code, stdout)
	}
	for _, args := range [][]string{
		{"scan", "--out", filepath.Join(generatedEvidence, "case"), generatedEvidence},
		{"scan", "--out", out, "--force", "--format", "pdf", generatedEvidence},
		{"scan", "--out", out, "--force", "--tz", "Mars/Olympus", generatedEvidence},
		{"scan", "--out", out, "--force", "--fail-on", "dire", generatedEvidence},
		{"scan", "--out", out},
	} {
		if code, _, stderr := runCmd(args...); code != exitUsage {
			t.Errorf("%q: exit %d %s", args, code, stderr)
		}
	}
}

// TestMergeEqualsOneScan scans each host of the incident into its own case
// folder, merges them, and compares with one scan of everything.
func TestMergeEqualsOneScan(t *testing.T) {
	root := t.TempDir()
	whole := filepath.Join(root, "whole")
	if code, _, stderr := runCmd("scan", "--out", whole, "--quiet", generatedEvidence); code != exitClean {
		t.Fatalf("scan: %d %s", code, stderr)
	}
	var cases []string
	for _, h := range []string{"LEGACY01", "SRV01", "SRV02", "WKS01"} {
		dir := filepath.Join(root, h)
		if code, _, stderr := runCmd("scan", "--format", "jsonl", "--out", dir, "--quiet", filepath.Join(generatedEvidence, h)); code != exitClean {
			t.Fatalf("scan %s: %d %s", h, code, stderr)
		}
		cases = append(cases, dir)
	}
	merged := filepath.Join(root, "merged")
	code, stdout, stderr := runCmd(append([]string{"merge", "--out", merged}, cases...)...)
	if code != exitClean || !strings.Contains(stdout, "findings: 19") {
		t.Fatalf("merge: %d\n%s\n%s", code, stdout, stderr)
	}
	for _, f := range []string{"detections.jsonl", "timeline.jsonl", "timeline.csv"} {
		a, _ := os.ReadFile(filepath.Join(whole, f))
		b, _ := os.ReadFile(filepath.Join(merged, f))
		if len(a) == 0 || string(a) != string(b) {
			t.Errorf("%s differs between one scan (%d bytes) and the merge (%d bytes)", f, len(a), len(b))
		}
	}
	if s := readSummary(t, merged); s.Evidence.Files != 11 || len(s.Hosts) != 4 {
		t.Errorf("merged summary: %d files, %d hosts", s.Evidence.Files, len(s.Hosts))
	}
	if code, _, _ := runCmd("merge", "--out", filepath.Join(root, "m2"), root); code != exitUsage {
		t.Errorf("merging a folder that is not a case: exit %d", code)
	}
}

// TestScanSharedCorpus runs the scan over every shared sample, the broken
// ones included.
func TestScanSharedCorpus(t *testing.T) {
	const shared = "../../../shared/evtx"
	if _, err := os.Stat(shared); err != nil {
		t.Skipf("SKIP: the shared evidence corpus is absent: %v", err)
	}
	out := filepath.Join(t.TempDir(), "case")
	code, _, stderr := runCmd("scan", "--out", out, "--quiet", "--format", "jsonl", shared)
	if code != exitEvidence {
		t.Fatalf("exit %d, want 1 (damaged evidence)\n%s", code, stderr)
	}
	s := readSummary(t, out)
	if s.Evidence.Files != 300 || s.Parse.Totals.Errors == 0 {
		t.Fatalf("%d files, %d errors", s.Evidence.Files, s.Parse.Totals.Errors)
	}
	oracle := readOracleCounts(t, shared+"/../oracle/process_counts.tsv")
	listed := 0
	for _, f := range s.Parse.Files {
		rel := strings.TrimPrefix(f.Path, shared+"/")
		o, ok := oracle[rel]
		if !ok {
			t.Errorf("%s: not in the oracle", f.Path)
			continue
		}
		if f.ProcessEvents["security-4688"] != o[0] || f.ProcessEvents["sysmon-1"] != o[1] {
			t.Errorf("%s: %v, oracle 4688 %d sysmon-1 %d", rel, f.ProcessEvents, o[0], o[1])
		}
		// An error that repeats another but for its numbers is counted on it.
		fileListed := 0
		for _, e := range f.Errors {
			if e.File != f.Path || e.Reason == "" || e.Kind == "" {
				t.Errorf("%s: error without context %+v", rel, e)
			}
			fileListed += 1 + e.Repeats
		}
		if fileListed+f.ErrorsOmitted != f.ErrorCount {
			t.Errorf("%s: %d errors listed or repeated of %d", rel, fileListed, f.ErrorCount)
		}
		listed += fileListed
	}
	if listed != s.Parse.Totals.Errors {
		t.Errorf("%d errors listed or repeated, %d counted", listed, s.Parse.Totals.Errors)
	}
	t.Logf("%d errors listed or repeated", listed)
}

func readOracleCounts(t *testing.T, path string) map[string][2]uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][2]uint64{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
		col := strings.Split(line, "\t")
		var a, c uint64
		fmt.Sscan(col[3], &a)
		fmt.Sscan(col[4], &c)
		out[strings.TrimPrefix(col[0], "evtx/")] = [2]uint64{a, c}
	}
	return out
}
